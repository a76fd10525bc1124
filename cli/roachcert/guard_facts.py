"""What the guards of `plan`, `adopt`, `apply` and `status` know about the Cloud side, in one place.

Three facts; the first is read by `cloud.status` (every Cloud answer passes it), the others only here:
- the status of a cluster's client CA as every command reads it (`cloud.status.read_status`): an empty
  status is NOT_SET (both fields are optional in the API), one outside NOT_SET/IS_SET/PENDING/FAILED stops
  the command naming the cluster: never a plan built on a guess;
- a cluster's current CA was set outside roachcert and the stack does not declare it (`HandSet`): found
  when `plan` or `adopt` first meets the cluster, kept in the stack's working folder across any number of
  plans, and ended only by an apply given --allow-replace-ca or by a stack that declares the same
  certificates. Every apply checks it, whatever its plan looks like;
- a plan made without reading the Cloud API (`--no-cloud-read`): every report says so, and `apply`
  refuses it unless told --allow-unread-cloud;
- the clusters whose CA roachcert has set, or tried to (`load_set_by_us`): recorded by `apply` before
  Terraform runs (every create, update, replace, adoption), by every `plan` and `adopt` for what state
  tracks, and by `adopt` for each import; ended by an applied delete or forget.
  It tells roachcert's own failed first create (a retry) from a cluster it never set whose Cloud read is
  FAILED with no certificate: the API may blank the certificate of a failed change while the CA set before
  it (by hand) is still in force, so such a cluster is a hand-set CA nobody can see (`HandSet` with the
  `UNSEEN` certificate), and `status` tells a CA removed out of band from one never set yet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roachcert.cloud.status import UNSEEN_ADVICE as UNSEEN_ADVICE  # the reports and `adopt` read them here
from roachcert.cloud.status import UNSEEN_LINE as UNSEEN_LINE
from roachcert.cloud.status import holds_ca
from roachcert.errors import GuardError, PemError
from roachcert.escape import printable
from roachcert.files import write_atomic
from roachcert.pem import parse_certificates
from roachcert.plan_summary import PlanSummary, ResourceChange

if TYPE_CHECKING:
    from roachcert.cloud.reads import CloudRead

HAND_SET_FILE = ".roachcert-hand-set.json"  # in the stack's working folder; no rendered file takes a "." name
SET_BY_US_FILE = ".roachcert-set-by-us.json"  # beside it

# -- unread Cloud ------------------------------------------------------------------------------------

# What every report of such a plan says (reports.model's `cloud_not_read` alert).
NOT_READ = (
    "Cloud not read: this plan was made with --no-cloud-read, so nothing checked what the clusters trust "
    "now (a CA set by hand, a PENDING change, an edit since the last apply)"
)
NOT_READ_ADVICE = "plan again without --no-cloud-read; apply refuses this plan without --allow-unread-cloud"


def check_unread(stack: str, cloud_read: bool, allowed: bool) -> None:
    if not cloud_read and not allowed:
        raise GuardError(
            f"refusing to apply {stack}: its plan was made with --no-cloud-read, so nothing checked what the "
            "clusters trust now: plan again without --no-cloud-read (or apply with --allow-unread-cloud)"
        )


# -- hand-set CAs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandSetCert:
    sha256: str  # of the DER certificate; of the whole bundle when it cannot be read; "" for UNSEEN
    subject: str
    not_after: str  # YYYY-MM-DD, "" when unknown

    @property
    def unseen(self) -> bool:
        """A CA the Cloud API does not show (FAILED, no certificate) on a cluster roachcert never set."""
        return not self.sha256


UNSEEN = HandSetCert(
    "", "(not shown: the Cloud API answers FAILED with no certificate, and roachcert never set this CA)", ""
)


@dataclass(frozen=True)
class HandSet:
    """Certificates a cluster trusts that were set outside roachcert and that the stack does not declare."""

    cluster: str
    cluster_id: str
    certs: tuple[HandSetCert, ...]


def _certs(pem: str) -> tuple[HandSetCert, ...]:
    if not pem.strip():
        return ()
    try:
        infos = parse_certificates(pem, "the CA the cluster trusts now")
    except PemError:
        digest = hashlib.sha256(pem.encode("utf-8", "replace")).hexdigest()
        return (HandSetCert(digest, "(a bundle roachcert cannot read)", ""),)
    return tuple(HandSetCert(i.sha256, i.subject, f"{i.not_after:%Y-%m-%d}") for i in infos)


def _shas(pem: str | None) -> set[str]:
    return {cert.sha256 for cert in _certs(pem or "")}


def undeclared(cluster: str, cluster_id: str, trusted_pem: str, declared_pem: str) -> HandSet:
    declared = _shas(declared_pem)
    return HandSet(cluster, cluster_id, tuple(c for c in _certs(trusted_pem) if c.sha256 not in declared))


def load_hand_set(workdir: Path) -> dict[str, HandSet]:
    try:
        data: Any = json.loads((workdir / HAND_SET_FILE).read_text(encoding="utf-8"))
        return _parse_hand_set(data)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # Unreadable, it would hide a CA nobody declared: refuse rather than guess it away.
        raise GuardError(
            f"cannot read {workdir / HAND_SET_FILE} (the record of CAs set by hand): {exc}; restore it "
            "(deleting it forgets the CAs set by hand on clusters already adopted: no later plan finds "
            "them again, and apply would drop them without --allow-replace-ca)"
        ) from None


def _parse_hand_set(data: Any) -> dict[str, HandSet]:
    """The record as `save_hand_set` writes it; any other shape (an edit by hand) is unreadable, never
    read as "no CA set by hand"."""
    clusters = data.get("clusters") if isinstance(data, dict) else None
    if not isinstance(clusters, dict):
        raise ValueError('not {"clusters": {NAME: {...}}}')
    found: dict[str, HandSet] = {}
    for name, item in clusters.items():
        listed = item.get("certificates") if isinstance(item, dict) else None
        if not isinstance(listed, list) or not all(
            isinstance(c, dict)
            and (c.get("unseen") is True or (isinstance(c.get("sha256"), str) and c["sha256"]))
            for c in listed
        ):
            raise ValueError(f"cluster {printable(name)!r} has no list of certificates with a sha256 each")
        certs = tuple(
            UNSEEN
            if c.get("unseen") is True
            else HandSetCert(c["sha256"], str(c.get("subject", "")), str(c.get("not_after", "")))
            for c in listed
        )
        if certs:
            found[name] = HandSet(name, str(item.get("cluster_id", "")), certs)
    return found


def save_hand_set(workdir: Path, facts: Mapping[str, HandSet]) -> None:
    """Written atomically; no file when no cluster holds a hand-set CA."""
    if not facts:
        (workdir / HAND_SET_FILE).unlink(missing_ok=True)
        return
    document = {
        "clusters": {
            name: {
                "cluster_id": fact.cluster_id,
                "certificates": [
                    {"sha256": c.sha256, "subject": c.subject, "not_after": c.not_after}
                    | ({"unseen": True} if c.unseen else {})
                    for c in fact.certs
                ],
            }
            for name, fact in sorted(facts.items())
        }
    }
    write_atomic(workdir / HAND_SET_FILE, json.dumps(document, indent=2) + "\n")


@dataclass(frozen=True)
class Observed:
    """One cluster as `plan` or `adopt` read it, with what the stack declares for it."""

    cluster: str
    cluster_id: str
    status: str
    pem: str
    declared_pem: str


def observe(
    workdir: Path,
    declared: Mapping[str, str],
    reads: Iterable[Observed] = (),
    found: Iterable[str] = (),
    unseen: Iterable[str] = (),
) -> dict[str, HandSet]:
    """Bring the record up to date after a plan or an adoption, and return it.

    `found`: clusters met holding a CA no state tracks (adopted now): what they trust beyond the
    declared bundle is recorded. `unseen`: clusters no state tracks that roachcert never set, read FAILED
    with no certificate (`unseen_clusters`): the CA they may trust is recorded as UNSEEN. Every cluster
    read keeps only the recorded certificates it still trusts (a read that shows what it trusts ends an
    UNSEEN one); a declared bundle that holds recorded certificates ends them (the stack declares them)."""
    facts = load_hand_set(workdir)
    before = dict(facts)
    seen = {read.cluster: read for read in reads}
    for name in unseen:
        old = facts.get(name)
        if old is None or UNSEEN not in old.certs:
            facts[name] = HandSet(name, seen[name].cluster_id, (*(old.certs if old else ()), UNSEEN))
    for name in found:
        met = seen[name]
        trusted = met.pem if holds_ca(met.status, met.pem) else ""
        new = undeclared(name, met.cluster_id, trusted, met.declared_pem)
        old = facts.get(name)
        merged = {c.sha256: c for c in (*(old.certs if old else ()), *new.certs)}
        facts[name] = HandSet(name, met.cluster_id, tuple(merged.values()))
    for name, fact in list(facts.items()):
        keep = fact.certs
        read = seen.get(name)
        now = None if read is None else _trusted_now(read)
        if now is not None:
            keep = tuple(c for c in keep if c.sha256 in now)
        if name in declared:
            in_stack = _shas(declared[name])
            keep = tuple(c for c in keep if c.sha256 not in in_stack)
        else:  # an UNSEEN CA's cluster is in no state: left out of the stack, nothing will change it
            keep = tuple(c for c in keep if not c.unseen)
        if keep:
            facts[name] = HandSet(name, fact.cluster_id, keep)
        else:
            del facts[name]
    if facts != before:
        save_hand_set(workdir, facts)
    return facts


def _trusted_now(read: Observed) -> set[str] | None:
    """The certificates a read shows the cluster trusting; None when it does not tell: PENDING, or a
    FAILED/IS_SET answer without a readable bundle (a failed change keeps the CA in force, which the
    API may leave blank). Only a read that tells may end a record: a guess would drop the guard."""
    if read.status == "NOT_SET":
        return set()
    if read.status == "PENDING" or not read.pem.strip():
        return None
    try:
        return {info.sha256 for info in parse_certificates(read.pem, "the CA the cluster trusts now")}
    except PemError:
        return None


def _after(change: ResourceChange, fact: HandSet) -> str | None:
    """What the cluster of `fact` trusts once the change is applied; None: the change leaves it alone."""
    if change.action in ("no-op", "forget"):
        return None
    if change.action == "delete":
        return ""
    if change.new_id and fact.cluster_id and change.new_id != fact.cluster_id:
        return ""  # the CA moves to another cluster: this one loses it
    return change.new_pem or ""


def in_plan(summary: PlanSummary, recorded: Mapping[str, HandSet]) -> dict[str, HandSet]:
    """The recorded facts, and those a plan's own adoptions carry (a plan made before the record)."""
    facts = dict(recorded)
    for change in summary.adoptions:
        if change.cluster not in facts and change.action != "no-op":
            fact = undeclared(change.cluster, change.new_id or "", change.old_pem or "", change.new_pem or "")
            if fact.certs:
                facts[change.cluster] = fact
    return facts


