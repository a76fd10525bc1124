"""Terraform's lock and stale-plan errors become one clear line (texts as Terraform 1.15 prints them)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from roachcert.app import run
from roachcert.terraform.engine import Engine
from roachcert.terraform.errors import (
    LockInfo,
    StalePlanError,
    StateLockError,
    TerraformCommandError,
    lock_message,
    parse_lock_error,
)
from roachcert.terraform.runner import Terraform

ADVICE = """
Terraform acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
"""


def locked(reason: str, lock_id: str, path: str, operation: str, who: str, created: str) -> str:
    """Terraform's text, trailing blanks after empty fields included."""
    return (
        "\nError: Error acquiring the state lock\n\n"
        f"Error message: {reason}\n"
        "Lock Info:\n"
        f"  ID:        {lock_id}\n"
        f"  Path:      {path}\n"
        f"  Operation: {operation}\n"
        f"  Who:       {who}\n"
        "  Version:   1.15.5\n"
        f"  Created:   {created}\n"
        "  Info:      \n\n" + ADVICE
    )


# The local backend (and s3, gcs, azurerm) report the holder's lock record.
LOCAL_LOCKED = locked(
    "resource temporarily unavailable",
    "97710ebc-fd36-ee18-f3b3-111c304acac4",
    "terraform.tfstate",
    "OperationTypeApply",
    "alice@ci-runner-7",
    "2026-11-26 20:32:05.038294328 +0000 UTC",
)
# The pg backend's advisory lock records nobody: the Lock Info is the *requesting* run's own.
PG_LOCKED = locked(
    "Workspace is already locked: default",
    "cf7c0290-581a-3d4d-b03a-5cdbaa5a1637",
    "",
    "OperationTypePlan",
    "bob@laptop",
    "2026-11-26 20:31:05.013633026 +0000 UTC",
)

STALE = """
Error: Saved plan is stale

The given plan file can no longer be applied because the state was changed by
another operation after the plan was created.
"""


def test_the_holders_record_is_read() -> None:
    info = parse_lock_error("Acquiring state lock. This may take a few moments...\n" + LOCAL_LOCKED)
    assert info == LockInfo(
        reason="resource temporarily unavailable",
        id="97710ebc-fd36-ee18-f3b3-111c304acac4",
        who="alice@ci-runner-7",
        operation="apply",
        created="2026-11-26 20:32:05 UTC",
    )
    assert not info.holder_unknown


def test_no_lock_error_is_none() -> None:
    assert parse_lock_error("Error: Invalid reference\n\nA reference to a resource type") is None
    assert parse_lock_error("") is None


def test_lock_message_names_holder_and_remedy() -> None:
    info = parse_lock_error(LOCAL_LOCKED)
    assert info is not None
    line = lock_message("apply", info, Path(".roachcert/prod"))
    assert "\n" not in line
    assert line.startswith("terraform apply could not lock the state: another Terraform run holds it")
    assert "lock ID 97710ebc-fd36-ee18-f3b3-111c304acac4" in line
    assert "held by alice@ci-runner-7 for apply since 2026-11-26 20:32:05 UTC" in line
    assert "Wait for that run to finish" in line
    assert "`terraform force-unlock 97710ebc-fd36-ee18-f3b3-111c304acac4` in .roachcert/prod" in line
    assert "-lock=false" not in line


def test_pg_lock_message_does_not_blame_ourselves() -> None:
    info = parse_lock_error(PG_LOCKED)
    assert info is not None
    assert info.holder_unknown
    line = lock_message("plan", info, Path(".roachcert/prod"))
    assert "\n" not in line
    assert "Workspace is already locked: default" in line
    assert "PostgreSQL does not record who" in line
    # The printed record is the requester's own: neither it nor a force-unlock of it is offered.
    assert "bob@laptop" not in line
    assert "cf7c0290" not in line
    assert "nothing to force-unlock" in line


