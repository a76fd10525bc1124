"""`roachcert sandbox` keeps its servers under the state root of the run's environment (ROACHCERT_HOME), as
every other command does: a run given an environment of its own never finds, prints or stops the sandbox
of the process's."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from roachcert.app import run
from roachcert.runtime import Runtime
from roachcert_sandbox.errors import FOLDER


def _fake_state(home: Path, vault_addr: str) -> None:
    root = home / FOLDER
    root.mkdir(parents=True)
    state = {
        "root": str(root),
        "vault_addr": vault_addr,
        "vault_pid": 4194303,  # no such process
        "emulator_url": "http://127.0.0.1:9",
        "emulator_pid": 4194303,
        "cli_config": str(root / "terraformrc"),
        "engine": "/nonexistent/roachcert-terraform",
        "python": "/nonexistent/python",
    }
    (root / "state.json").write_text(json.dumps(state))


def _run(argv: list[str], home: Path) -> tuple[int, str, str]:
    runtime = Runtime(environ={"ROACHCERT_HOME": str(home)}, stdout=io.StringIO(), stderr=io.StringIO())
    code = run(argv, runtime)
    assert isinstance(runtime.stdout, io.StringIO)
    assert isinstance(runtime.stderr, io.StringIO)
    return code, runtime.stdout.getvalue(), runtime.stderr.getvalue()


def test_sandbox_env_reads_the_sandbox_of_the_runs_state_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process_home, run_home = tmp_path / "process", tmp_path / "run"
    _fake_state(process_home, "http://127.0.0.1:1111")
    monkeypatch.setenv("ROACHCERT_HOME", str(process_home))
    code, _out, err = _run(["sandbox", "env"], run_home)
    assert code == 1
    assert "no sandbox here" in err
    _fake_state(run_home, "http://127.0.0.1:2222")
    code, out, _err = _run(["sandbox", "env"], run_home)
    assert code == 0
    assert "export VAULT_ADDR=http://127.0.0.1:2222" in out
    assert not (process_home / FOLDER / "vault-token").exists()  # the process's sandbox was not touched


def test_sandbox_status_and_down_look_under_the_runs_state_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process_home, run_home = tmp_path / "process", tmp_path / "run"
    _fake_state(process_home, "http://127.0.0.1:1111")
    monkeypatch.setenv("ROACHCERT_HOME", str(process_home))
    code, out, _err = _run(["sandbox", "status"], run_home)
    assert code == 0
    assert "not started" in out
    code, out, _err = _run(["sandbox", "down"], run_home)
    assert code == 0
    assert "no sandbox running" in out
    assert (process_home / FOLDER / "state.json").exists()


def test_down_with_a_state_file_naming_pid_0_signals_no_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os.kill(0, SIGTERM) would stop every process of our group (the shell's job, this test run).
    import os

    home = tmp_path / "run"
    _fake_state(home, "http://127.0.0.1:2222")
    state = home / FOLDER / "state.json"
    state.write_text(state.read_text().replace("4194303", "0"))
    sent: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: sent.append(pid))
    code, out, _err = _run(["sandbox", "down"], home)
    assert code == 0
    assert "sandbox stopped" in out
    assert 0 not in sent