def drops(summary: PlanSummary, facts: Mapping[str, HandSet]) -> list[tuple[HandSet, HandSetCert]]:
    """Each hand-set certificate the plan would take off its cluster."""
    dropped = []
    for change in summary.changes:
        fact = facts.get(change.cluster)
        after = None if fact is None else _after(change, fact)
        if fact is None or after is None:
            continue
        kept = _shas(after)
        dropped += [(fact, cert) for cert in fact.certs if cert.sha256 not in kept]
    return dropped


def refuse_drops(stack: str, summary: PlanSummary, facts: Mapping[str, HandSet]) -> None:
    """Dropping a CA set by hand that the stack does not declare takes --allow-replace-ca, on every path:
    users nobody declared may depend on it, and the delivered inventory knows nothing of its certificates."""
    dropped = drops(summary, facts)
    if not dropped:
        return
    lines = [
        f"  {fact.cluster}: {UNSEEN_LINE}"
        if cert.unseen
        else f"  {fact.cluster}: trusts {printable(cert.subject)} (sha256 {cert.sha256[:16]}"
        + (f", valid until {cert.not_after}" if cert.not_after else "")
        + ") today, set outside roachcert; the stack does not declare it"
        for fact, cert in dropped
    ]
    if all(cert.unseen for _fact, cert in dropped):
        lead = (
            f"refusing to apply {stack}: {len(lines)} cluster(s) may trust a CA set outside roachcert that the "
            f"Cloud API does not show, and this plan replaces it; {UNSEEN_ADVICE}"
        )
    else:
        lead = (
            f"refusing to apply {stack}: adopting would drop {len(lines)} CA certificate(s) the clusters "
            "trust today (clients whose certificates they signed could no longer connect); declare them "
            "in the stack (a pem_file CA), or run again with --allow-replace-ca"
        )
    raise GuardError("\n".join([lead, *lines]))


