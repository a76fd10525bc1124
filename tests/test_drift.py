"""The pure drift comparison, and the fan-out over clusters with a fake Cloud read."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from certs_helper import make_ca
from roachcert.cloud.client import ClientCaStatus
from roachcert.cloud.drift import ClusterDrift, compare, counts, error_result, exit_code, observe_clusters
from roachcert.errors import CloudError
from roachcert.pem import build_bundle, cert_info
from roachcert.spec import Stack


@pytest.fixture(scope="module")
def cas() -> tuple[str, str, str]:
    return make_ca("CA a")[0], make_ca("CA b")[0], make_ca("CA other")[0]


def bundle(*pems: str) -> str:
    return build_bundle(cert_info(pem) for pem in pems)


def test_identical_text_is_in_sync(cas: tuple[str, str, str]) -> None:
    expected = bundle(cas[0], cas[1])
    result = compare(expected, ClientCaStatus("IS_SET", expected))
    assert result.state == "in_sync"
    assert result.label == "in sync"
    assert not result.drifted


def test_not_set_is_a_ca_removed_out_of_band(cas: tuple[str, str, str]) -> None:
    result = compare(bundle(cas[0]), ClientCaStatus("NOT_SET", ""))
    assert (result.state, result.label) == ("not_set", "drift: CA removed out of band")
    assert result.drifted


def test_different_bundle_names_both_sides(cas: tuple[str, str, str]) -> None:
    a, b, other = cas
    result = compare(bundle(a, b), ClientCaStatus("IS_SET", bundle(a, other)))
    assert result.label == "drift: different bundle"
    assert [i.subject_cn for i in result.only_in_cloud] == ["CA other"]
    assert [i.subject_cn for i in result.only_in_spec] == ["CA b"]
    assert result.detail == ""


def test_same_certificates_in_another_layout_still_drift(cas: tuple[str, str, str]) -> None:
    a, b, _ = cas
    result = compare(bundle(a, b), ClientCaStatus("IS_SET", bundle(b, a)))
    assert result.state == "different"
    assert (result.only_in_cloud, result.only_in_spec) == ((), ())
    assert "another order or layout" in result.detail


def test_garbage_in_the_cloud_is_a_different_bundle(cas: tuple[str, str, str]) -> None:
    result = compare(bundle(cas[0]), ClientCaStatus("IS_SET", "not pem"))
    assert result.state == "different"
    assert [i.subject_cn for i in result.only_in_spec] == ["CA a"]
    assert "no usable PEM" in result.detail


@pytest.mark.parametrize(
    ("status", "state"), [("PENDING", "pending"), ("FAILED", "failed"), ("WEIRD", "error")]
)
def test_pending_failed_and_unknown(cas: tuple[str, str, str], status: str, state: str) -> None:
    result = compare(bundle(cas[0]), ClientCaStatus(status, ""))
    assert result.state == state


def row(name: str, state: Any) -> ClusterDrift:
    result = error_result("boom") if state == "error" else compare("x", ClientCaStatus(state, "x"))
    return ClusterDrift(name, "id", result)


def test_exit_codes() -> None:
    assert exit_code([]) == 0
    assert exit_code([row("a", "IS_SET")]) == 0
    assert exit_code([row("a", "IS_SET"), row("b", "PENDING")]) == 2
    assert exit_code([row("a", "NOT_SET"), row("b", "error")]) == 1
    assert counts([row("a", "IS_SET"), row("b", "FAILED")])["failed"] == 1


def make_stack(n: int) -> Stack:
    clusters = {
        f"c{i}": {"id": f"2186fbdb-598c-4797-a463-aaaee86590{i:02d}", "ca": "legacy", "host": "h.example"}
        for i in range(n)
    }
    return Stack.model_validate(
        {"version": 1, "cas": {"legacy": {"pem_file": "/dev/null"}}, "clusters": clusters}
    )


def test_observe_runs_in_parallel_keeps_order_and_isolates_errors(cas: tuple[str, str, str]) -> None:
    stack = make_stack(6)
    expected = {name: bundle(cas[0]) for name in stack.clusters}
    active, peak = 0, 0
    lock = threading.Lock()

    def fetch(cluster_id: str) -> ClientCaStatus:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        if cluster_id.endswith("03"):
            raise CloudError(f"Cloud API at http://x: cluster {cluster_id} not found (HTTP 404)")
        return ClientCaStatus("IS_SET", bundle(cas[0]))

    rows = observe_clusters(stack, expected, fetch, jobs=3)
    assert [r.cluster for r in rows] == list(stack.clusters)
    assert [r.result.state for r in rows] == ["in_sync"] * 3 + ["error"] + ["in_sync"] * 2
    assert "not found (HTTP 404)" in rows[3].result.detail
    assert peak == 3
