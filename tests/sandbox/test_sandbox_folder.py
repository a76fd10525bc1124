"""Where the sandbox keeps its files: `.roachcert/.sandbox/`, a name no stack can take, so the product reserves
none for it; `sandbox down` still stops a sandbox an older release started in `.roachcert/sandbox/`."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from roachcert.app import run
from roachcert.names import is_name
from roachcert_sandbox import manager
from roachcert_sandbox.errors import FOLDER, OLD_FOLDER, sandbox_dir


def test_the_sandbox_folder_is_beside_the_stacks_under_a_name_no_stack_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert sandbox_dir() == tmp_path / ".roachcert" / FOLDER
    assert not is_name(FOLDER)
    monkeypatch.setenv("ROACHCERT_HOME", str(tmp_path / "home"))
    assert sandbox_dir() == tmp_path / "home" / FOLDER


def test_down_stops_a_sandbox_an_older_release_started_and_leaves_a_stack_named_sandbox_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    old = tmp_path / ".roachcert" / OLD_FOLDER
    old.mkdir(parents=True)
    (old / "main.tf").write_text("# a stack named sandbox\n")
    assert run(["sandbox", "down"]) == 0
    assert capsys.readouterr().out == "no sandbox running\n"
    assert (old / "main.tf").is_file()
    servers = [subprocess.Popen(["sleep", "60"], start_new_session=True) for _ in range(2)]
    try:
        state = manager.SandboxState(
            root=str(old.resolve()),
            vault_addr="http://127.0.0.1:1",
            vault_pid=servers[0].pid,
            emulator_url="http://127.0.0.1:1",
            emulator_pid=servers[1].pid,
            cli_config="",
            engine="",
            python="",
        )
        (old / manager.STATE).write_text(json.dumps(asdict(state)))
        assert run(["sandbox", "down"]) == 0
        assert capsys.readouterr().out == "sandbox stopped\n"
        for server in servers:
            server.wait(timeout=10)  # stopped, not left running with nothing to find it again
        assert not (old / manager.STATE).exists()
    finally:
        for server in servers:
            server.kill()
