"""What each declared cluster trusts now, read from the Cloud API itself (one GET per cluster, a few at
once), at plan time and again just before apply.

Terraform sees only its state: a CA set by curl or the Console, a change still PENDING, or an edit made
between review and apply are invisible to it. These reads are what roachcert compares instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from roachcert.cloud.client import ClientCaStatus
from roachcert.cloud.status import holds_ca, read_status
from roachcert.errors import CloudError, GuardError
from roachcert.pem import certificate_bodies, count_certificates

MAX_CONCURRENT_READS = 8


@dataclass(frozen=True)
class CloudRead:
    cluster: str
    cluster_id: str
    status: str  # NOT_SET, IS_SET, PENDING or FAILED, as cloud.status.read_status reads it
    pem: str

    @property
    def fingerprint(self) -> str:
        """The status and the set of certificates (order and PEM line breaks do not count): what a
        reviewer saw the cluster trust."""
        return f"{self.status}:{bundle_sha256(self.pem)}"

    @property
    def has_ca(self) -> bool:
        return holds_ca(self.status, self.pem)


def bundle_sha256(pem: str) -> str:
    bodies = sorted(certificate_bodies(pem))
    return hashlib.sha256("\n".join(bodies).encode("ascii", "replace")).hexdigest() if bodies else ""


def read_clusters(
    clusters: Mapping[str, str],
    get: Callable[[str], ClientCaStatus],
    *,
    workers: int = MAX_CONCURRENT_READS,
) -> dict[str, CloudRead]:
    """cluster name → what the Cloud API answers for its id. Any failure, or a status none of the four,
    stops everything with one line (a plan built on a guess is worse than none)."""
    names = sorted(clusters)
    if not names:
        return {}

    def one(name: str) -> CloudRead:
        cluster_id = clusters[name]
        try:
            answer = get(cluster_id)
        except CloudError as exc:
            raise CloudError(f"{name} ({cluster_id}): cannot read its client CA: {exc}") from None
        return CloudRead(name, cluster_id, read_status(name, cluster_id, answer), answer.x509_pem_cert or "")

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        reads = list(pool.map(one, names))
    return {read.cluster: read for read in reads}


def pending_message(stack: str, reads: Sequence[CloudRead], waited: float) -> str:
    """One line per cluster whose client CA is changing now: its read says nothing settled."""
    lead = (
        f"{len(reads)} cluster(s) of {stack} have a client CA change in progress (PENDING); a plan now would "
        "be built on a half-done change"
        + (f" (waited {waited:g}s)" if waited else "")
        + ": wait for it (`roachcert status` shows when it settles) or plan with --wait-pending DURATION"
    )
    return "\n".join([lead, *(f"  {r.cluster} ({r.cluster_id}): PENDING" for r in reads)])


def changed_since(recorded: Mapping[str, str], now: Mapping[str, CloudRead]) -> list[str]:
    """Clusters whose Cloud-side bundle is not the one the plan recorded."""
    return [
        name
        for name, fingerprint in sorted(recorded.items())
        if name in now and now[name].fingerprint != fingerprint
    ]


def refuse_changed(stack: str, changed: Sequence[str], now: Mapping[str, CloudRead]) -> None:
    if not changed:
        return
    lines = [
        f"refusing to apply {stack}: the client CA of {len(changed)} cluster(s) changed on the Cloud side "
        "since the plan was made (the Console, curl, or another tool): run `roachcert plan` again and review it",
        *(
            f"  {name} ({now[name].cluster_id}): now {now[name].status}, "
            f"{count_certificates(now[name].pem)} certificate(s)"
            for name in changed
        ),
    ]
    raise GuardError("\n".join(lines))