def end_applied(workdir: Path, summary: PlanSummary) -> None:
    """After an apply: the clusters it changed trust what the stack declares now (any hand-set CA it
    dropped, it dropped with consent), so their record ends."""
    facts = load_hand_set(workdir)
    left = {
        name: fact
        for name, fact in facts.items()
        if not any(c.cluster == name and c.action != "no-op" for c in summary.changes)
    }
    if left != facts:
        save_hand_set(workdir, left)


# -- clusters whose CA roachcert set -----------------------------------------------------------------


def load_set_by_us(workdir: Path) -> dict[str, str]:
    """cluster id → cluster name, of every cluster whose CA roachcert's apply has set or tried to set, or
    `adopt` imported. Read by id: the Cloud API's answer (FAILED, NOT_SET) belongs to the cluster id."""
    try:
        data: Any = json.loads((workdir / SET_BY_US_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise _unreadable_set_by_us(workdir, str(exc)) from None
    clusters = data.get("clusters") if isinstance(data, dict) else None
    if not isinstance(clusters, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in clusters.items()
    ):
        raise _unreadable_set_by_us(workdir, 'not {"clusters": {CLUSTER_ID: NAME}}')
    return dict(clusters)


def _unreadable_set_by_us(workdir: Path, why: str) -> GuardError:
    # Unreadable, it is refused like the hand-set record: never read as "roachcert set none of them".
    return GuardError(
        f"cannot read {workdir / SET_BY_US_FILE} (the record of clusters whose CA roachcert set): {why}; "
        "restore it, or delete it (then a cluster read FAILED with no certificate and no state takes "
        "--allow-replace-ca once, and `status` calls a CA removed out of band on it not set yet)"
    )


def record_set_by_us(workdir: Path, add: Mapping[str, str], remove: Iterable[str] = ()) -> None:
    """Add clusters (id → name) whose CA roachcert sets now, and drop those whose CA it removed."""
    ids = load_set_by_us(workdir)
    updated = {key: value for key, value in ids.items() if key not in set(remove)} | dict(add)
    if updated == ids:
        return
    if not updated:
        (workdir / SET_BY_US_FILE).unlink(missing_ok=True)
        return
    write_atomic(
        workdir / SET_BY_US_FILE, json.dumps({"clusters": dict(sorted(updated.items()))}, indent=2) + "\n"
    )


def setting(summary: PlanSummary) -> dict[str, str]:
    """id → name of each cluster whose CA the plan sets (create, update, replace, adoption): recorded
    before Terraform runs, so a create that fails, or an apply cut short, still counts as roachcert's."""
    return {
        change.new_id: change.cluster
        for change in summary.changes
        if change.new_id and (change.action in ("create", "update", "replace") or change.adopted)
    }


def tracked(summary: PlanSummary) -> dict[str, str]:
    """id → name of each cluster the plan found in state (every action but a create): roachcert set or
    adopted its CA. Recorded by every plan, so `status` knows it with a remote backend too, and a state
    made before this record (an upgrade) is known after one plan."""
    return {
        change.old_id: change.cluster
        for change in summary.changes
        if change.old_id and change.action in ("update", "replace", "no-op")
    }


def removed(summary: PlanSummary) -> list[str]:
    """Ids whose CA the applied plan removed or stopped managing (delete, forget, a replace that moved)."""
    return [
        change.old_id
        for change in summary.changes
        if change.old_id
        and (
            change.action in ("delete", "forget")
            or (change.action == "replace" and change.old_id != change.new_id)
        )
    ]


def unseen_clusters(
    reads: Iterable[Observed], untracked: Iterable[str], set_by_us: Mapping[str, str]
) -> list[str]:
    """Clusters no state tracks (`untracked`: planned creates, or not in state for `adopt`) that read FAILED
    with no certificate and whose CA roachcert never set: a CA set by hand may be in force, unseen."""
    names = set(untracked)
    return sorted(
        read.cluster
        for read in reads
        if read.cluster in names
        and read.status == "FAILED"
        and not read.pem.strip()
        and read.cluster_id not in set_by_us
    )


def unseen_now(workdir: Path, summary: PlanSummary, reads: Mapping[str, CloudRead]) -> dict[str, HandSet]:
    """apply's own finding, from its re-read of the Cloud side: the planned creates on clusters that read
    FAILED with no certificate and whose CA roachcert never set (whatever record the plan's folder has)."""
    observed = [Observed(name, read.cluster_id, read.status, read.pem, "") for name, read in reads.items()]
    creates = [change.cluster for change in summary.of("create")]
    return {
        name: HandSet(name, reads[name].cluster_id, (UNSEEN,))
        for name in unseen_clusters(observed, creates, load_set_by_us(workdir))
    }