def test_pg_creation_lock_is_recognised() -> None:
    info = parse_lock_error(
        PG_LOCKED.replace("Workspace is already locked", "Already locked for workspace creation")
    )
    assert info is not None
    assert info.holder_unknown


def test_a_lock_error_without_record() -> None:
    info = parse_lock_error(
        "Error: Error acquiring the state lock\n\nError message: ConditionalCheckFailed\n"
    )
    assert info == LockInfo(reason="ConditionalCheckFailed")
    line = lock_message("plan", info, None)
    assert "ConditionalCheckFailed" in line
    assert "force-unlock" not in line


# -- through the runner and the CLI edge, with a stand-in engine printing Terraform's text ----------------

FAKE = """\
import os, sys
if sys.argv[1] == "init":
    sys.exit(0)
sys.stdout.write(os.environ["FAKE_OUTPUT"])
sys.exit(1)
"""


@pytest.fixture
def fake_engine(tmp_path: Path) -> Engine:
    script = tmp_path / "fake-terraform"
    script.write_text(f"#!{sys.executable}\n{FAKE}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return Engine(script, "ROACHCERT_TERRAFORM")


def test_runner_raises_a_one_line_lock_error(
    fake_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / ".roachcert" / "prod"
    folder.mkdir(parents=True)
    monkeypatch.setenv("FAKE_OUTPUT", LOCAL_LOCKED)
    tf = Terraform(folder, fake_engine, os.environ)
    for call, command in ((lambda: tf.plan("p"), "plan"), (lambda: tf.apply("p"), "apply")):
        with pytest.raises(StateLockError) as caught:
            call()
        assert isinstance(caught.value, TerraformCommandError)
        assert str(caught.value).startswith(f"terraform {command} could not lock the state")
        assert f"force-unlock 97710ebc-fd36-ee18-f3b3-111c304acac4` in {folder}" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert "Lock Info" in caught.value.output  # the raw text stays available


def test_runner_raises_a_one_line_stale_plan_error(
    fake_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_OUTPUT", STALE)
    with pytest.raises(StalePlanError) as caught:
        Terraform(tmp_path, fake_engine, os.environ).apply("p")
    text = str(caught.value)
    assert "\n" not in text
    assert "saved plan is stale" in text
    assert "run `roachcert plan` again" in text


def test_cli_prints_one_line_and_exits_1(
    fake_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`roachcert plan` on a locked state: one line, exit 1, no traceback."""
    (tmp_path / "prod.yaml").write_text(
        "version: 1\ncas: {}\nclusters: {}\nterraform:\n  backend:\n    type: pg\n"
        '    config: {conn_str: "postgres://tf@127.0.0.1:5432/state?sslmode=disable"}\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROACHCERT_TERRAFORM", str(fake_engine.path))
    monkeypatch.setenv("FAKE_OUTPUT", PG_LOCKED)
    assert run(["plan", "prod.yaml"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert lines == [captured.err.strip()]
    assert lines[0].startswith("prod: terraform plan could not lock the state")
    assert "-lock=false" not in lines[0]


def test_a_local_state_path_that_is_a_folder_is_not_a_lock() -> None:
    from roachcert.terraform.errors import state_folder, state_folder_message

    said = (
        "Error refreshing state: Failed to read state file: The state file could not be read: "
        "read state-dir: is a directory\n"
    )
    as_lock = "Error acquiring the state lock\n\nError message: read state-dir: is a directory\n"
    for output in (said, as_lock):
        assert state_folder(output) == "state-dir"
    message = state_folder_message("plan", "state-dir", Path("/w"))
    assert "state-dir (in /w) is a folder, not a file" in message
    assert "lock" not in message
    assert state_folder("Error: open /x/provider.tf: is a directory") is None  # not about state
    assert state_folder("Refreshing state...\n\n\nError: open /x/p.tf: is a directory") is None
