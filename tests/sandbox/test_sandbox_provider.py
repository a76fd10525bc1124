"""`roachcert sandbox up --provider`, `sandbox status` and `sandbox env` name the provider that runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provider_choice import active_provider
from roachcert.app import run
from roachcert.sandbox import manager
from roachcert.sandbox.manager import SandboxState


def test_forcing_the_real_provider_where_it_is_missing_is_one_line_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROACHCERT_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.chdir(tmp_path)
    assert run(["sandbox", "up", "--provider", "real"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("roachcert: the real cockroach provider is not installed: ")
    assert "Traceback" not in err
    assert not (tmp_path / ".roachcert" / "sandbox").exists()


@pytest.mark.integration
def test_status_and_env_say_which_provider_runs(sandbox: SandboxState) -> None:
    assert sandbox.provider == active_provider()
    assert Path(sandbox.provider_path).is_file()
    assert sandbox.provider_path.endswith(
        "registry.terraform.io/cockroachdb/cockroach/1.22.0/linux_amd64/terraform-provider-cockroach_v1.22.0"
    )
    name = "real" if sandbox.provider == "real" else "stand-in"
    shown = manager.status(Path(sandbox.root))["provider"]
    assert shown == f"{name} terraform-provider-cockroach 1.22.0 ({sandbox.provider_path})"
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
