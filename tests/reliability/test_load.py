"""Load: a 1,000-cluster stack plans and applies on the sandbox; 500 client certificates are issued
concurrently without an error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from faultkit import Cli, SandboxStack, assert_no_partial_files

from roachcert_sandbox.emulator_state import Cluster, EmulatorState
from roachcert_sandbox.manager import SandboxState
from roachcert_sandbox.processes import free_port, stop_pid

pytestmark = pytest.mark.integration

CLUSTERS = 1000


CLUSTER_IDS = {f"c{number}": str(uuid.UUID(int=number + 1, version=4)) for number in range(CLUSTERS)}


@pytest.fixture
def own_emulator(sandbox: SandboxState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator of this test only (same code, same key as the sandbox's) that starts out knowing the
    thousand clusters: registering them one by one rewrites its state file a thousand times, and in the
    session's emulator they would stay for every later change to rewrite. Changes settle at once."""
    seed = EmulatorState(path=tmp_path / "emulator-state.json")
    seed.clusters = {cid: Cluster(id=cid, name=name) for name, cid in CLUSTER_IDS.items()}
    seed.save()
    port = free_port()
    log = (tmp_path / "emulator.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roachcert_sandbox.emulator",
            "--state",
            str(tmp_path / "emulator-state.json"),
            "--port",
            str(port),
            "--pending-seconds",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/_admin/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, "the emulator exited at start"
            assert time.monotonic() < deadline, "the emulator did not start within 20 s"
            time.sleep(0.05)
        monkeypatch.setenv("COCKROACH_SERVER", url)
        yield url
    finally:
        stop_pid(process.pid)
        process.wait(timeout=10)
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(900)  # about two minutes on two busy cores; the suite's 300 s is too tight
def test_a_thousand_clusters_plan_and_apply(
    sandbox: SandboxState, own_emulator: str, tmp_path: Path, cli: Cli
) -> None:
    stack = SandboxStack(sandbox, tmp_path, name="big")
    stack.clusters = dict(CLUSTER_IDS)
    path = str(stack.write())
    timings: dict[str, float] = {}

    def timed(step: str, *args: str, expect: int = 0) -> str:
        started = time.monotonic()
        outcome = cli.ok(*args, expect=expect)
        timings[step] = time.monotonic() - started
        return outcome.text

    timed("ca ensure", "ca", "ensure", path)
    assert f"{CLUSTERS} to create" in timed("plan", "plan", path, expect=2)
    applied = timed("apply", "apply", path)
    assert f"big: applied ({CLUSTERS} created" in applied
    assert applied.count(": IS_SET") == CLUSTERS
    timed("plan again", "plan", path)
    clusters = requests.get(f"{own_emulator}/_admin/clusters", timeout=30).json()
    assert {c["status"] for c in clusters} == {"IS_SET"}
    assert_no_partial_files(tmp_path)
    print(
        f"\n{CLUSTERS} clusters: " + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in timings.items())
    )


def test_five_hundred_certificates_at_once(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> None:
    stack = SandboxStack(sandbox, tmp_path, name="many", users=10)
    stack.add_clusters(50, register=False)  # issuing needs Vault only
    path = str(stack.write())
    certs = tmp_path / "certs"
    cli.ok("ca", "ensure", path)
    started = time.monotonic()
    issued = cli.ok("issue", path, "--all", "--out", str(certs), "-j", "16")
    elapsed = time.monotonic() - started
    assert "500 issued, 0 failed" in issued.out
    keys = sorted(certs.rglob("client.*.key"))
    assert len(keys) == 500
    assert {key.stat().st_mode & 0o777 for key in keys} == {0o600}
    assert len(list(certs.rglob("client.*.crt"))) == 500
    assert len(list(certs.glob("*/client-ca.crt"))) == 50
    assert_no_partial_files(tmp_path)
    print(f"\n500 certificates (EC, -j 16): {elapsed:.1f}s")
