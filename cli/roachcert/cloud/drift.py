"""Drift between the client CA bundle the spec renders now and what each cluster holds in the Cloud API.

`compare` is pure (expected PEM + observed API answer → `DriftResult`); `observe_clusters` fans the
reads out over a bounded thread pool through a narrow `fetch` callable, so tests can pass the real
emulator-backed client or a fake. One cluster's error never hides the others' rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from roachcert.cloud.client import ClientCaStatus
from roachcert.cloud.status import UNSEEN_ADVICE, UNSEEN_LINE, read_status, unknown_status
from roachcert.errors import PemError, RoachcertError
from roachcert.exit_status import ExitStatus
from roachcert.pem import CertInfo, parse_certificates
from roachcert.spec import Stack

DriftState = Literal["in_sync", "not_set", "not_set_yet", "different", "pending", "failed", "error"]
DEFAULT_JOBS = 8

LABELS: dict[DriftState, str] = {
    "in_sync": "in sync",
    "not_set": "drift: CA removed out of band",
    "not_set_yet": "not set yet",
    "different": "drift: different bundle",
    "pending": "PENDING",
    "failed": "FAILED",
    "error": "error",
}


@dataclass(frozen=True)
class DriftResult:
    state: DriftState
    status: str  # the API's status as answered ("" when the read failed)
    only_in_cloud: tuple[CertInfo, ...] = ()
    only_in_spec: tuple[CertInfo, ...] = ()
    detail: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def drifted(self) -> bool:
        return self.state in ("not_set", "different", "pending", "failed")


@dataclass(frozen=True)
class ClusterDrift:
    cluster: str
    cluster_id: str
    result: DriftResult


def compare(expected_pem: str, observed: ClientCaStatus, *, ever_set: bool = True) -> DriftResult:
    """What the cluster holds against what the spec renders. In sync only on identical text: the
    provider compares `x509_pem_cert` as a string, so the same certificates laid out differently
    would still show up as a change in the next plan. `ever_set`: roachcert set (or adopted) this
    cluster's CA, by its state or records; a CA missing from a cluster it never set is not drift."""
    status = observed.status or "NOT_SET"  # both fields are optional in the API
    if status == "NOT_SET" and not ever_set:
        return DriftResult(
            "not_set_yet",
            status,
            detail="the cluster trusts no client CA, and roachcert never set one (no state or record of it "
            "here): plan and apply the stack to set it",
        )
    if status == "NOT_SET":
        return DriftResult(
            "not_set", status, detail="the cluster trusts no client CA: plan and apply the stack to set it"
        )
    if status == "PENDING":
        return DriftResult(
            "pending", status, detail="a change is in progress on the cluster; look again soon"
        )
    if status == "FAILED" and not ever_set and not (observed.x509_pem_cert or "").strip():
        return DriftResult("failed", status, detail=f"{UNSEEN_LINE}; {UNSEEN_ADVICE}")
    if status == "FAILED":
        return DriftResult(
            "failed", status, detail="the last change failed on the cluster: plan and apply the stack again"
        )
    if status != "IS_SET":
        return DriftResult("error", status, detail=unknown_status(status))
    if observed.x509_pem_cert == expected_pem:
        return DriftResult("in_sync", status)
    expected = _certs(expected_pem)
    try:
        held = _certs(observed.x509_pem_cert)
    except PemError as exc:
        return DriftResult(
            "different", status, only_in_spec=expected, detail=f"the cluster holds no usable PEM ({exc})"
        )
    held_shas = {info.sha256 for info in held}
    expected_shas = {info.sha256 for info in expected}
    only_cloud = tuple(info for info in held if info.sha256 not in expected_shas)
    only_spec = tuple(info for info in expected if info.sha256 not in held_shas)
    detail = "" if only_cloud or only_spec else "the same certificates, in another order or layout"
    return DriftResult("different", status, only_cloud, only_spec, detail)


def _certs(text: str) -> tuple[CertInfo, ...]:
    if not text.strip():
        raise PemError("empty")
    return parse_certificates(text, "client CA")


def error_result(message: str) -> DriftResult:
    return DriftResult("error", "", detail=message)  # masked where it is shown


def observe_clusters(
    stack: Stack,
    expected: Mapping[str, str],
    fetch: Callable[[str], ClientCaStatus],
    *,
    jobs: int = DEFAULT_JOBS,
    ever_set: Collection[str] | None = None,
) -> list[ClusterDrift]:
    """Read every cluster in `expected` (cluster name → bundle PEM), `jobs` at a time, in the
    stack's order. `fetch(cluster_id)` is the Cloud API read; its errors, and a status none of the four
    (read as plan reads it), become that row's error. `ever_set`: the clusters whose CA roachcert set
    (None: all of them)."""
    names = [name for name in stack.clusters if name in expected]

    def one(name: str) -> ClusterDrift:
        cluster_id = stack.clusters[name].id
        try:
            answer = fetch(cluster_id)
        except RoachcertError as exc:
            return ClusterDrift(name, cluster_id, error_result(str(exc)))
        try:
            status = read_status(name, cluster_id, answer)
        except RoachcertError as exc:
            result = replace(error_result(str(exc)), status=answer.status)
        else:
            set_before = ever_set is None or name in ever_set
            result = compare(
                expected[name], ClientCaStatus(status, answer.x509_pem_cert), ever_set=set_before
            )
        return ClusterDrift(name, cluster_id, result)

    if not names:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(names))), thread_name_prefix="status") as pool:
        return list(pool.map(one, names))


def exit_code(rows: Iterable[ClusterDrift]) -> ExitStatus:
    """ERROR when any cluster could not be read (its state is unknown), else CHANGES on any drift, else OK."""
    states = {row.result.state for row in rows}
    if "error" in states:
        return ExitStatus.ERROR
    return ExitStatus.CHANGES if states - {"in_sync"} else ExitStatus.OK


def counts(rows: Iterable[ClusterDrift]) -> dict[str, int]:
    found: dict[str, int] = {state: 0 for state in LABELS}
    for row in rows:
        found[row.result.state] += 1
    return found
