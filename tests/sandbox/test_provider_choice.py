"""Choosing and placing the cockroach provider: the real one (from its cache) or the stand-in.

The "real provider" in these tests is NOT the real provider: it is a small executable file put in a temp
cache, enough to test where the binary is found, vouched for, and placed. `scripts/ensure-provider.sh` is
run for real, with a `go` that is a shell script answering like `go install` / `go version -m` do: the Go
module proxy is not reachable from tests (and today refuses the module).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from roachcert_sandbox import providers
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.mirror import package_hash_v1

MODULE = "github.com/cockroachdb/terraform-provider-cockroach"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-provider.sh"
REGISTRY_PATH = (
    "registry.terraform.io/cockroachdb/cockroach/1.22.0/linux_amd64/terraform-provider-cockroach_v1.22.0"
)


def _cached_binary(cache: Path, body: bytes = b"#!/bin/sh\necho not-the-real-provider\n") -> Path:
    folder = cache / "provider" / "1.22.0"
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "terraform-provider-cockroach"
    binary.write_bytes(body)
    binary.chmod(0o755)
    (folder / "verified.sha256").write_text(hashlib.sha256(body).hexdigest() + "\n")
    return binary


def test_the_cache_folder_follows_roachcert_cache_then_xdg_then_home(tmp_path: Path) -> None:
    assert providers.cache_dir({"ROACHCERT_CACHE": str(tmp_path)}) == tmp_path / "provider" / "1.22.0"
    assert providers.cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/roachcert/provider/1.22.0")
    assert providers.cache_dir({"HOME": "/h"}) == Path("/h/.cache/roachcert/provider/1.22.0")


def test_default_is_the_real_provider_when_cached_else_the_standin(tmp_path: Path) -> None:
    env = {"ROACHCERT_CACHE": str(tmp_path)}
    assert providers.resolve(None, env) == "standin"
    _cached_binary(tmp_path)
    assert providers.resolve(None, env) == "real"
    assert providers.resolve("standin", env) == "standin"


def test_a_binary_that_no_longer_matches_its_stamp_is_not_installed(tmp_path: Path) -> None:
    binary = _cached_binary(tmp_path)
    binary.write_bytes(b"#!/bin/sh\necho changed\n")
    assert providers.real_binary({"ROACHCERT_CACHE": str(tmp_path)}) is None


def test_forcing_real_without_it_names_the_reason_the_installer_left(tmp_path: Path) -> None:
    env = {"ROACHCERT_CACHE": str(tmp_path)}
    with pytest.raises(SandboxError, match=r"not installed: not in .* \(run scripts/ensure-provider.sh"):
        providers.resolve("real", env)
    folder = tmp_path / "provider" / "1.22.0"
    folder.mkdir(parents=True)
    (folder / "unavailable.txt").write_text("the Go module proxy did not serve it (403 Forbidden)\n")
    with pytest.raises(SandboxError, match=r"^the real cockroach provider is not installed: the Go module"):
        providers.resolve("real", env)
    with pytest.raises(SandboxError, match="choose real or standin"):
        providers.resolve("terraform", env)


def test_the_real_binary_is_hardlinked_at_the_registry_layout_with_a_stable_hash(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    binary = _cached_binary(cache)
    env = {"ROACHCERT_CACHE": str(cache)}
    first = providers.install("real", tmp_path / "sandbox", env)
    placed = tmp_path / "sandbox" / "mirror-real" / REGISTRY_PATH
    assert first.mirror.executable == placed
    assert placed.stat().st_ino == binary.stat().st_ino  # a hardlink: same bytes, no copy
    assert first.mirror.h1 == package_hash_v1(binary.read_bytes())
    assert first.mirror.env == {}
    assert "real terraform-provider-cockroach 1.22.0" in first.describe
    # Reinstalled (the mirror replaced by a copy, say): same hash, so lock files keep matching.
    placed.unlink()
    placed.write_bytes(binary.read_bytes())
    again = providers.install("real", tmp_path / "sandbox", env)
    assert again.mirror.h1 == first.mirror.h1
    # The stand-in has its own mirror: switching never overwrites the other's bytes.
    standin = providers.install("standin", tmp_path / "sandbox", env)
    assert standin.mirror.executable == tmp_path / "sandbox" / "mirror" / REGISTRY_PATH
    assert placed.read_bytes() == binary.read_bytes()


def _fake_go(tmp_path: Path, install: str) -> Path:
    """A `go` whose `install` does what `install` (shell) says and whose `version -m` reports the module."""
    go = tmp_path / "fakebin" / "go"
    go.parent.mkdir(parents=True, exist_ok=True)
    go.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then\n'
        '  grep -q not-the-real-provider "$3" || exit 1\n'
        f'  printf "%s: go1.26\\n\\tpath\\t{MODULE}\\n\\tmod\\t{MODULE}\\tv1.22.0\\th1:x=\\n" "$3"; exit 0\n'
        "fi\n"
        f"{install}\n"
    )
    go.chmod(0o755)
    return go


def _ensure(tmp_path: Path, go: Path | str, require: bool = False) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ROACHCERT_CACHE": str(tmp_path / "cache"),
        "ROACHCERT_GO": str(go),
    }
    if require:
        env["ROACHCERT_REQUIRE_REAL_PROVIDER"] = "1"
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


PROXY_403 = (
    f"echo 'go: {MODULE}@v1.22.0: reading https://proxy.golang.org/github.com/cockroachdb/"
    "terraform-provider-cockroach/@v/v1.22.0.info: 403 Forbidden' >&2; "
    "printf '\\tserver response: This module version is not available.\\n' >&2; exit 1"
)


@pytest.mark.parametrize("require", [False, True])
def test_a_refusing_proxy_is_one_line_and_not_fatal_even_in_ci(tmp_path: Path, require: bool) -> None:
    done = _ensure(tmp_path, _fake_go(tmp_path, PROXY_403), require=require)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "did not serve" in lines[0]
    assert "403 Forbidden" in lines[0]
    assert "stand-in" in lines[0]
    reason = providers.unavailable_reason({"ROACHCERT_CACHE": str(tmp_path / "cache")})
    assert reason.startswith("the Go module proxy did not serve")
    assert "403 Forbidden" in reason


@pytest.mark.parametrize("require", [False, True])
def test_a_build_that_fails_after_the_proxy_served_it_is_fatal_only_in_ci(
    tmp_path: Path, require: bool
) -> None:
    broken = "echo '# github.com/x/y' >&2; echo 'y.go:3:2: undefined: z' >&2; exit 1"
    done = _ensure(tmp_path, _fake_go(tmp_path, broken), require=require)
    assert done.returncode == (1 if require else 0), done.stderr
    assert "go install" in done.stderr
    assert "failed" in done.stderr
    assert providers.real_binary({"ROACHCERT_CACHE": str(tmp_path / "cache")}) is None


@pytest.mark.parametrize("require", [False, True])
def test_no_go_is_one_line_and_fatal_only_in_ci(tmp_path: Path, require: bool) -> None:
    done = _ensure(tmp_path, tmp_path / "no-such-go", require=require)
    assert done.returncode == (1 if require else 0)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "go not found" in done.stderr


def test_a_served_module_is_installed_once_and_reused(tmp_path: Path) -> None:
    count = tmp_path / "installs"
    install = (
        f'echo x >> "{count}"; printf "#!/bin/sh\\necho not-the-real-provider\\n" '
        '> "$GOBIN/terraform-provider-cockroach"; chmod 755 "$GOBIN/terraform-provider-cockroach"'
    )
    go = _fake_go(tmp_path, install)
    first = _ensure(tmp_path, go, require=True)
    assert first.returncode == 0, first.stderr
    assert "installed at" in first.stderr
    second = _ensure(tmp_path, go, require=True)
    assert "cached at" in second.stderr
    assert count.read_text().count("x") == 1
    env = {"ROACHCERT_CACHE": str(tmp_path / "cache")}
    assert providers.resolve(None, env) == "real"
    assert not list((tmp_path / "cache" / "provider" / "1.22.0").glob(".gobin.*"))
