"""Terraform-side faults: the engine missing, the state lock held by another run, and Ctrl-C during
apply. One clear message, the right exit code, no partial files, and a re-run converges."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests
from faultkit import (
    CRASH_MARKERS,
    Cli,
    SandboxStack,
    assert_no_partial_files,
    background,
    clear_requests,
    converge,
    emulator_requests,
    faults,
    finish,
    only_line,
    wait_for,
)

from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration

LOCK_INFO = ".terraform.tfstate.lock.info"


def test_a_missing_engine_is_one_line_and_the_saved_plan_survives(
    sandbox: SandboxState,
    one_cluster: SandboxStack,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path = str(one_cluster.path)
    cli.ok("plan", path, expect=2)
    real = os.environ["ROACHCERT_TERRAFORM"]
    monkeypatch.setenv("ROACHCERT_TERRAFORM", "/nonexistent/bin/terraform")
    for args in (("plan", path), ("apply", path)):
        lines = [line for line in cli.fails(*args).text.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert "ROACHCERT_TERRAFORM=/nonexistent/bin/terraform is not an executable file" in lines[0]
    assert one_cluster.statuses() == {"NOT_SET"}
    assert_no_partial_files(tmp_path)
    # The reviewed plan was not touched: it applies as soon as the engine is back.
    monkeypatch.setenv("ROACHCERT_TERRAFORM", real)
    cli.ok("apply", path)
    cli.ok("plan", path)
    assert one_cluster.statuses() == {"IS_SET"}


@pytest.mark.parametrize("engine", ["{tmp}", "{tmp}/not-executable", "no-such-terraform-anywhere"])
def test_an_engine_that_cannot_run_is_one_line(
    sandbox: SandboxState, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: str
) -> None:
    (tmp_path / "not-executable").write_text("#!/bin/sh\nexit 0\n")
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1, register=False)
    path = str(stack.write())
    chosen = engine.format(tmp=tmp_path)
    monkeypatch.setenv("ROACHCERT_TERRAFORM", chosen)
    for args in (("plan", path), ("apply", path, "--auto-approve")):
        lines = [line for line in cli.fails(*args).text.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert f"ROACHCERT_TERRAFORM={chosen} is not an executable file" in lines[0]
    assert_no_partial_files(tmp_path)


def test_an_engine_that_is_not_terraform_fails_cleanly(
    sandbox: SandboxState,
    one_cluster: SandboxStack,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake = tmp_path / "fake-terraform"
    fake.write_text("#!/bin/sh\necho 'fake: not terraform' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ROACHCERT_TERRAFORM", str(fake))
    failed = cli.fails("plan", str(one_cluster.path))
    assert "terraform init failed (exit 1)" in failed.text
    assert "fake: not terraform" in failed.text
    assert_no_partial_files(tmp_path)


def test_a_second_run_on_the_same_stack_names_the_running_apply(
    sandbox: SandboxState,
    one_cluster: SandboxStack,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside one workspace roachcert's per-stack lock is met before Terraform's state lock: the second
    plan or apply waits --lock-timeout, then names the holder (pid, command, since when) and how to retry.
    (Terraform's own lock, met by runners that share only a backend, is tested with the pg backend.)"""
    path = str(one_cluster.path)
    cli.ok("plan", path, expect=2)
    monkeypatch.setenv("ROACHCERT_STANDIN_POLL_TIMEOUT", "120")
    with faults(sandbox, stuck_pending=True):
        # The other apply holds the lock while its change stays PENDING: as long as this test wants.
        other = background(one_cluster, "apply", path)
        try:
            wait_for("the state lock", (one_cluster.workdir / LOCK_INFO).exists, other)
            again = cli.fails("apply", path, "--lock-timeout", "1s")
            blocked = cli.fails("plan", path, "--lock-timeout", "1s")
        finally:
            requests.post(f"{sandbox.emulator_url}/_admin/faults", json={"stuck_pending": False}, timeout=10)
            code, out, err = finish(other)
    for outcome in (blocked, again):
        line = only_line(outcome.text)
        assert f"stack {one_cluster.name} is locked by pid {other.pid}" in line, line
        assert "`roachcert apply " in line, line
        assert ", since 20" in line, line
        assert "waited 1s" in line, line
        assert "--lock-timeout" in line, line
    assert code == 0, out + err
    assert not (one_cluster.workdir / LOCK_INFO).exists()
    assert_no_partial_files(tmp_path)
    converge(cli, one_cluster)


def test_ctrl_c_during_apply_exits_130_and_a_rerun_converges(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, tmp_path: Path
) -> None:
    path = str(one_cluster.path)
    cli.ok("plan", path, expect=2)
    clear_requests(sandbox)
    with faults(sandbox, latency_seconds=1.0):
        proc = background(one_cluster, "apply", path)
        try:
            # Terraform holds the lock and the provider has its first answer: the apply is in flight.
            wait_for("the provider's first request", lambda: bool(emulator_requests(sandbox)), proc)
            proc.send_signal(signal.SIGINT)
        finally:
            code, out, err = finish(proc)
    assert code == 130, out + err
    assert "roachcert: interrupted" in err, (out, err)
    for marker in CRASH_MARKERS:
        assert marker not in out + err
    assert not (one_cluster.workdir / LOCK_INFO).exists()
    assert_no_partial_files(tmp_path)
    converge(cli, one_cluster)
