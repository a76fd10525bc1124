"""`roachcert sandbox up --provider`, `sandbox status` and `sandbox env` name the provider that runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provider_choice import active_provider
from roachcert.app import run
from roachcert_sandbox import manager, providers
from roachcert_sandbox.errors import FOLDER
from roachcert_sandbox.manager import SandboxState


def test_forcing_the_real_provider_where_it_is_missing_is_one_line_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROACHCERT_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv(providers.BINARY_ENV, raising=False)  # a brought binary would be "installed"
    monkeypatch.chdir(tmp_path)
    assert run(["sandbox", "up", "--provider", "real"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("roachcert: the real cockroach provider is not installed: ")
    assert "Traceback" not in err
    assert not (tmp_path / ".roachcert" / FOLDER).exists()


@pytest.mark.integration
def test_status_and_env_say_which_provider_runs(sandbox: SandboxState) -> None:
    assert sandbox.provider == active_provider()
    assert Path(sandbox.provider_path).is_file()
    assert sandbox.provider_path.endswith(
        "registry.terraform.io/cockroachdb/cockroach/1.22.0/linux_amd64/terraform-provider-cockroach_v1.22.0"
    )
    shown = manager.status(Path(sandbox.root))["provider"]
    if sandbox.provider == "standin":
        assert shown == f"stand-in terraform-provider-cockroach 1.22.0 ({sandbox.provider_path})"
    else:  # a real binary is named with its sha256, and where it came from when the user brought it
        digest = providers.sha256_of(Path(sandbox.provider_path))
        assert sandbox.provider_sha256 == digest
        assert shown == (
            f"your terraform-provider-cockroach binary {sandbox.provider_source} (sha256 {digest}), "
            f"as 1.22.0 in {sandbox.provider_path}"
            if sandbox.provider_source
            else f"real terraform-provider-cockroach 1.22.0 ({sandbox.provider_path}, sha256 {digest})"
        )
    lines = manager.env_lines(sandbox)
    assert lines[0] == f"# cockroach provider: {shown}"
    assert f"export ROACHCERT_PROVIDER={sandbox.provider}" in lines
    # Still eval-able: a shell takes the comment and the exports.
    script = "\n".join(lines) + '\necho "$ROACHCERT_PROVIDER"\n'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, timeout=30)
    assert done.stdout.strip() == sandbox.provider


@pytest.mark.integration
def test_up_again_with_the_same_provider_keeps_the_servers(sandbox: SandboxState) -> None:
    again = manager.up([], root=Path(sandbox.root), provider=sandbox.provider)
    assert (again.vault_pid, again.emulator_pid) == (sandbox.vault_pid, sandbox.emulator_pid)
    assert again.provider_path == sandbox.provider_path
