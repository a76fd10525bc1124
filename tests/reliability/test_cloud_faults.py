"""Cloud API faults during apply, through the real engine and the stand-in provider: each ends in one
clear failure (exit 1) or a recovery, never a traceback, and a re-run converges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from faultkit import (
    Cli,
    PausedEngine,
    SandboxStack,
    assert_no_partial_files,
    background,
    clear_requests,
    converge,
    emulator_requests,
    faults,
    finish,
    wait_for,
    wait_settled,
)

from certs_helper import make_ca
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


def _posts(sandbox: SandboxState) -> list[dict[str, object]]:
    return [r for r in emulator_requests(sandbox) if r["method"] == "POST"]


def test_a_wrong_api_key_fails_cleanly_and_the_right_one_converges(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = str(one_cluster.path)
    cli.ok("plan", stack, expect=2)
    good_key = os.environ["COCKROACH_API_KEY"]
    wrong = "crl-wrong-" + "x" * 24
    monkeypatch.setenv("COCKROACH_API_KEY", wrong)
    failed = cli.fails("apply", stack)
    assert "API key" in failed.err or "unauthenticated" in failed.err
    assert wrong not in failed.text
    status = cli.fails("status", stack)
    assert "401" in status.text
    assert wrong not in status.text
    assert_no_partial_files(one_cluster.path.parent)
    monkeypatch.setenv("COCKROACH_API_KEY", good_key)
    converge(cli, one_cluster)


@pytest.mark.parametrize("status", [429, 503])
def test_a_burst_of_get_failures_is_retried_and_recovers(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, fast_standin: None, status: int
) -> None:
    stack = str(one_cluster.path)
    cli.ok("plan", stack, expect=2)
    clear_requests(sandbox)
    with faults(sandbox, fail_method="GET", fail_next=3, fail_status=status):
        cli.ok("apply", stack)
    assert sum(1 for r in emulator_requests(sandbox) if r["status"] == status) == 3
    cli.ok("plan", stack)
    assert one_cluster.statuses() == {"IS_SET"}


def test_gets_failing_past_the_retries_fail_cleanly_then_converge(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, fast_standin: None
) -> None:
    stack = str(one_cluster.path)
    # roachcert's own read would meet the failing GETs first (test_cloud_side.py): this is the provider's.
    cli.ok("plan", stack, "--no-cloud-read", expect=2)
    clear_requests(sandbox)
    with faults(sandbox, fail_method="GET", fail_next=50, fail_status=500):
        failed = cli.fails("apply", stack, "--allow-unread-cloud")
    assert "Error getting cluster info" in failed.err
    gets = [r for r in emulator_requests(sandbox) if r["method"] == "GET"]
    assert len(gets) == 5  # the first try and go-retryablehttp's 4 retries
    assert not _posts(sandbox)
    assert_no_partial_files(one_cluster.path.parent)
    converge(cli, one_cluster)


@pytest.mark.parametrize("status", [429, 500])
def test_a_failed_post_is_never_retried_and_a_rerun_converges(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, fast_standin: None, status: int
) -> None:
    stack = str(one_cluster.path)
    cli.ok("plan", stack, expect=2)
    clear_requests(sandbox)
    with faults(sandbox, fail_method="POST", fail_next=1, fail_status=status):
        failed = cli.fails("apply", stack)
    assert "Error updating Client CA Cert" in failed.err
    assert f"HTTP {status}" in failed.err
    assert len(_posts(sandbox)) == 1
    assert one_cluster.statuses() == {"NOT_SET"}
    assert_no_partial_files(one_cluster.path.parent)
    converge(cli, one_cluster)


@pytest.mark.standin_only(
    "the real provider polls a PENDING change for a fixed 10 minutes; only the stand-in's poll timeout can be shortened (ROACHCERT_STANDIN_POLL_TIMEOUT)"
)
def test_pending_past_the_timeout_fails_cleanly_then_converges(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROACHCERT_STANDIN_POLL_TIMEOUT", "2")
    stack = str(one_cluster.path)
    cli.ok("plan", stack, expect=2)
    with faults(sandbox, stuck_pending=True):
        failed = cli.fails("apply", stack)
        assert "timed out" in failed.err
        assert "still pending" in failed.err
        assert one_cluster.statuses() == {"PENDING"}
        status = cli(*("status", stack))
        assert status.code == 2
        assert "PENDING" in status.out
    assert_no_partial_files(one_cluster.path.parent)
    # The create timed out and wrote no state, but the CA was set: the next plan adopts it (an import)
    # instead of a second POST over a CA nobody tracks.
    wait_settled(sandbox, list(one_cluster.clusters.values()))
    replanned = cli.ok("plan", stack, expect=2)
    assert "1 to adopt" in replanned.out, replanned.out
    assert "already trusts the declared bundle; import only" in replanned.out, replanned.out
    clear_requests(sandbox)
    cli.ok("apply", stack)
    assert _posts(sandbox) == []
    converge(cli, one_cluster)


def test_a_change_that_ends_failed_fails_cleanly_then_converges(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli
) -> None:
    stack = str(one_cluster.path)
    cli.ok("plan", stack, expect=2)
    with faults(sandbox, end_failed=True):
        failed = cli.fails("apply", stack)
    assert "client ca cert update failed" in failed.err
    assert one_cluster.statuses() == {"FAILED"}
    assert_no_partial_files(one_cluster.path.parent)
    converge(cli, one_cluster)


def test_apply_believes_the_cloud_api_not_the_engine_and_a_rerun_converges(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, tmp_path: Path
) -> None:
    """The engine reports success, then the cluster ends elsewhere (a provider that crashed after a
    DELETE answered 404, a Console edit racing the apply): the confirmation says so and what to do."""
    stack = str(one_cluster.path)
    cli.ok("plan", stack, expect=2)
    engine = PausedEngine.make(tmp_path / "engine", "apply", after=True)
    apply = background(one_cluster, "apply", stack, env=engine.env)
    [cluster_id] = one_cluster.clusters.values()
    try:
        wait_for("terraform apply to end", engine.entered.exists, apply)
        requests.patch(
            f"{sandbox.emulator_url}/api/v1/clusters/{cluster_id}/client-ca-cert",
            json={"x509_pem_cert": make_ca("Edited in the Console")[0]},
            headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
            timeout=10,
        ).raise_for_status()
        wait_settled(sandbox, [cluster_id])
    finally:
        engine.go()
        code, out, err = finish(apply)
    assert code == 1, out + err
    assert "applied (1 created, 0 updated, 0 replaced, 0 deleted)" in out, out
    expected = (
        f"expected IS_SET, the Cloud API reports IS_SET with a bundle other than the planned one: "
        f"run `roachcert plan {stack}` and apply again"
    )
    assert expected in out, out
    assert "Traceback" not in out + err
    converge(cli, one_cluster)
    assert "Edited in the Console" not in str(one_cluster.cloud(cluster_id).get("x509_pem_cert"))


def test_a_provider_crash_mid_apply_leaves_pending_siblings_that_stop_plan_and_old_apply_then_converges(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    """A DELETE answered 404 while three siblings change: the provider sends one more GET and crashes
    (the real v1.22.0's nil dereference); Terraform abandons the siblings, whose PATCHes were already
    answered PENDING and never recorded in state. roachcert must not take that for done."""
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(4)
    stack.write()
    path = str(stack.path)
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)
    gone = stack.clusters.pop("c3")
    stack.issuers.append("ca-b")  # every remaining bundle grows: three in-place updates
    stack.write()
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)  # three updates and a delete: the plan the apply runs
    siblings = list(stack.clusters.values())
    clear_requests(sandbox)
    # Latency makes the siblings' PATCHes land before the DELETE's 404 (they start together);
    # stuck_pending keeps them PENDING as a slow Cloud would.
    with faults(
        sandbox, fail_next=1, fail_status=404, fail_method="DELETE", latency_seconds=0.3, stuck_pending=True
    ):
        crashed = cli.fails("apply", path, "--allow-destroy")
        assert "plugin crashed" in crashed.text, crashed.text
        calls = [(r["method"], r["status"]) for r in emulator_requests(sandbox) if gone in r["path"]]
        assert calls[-2:] == [("DELETE", 404), ("GET", 200)], calls  # one more GET, then the crash
        patched = {r["path"].split("/")[4] for r in emulator_requests(sandbox) if r["method"] == "PATCH"}
        assert patched == set(siblings), patched
        assert stack.statuses() == {"PENDING"}
        assert stack.cloud(gone)["status"] == "IS_SET"  # the crash left the CA where it was

        replanned = cli.fails("plan", path)
        assert "3 cluster(s) of rel have a client CA change in progress (PENDING)" in replanned.text
        assert_no_partial_files(tmp_path)
        old_plan = cli.fails("apply", path, "--allow-destroy")
        assert "3 cluster(s) changed on the Cloud side since the plan" in old_plan.text, old_plan.text
        assert stack.statuses() == {"PENDING"}
    wait_settled(sandbox, siblings)
    converge(cli, stack, allow_destroy=True)
    assert stack.cloud(gone)["status"] == "NOT_SET"
