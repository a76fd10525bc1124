"""A provider binary the user brings (ROACHCERT_PROVIDER_BINARY=PATH, `sandbox up --provider-binary PATH`).

The "user's binary" here is the stand-in's own executable copied out of its mirror: a real Terraform
plugin (it answers the handshake and serves the resource), whose bytes differ from the go-installed one.
A bogus file (no executable bit, a script that is no plugin, one that says nothing) is refused in one line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.app import run
from roachcert_sandbox import manager, providers
from roachcert_sandbox.errors import FOLDER, SandboxError
from roachcert_sandbox.mirror import PYTHON_ENV, install_provider_mirror, package_hash_v1
from roachcert_sandbox.plugin_probe import HANDSHAKE, probe_plugin

REGISTRY_PATH = (
    "registry.terraform.io/cockroachdb/cockroach/1.22.0/linux_amd64/terraform-provider-cockroach_v1.22.0"
)


@pytest.fixture
def users_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in's executable, copied where a user's own build would sit."""
    monkeypatch.setenv(PYTHON_ENV, sys.executable)
    built = install_provider_mirror(tmp_path / "standin-mirror").executable
    target = tmp_path / "my-build" / "terraform-provider-cockroach"
    target.parent.mkdir()
    shutil.copyfile(built, target)
    target.chmod(0o755)
    return target


def _script(folder: Path, name: str, body: str, mode: int = 0o755) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_plugin_answers_the_handshake(users_binary: Path) -> None:
    line = probe_plugin(users_binary)
    assert HANDSHAKE.match(line), line
    assert line.startswith("1|6|unix|")


@pytest.mark.parametrize(
    ("body", "mode", "expected"),
    [
        ("exit 0", 0o644, r"is not executable \(chmod \+x it\)$"),
        (
            "echo 'usage: foo'; exit 3",
            0o755,
            r"it exited 3 printing 'usage: foo' instead of a plugin handshake$",
        ),
        ("exit 1", 0o755, r"it exited 1 printing nothing instead of a plugin handshake$"),
        # A Go binary's usage line goes to stderr: it is what the one line quotes.
        ("echo 'usage: bar' >&2; exit 1", 0o755, r"it exited 1 printing 'usage: bar' instead of a plugin"),
        ("echo hello; sleep 60", 0o755, r"it printed 'hello' instead of a plugin handshake$"),
        ("echo '1|6|tcp|x|netrpc'; sleep 60", 0o755, r"printed '1\|6\|tcp\|x\|netrpc' instead"),
    ],
)
def test_a_file_that_is_no_plugin_is_refused_in_one_line(
    tmp_path: Path, body: str, mode: int, expected: str
) -> None:
    bogus = _script(tmp_path, "terraform-provider-cockroach", body, mode)
    with pytest.raises(SandboxError, match=expected) as caught:
        probe_plugin(bogus, timeout=10)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"the provider binary {bogus} ")


def test_a_plugin_that_logs_to_stderr_before_its_handshake_answers(tmp_path: Path) -> None:
    # The real provider (go-plugin) writes a JSON log line on stderr before the handshake on stdout.
    talkative = _script(
        tmp_path,
        "terraform-provider-cockroach",
        """echo '{"@level":"debug","@message":"plugin address","network":"unix"}' >&2
echo '1|6|unix|/tmp/plugin.sock|grpc|'
sleep 60""",
    )
    assert probe_plugin(talkative, timeout=10) == "1|6|unix|/tmp/plugin.sock|grpc|"


def test_a_silent_file_is_refused_after_the_timeout_and_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    silent = _script(tmp_path, "silent", f"echo $$ > '{pid_file}'\nexec sleep 60")
    started = time.monotonic()
    with pytest.raises(SandboxError, match=r"no handshake within 1 s$"):
        probe_plugin(silent, timeout=1)
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_variable_makes_it_the_real_provider_and_it_is_copied_into_its_own_mirror(
    users_binary: Path, tmp_path: Path
) -> None:
    env = {providers.BINARY_ENV: str(users_binary), "ROACHCERT_CACHE": str(tmp_path / "empty-cache")}
    assert providers.resolve(None, env) == "real"
    setup = providers.install("real", tmp_path / "sandbox", env)
    digest = hashlib.sha256(users_binary.read_bytes()).hexdigest()
    assert setup.source == users_binary
    assert setup.sha256 == digest
    placed = tmp_path / "sandbox" / f"mirror-bin-{digest[:16]}" / REGISTRY_PATH
    assert setup.mirror.executable == placed
    assert placed.read_bytes() == users_binary.read_bytes()
    assert placed.stat().st_ino != users_binary.stat().st_ino  # a copy: a rebuild in place cannot reach it
    assert os.access(placed, os.X_OK)
    assert setup.mirror.h1 == package_hash_v1(users_binary.read_bytes())
    assert setup.cache_name == f"plugin-cache-bin-{digest[:16]}"
    # The stand-in stays reachable by name.
    assert providers.resolve("standin", env) == "standin"


def test_a_bogus_variable_stops_sandbox_up_in_one_line_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    bogus = _script(tmp_path, "not-a-provider", "echo nope; exit 2")
    monkeypatch.setenv(providers.BINARY_ENV, str(bogus))
    assert run(["sandbox", "up"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"roachcert: the provider binary {bogus} does not answer as a Terraform plugin: it exited 2 "
        "printing 'nope' instead of a plugin handshake"
    ]
    monkeypatch.delenv(providers.BINARY_ENV)
    missing = tmp_path / "nowhere" / "terraform-provider-cockroach"
    assert run(["sandbox", "up", "--provider-binary", str(missing)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"roachcert: {providers.BINARY_ENV}: the provider binary {missing} does not exist (or is not a file)"
    )
    assert not (tmp_path / ".roachcert" / FOLDER / manager.STATE).exists()


@pytest.fixture
def own_sandbox(tmp_path: Path, users_binary: Path) -> Iterator[manager.SandboxState]:
    root = tmp_path / "own-sandbox"
    state = manager.up([], root=root, pending_seconds=0.2, provider_binary=users_binary)
    try:
        yield state
    finally:
        manager.down(root)


@pytest.mark.integration
def test_sandbox_up_with_a_provider_binary_names_it_and_roachcert_runs_on_it(
    own_sandbox: manager.SandboxState,
    users_binary: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = hashlib.sha256(users_binary.read_bytes()).hexdigest()
    status = manager.status(Path(own_sandbox.root))
    assert status["provider"] == (
        f"your terraform-provider-cockroach binary {users_binary} (sha256 {digest}), as 1.22.0 in "
        f"{own_sandbox.provider_path}"
    )
    assert own_sandbox.provider == "real"
    cli_config = Path(own_sandbox.cli_config).read_text(encoding="utf-8")
    assert f"mirror-bin-{digest[:16]}" in cli_config
    assert f"plugin-cache-bin-{digest[:16]}" in cli_config

    # roachcert on it, as a user after `eval "$(roachcert sandbox env)"`
    for name, value in manager.environment(own_sandbox).items():
        monkeypatch.setenv(name, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cluster_id = str(uuid.uuid4())
    manager.register_cluster(own_sandbox, cluster_id, "frogs")
    (work / "declared.pem").write_text(make_ca("Brought binary CA")[0], encoding="utf-8")
    (work / "st.yaml").write_text(
        "version: 1\ncas:\n  declared: {pem_file: declared.pem}\nclusters:\n"
        f"  frogs: {{id: {cluster_id}, ca: declared, host: frogs.example.crdb.io, users: [root]}}\n",
        encoding="utf-8",
    )
    assert run(["plan", "st.yaml"]) == 2
    assert run(["apply", "st.yaml"]) == 0
    assert run(["plan", "st.yaml"]) == 0
    out = capsys.readouterr().out
    assert "0 to create" in out
    lock = (work / ".roachcert" / "st" / ".terraform.lock.hcl").read_text(encoding="utf-8")
    assert package_hash_v1(users_binary.read_bytes()) in lock


def test_ensure_provider_installs_nothing_when_a_binary_is_brought(
    tmp_path: Path, users_binary: Path
) -> None:
    """`make setup` on a machine without Go (or behind a mirror): the script steps aside in one line."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "ensure-provider.sh"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ROACHCERT_CACHE": str(tmp_path / "cache"),
        "ROACHCERT_GO": str(tmp_path / "no-such-go"),
        "ROACHCERT_REQUIRE_REAL_PROVIDER": "1",
        providers.BINARY_ENV: str(users_binary),
    }
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"real provider: using {providers.BINARY_ENV}={users_binary} (nothing to install)"
    ]
    assert not (tmp_path / "cache").exists()


def test_a_probed_binary_gets_none_of_the_callers_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under Terraform the provider never sees the Vault or GitHub token; the probe of a binary the user
    # brings must not hand it more than that (nor any other credential: it only has to say hello).
    seen = tmp_path / "env.txt"
    bogus = _script(tmp_path, "terraform-provider-cockroach", f"env > '{seen}'; exit 1")
    for name, value in {
        "VAULT_TOKEN": "hvs.hush-token-123",
        "GITHUB_TOKEN": "ghp_hush_token_123",
        "AWS_SECRET_ACCESS_KEY": "hush-aws-secret-123",
        "TF_TOKEN_app_terraform_io": "hush-tfc-token-123",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SandboxError, match="instead of a plugin handshake"):
        providers.user_binary({providers.BINARY_ENV: str(bogus)})
    shown = seen.read_text()
    assert "hush" not in shown, shown
    assert "PATH=" in shown


def test_the_emulator_starts_with_its_own_key_and_none_of_the_callers_credentials(tmp_path: Path) -> None:
    from roachcert_sandbox.processes import stop_pid

    caller = {**os.environ, "VAULT_TOKEN": "hvs.hush-token-123", "GITHUB_TOKEN": "ghp_hush_token_123"}
    caller["COCKROACH_API_KEY"] = "hush-cloud-key-123"
    url, pid = manager._start_emulator(tmp_path, "its-own-key-123", 0.2, caller)
    try:
        started = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace").split("\0")
    finally:
        stop_pid(pid)
    assert url.startswith("http://127.0.0.1:")
    assert "COCKROACH_API_KEY=its-own-key-123" in started
    assert not [item for item in started if "hush" in item]
