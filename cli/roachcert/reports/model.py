"""What a plan report says before it is formatted: certificate rows, grouped changes, warnings. Pure.

The one view model of the reports: `text`, `markdown` and `json_doc` format a `StackView`; none reads a
certificate itself, so a warning found here shows in every format.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from roachcert import guard_facts
from roachcert.errors import PemError
from roachcert.escape import printable, quoted
from roachcert.mask import mask
from roachcert.pem import EXPIRY_WARNING, CertInfo, parse_certificates
from roachcert.plan_summary import Action, PlanSummary, ResourceChange

if TYPE_CHECKING:
    from roachcert.bundles import ClusterBundle, Duplicate

RowState = Literal["added", "removed", "kept"]
AlertKind = Literal[
    "empty_stack",
    "id_moves_in_place",
    "expired",
    "expiring",
    "bundle_shrinks",
    "status",
    "unreadable_bundle",
    "drift",
    "other_resources",
    "not_yet_valid",
    "duplicate_certificate",
    "adopted",
    "cloud_not_read",
    "hand_set_ca",
]
MIN_FINGERPRINT_DIGITS = 16
# Kinds that can leave a cluster with the wrong trust, shown beside the deletions.
CAUTION_KINDS: frozenset[AlertKind] = frozenset(
    {"empty_stack", "id_moves_in_place", "adopted", "cloud_not_read", "hand_set_ca"}
)


@dataclass(frozen=True, kw_only=True)
class StackReport:
    """Everything a report of one stack's plan shows; the plan text is masked again on output anyway."""

    stack: str
    summary: PlanSummary
    now: datetime
    engine: str = ""  # e.g. "Terraform v1.15.5 (embedded)"
    provider_version: str = ""  # the provider version constraint, e.g. "~> 1.22"
    raw_plan: str = ""  # Terraform's own text of the plan this report shows
    raw_plan_source: str = ""  # which run it is from when a plan ran twice (adoption); "" for the only one
    log: str | None = None  # link or path to the full plan log
    sources: Mapping[str, str] = field(default_factory=dict)  # certificate sha256 -> "ca-name/issuer-name"
    users: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cluster -> its SQL users
    duplicates: Mapping[str, tuple[Duplicate, ...]] = field(
        default_factory=dict
    )  # cluster -> certs kept once
    path: str = ""  # the stack file as given on the command line
    saved: bool = False  # a plan with changes was saved for `apply`
    source: str = ""  # the stack file `apply` is told to take
    cloud_read: bool = True  # False: planned with --no-cloud-read (guard_facts.NOT_READ)
    hand_set: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cluster → hand-set CAs it drops


@dataclass(frozen=True)
class CertRow:
    state: RowState
    cert: CertInfo
    source: str | None  # "ca-name/issuer-name" when the stack names this certificate


@dataclass(frozen=True)
class ClusterChange:
    change: ResourceChange
    rows: tuple[CertRow, ...]  # the new bundle in order (added or kept), then what it loses
    users: tuple[str, ...]
    problem: str | None = None  # a bundle in the plan that is not clean PEM certificates

    @property
    def cluster(self) -> str:
        return self.change.cluster

    @property
    def action(self) -> Action:
        return self.change.action

    def count(self, state: RowState) -> int:
        return sum(1 for row in self.rows if row.state == state)


@dataclass(frozen=True)
class ChangeGroup:
    """Clusters whose CA changes the same way (same action, same certificates in and out)."""

    action: Action
    clusters: tuple[ClusterChange, ...]

    @property
    def rows(self) -> tuple[CertRow, ...]:
        return self.clusters[0].rows

    @property
    def problem(self) -> str | None:
        return self.clusters[0].problem


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    message: str  # what is wrong, without the cluster list
    clusters: tuple[str, ...] = ()
    users: tuple[str, ...] = ()  # who may be locked out
    sha256: str | None = None
    advice: str = ""  # what to do about it
    addresses: tuple[str, ...] = ()  # Terraform resource addresses, for drift and other resources


@dataclass(frozen=True)
class StackView:
    report: StackReport
    changes: tuple[ClusterChange, ...]  # clusters whose CA changes; no-ops left out
    groups: tuple[ChangeGroup, ...]  # the same, grouped; deletions excluded (they are listed by name)
    alerts: tuple[Alert, ...]
    unchanged: int
    digits: int  # SHA-256 hex digits that tell every certificate of the report apart

    @property
    def summary(self) -> PlanSummary:
        return self.report.summary

    @property
    def deletions(self) -> tuple[ClusterChange, ...]:
        return tuple(change for change in self.changes if change.action in ("delete", "replace"))

    def short(self, sha256: str) -> str:
        return sha256[: self.digits]


def sources_from_bundles(bundles: Iterable[ClusterBundle]) -> dict[str, str]:
    """The `sources` of a StackReport from the bundles the plan was rendered with."""
    return {
        cert.sha256: source
        for bundle in bundles
        for cert, source in zip(bundle.certs, bundle.sources, strict=True)
    }


def day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fingerprint_digits(shas: Iterable[str]) -> int:
    """The shortest prefix, at least 16 hex digits, that no two distinct certificates share."""
    unique = sorted(set(shas))
    digits = MIN_FINGERPRINT_DIGITS
    while digits < 64 and any(a[:digits] == b[:digits] for a, b in itertools.pairwise(unique)):
        digits += 4
    return digits


class _Parser:
    """Parses each distinct bundle text once: a thousand clusters usually share a handful of bundles."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[tuple[CertInfo, ...], str | None]] = {}

    def __call__(self, pem: str | None, what: str) -> tuple[tuple[CertInfo, ...], str | None]:
        text = pem or ""
        if not text.strip():
            return (), None
        if text not in self._seen:
            try:
                self._seen[text] = (parse_certificates(text, what), None)
            except PemError as exc:
                self._seen[text] = ((), mask(str(exc)))
        return self._seen[text]


def _rows(
    old: tuple[CertInfo, ...], new: tuple[CertInfo, ...], sources: Mapping[str, str]
) -> tuple[CertRow, ...]:
    before = {cert.sha256 for cert in old}
    after = {cert.sha256 for cert in new}
    rows = [CertRow("kept" if c.sha256 in before else "added", c, sources.get(c.sha256)) for c in new]
    rows += [CertRow("removed", c, sources.get(c.sha256)) for c in old if c.sha256 not in after]
    return tuple(rows)


def _cluster_change(change: ResourceChange, report: StackReport, parse: _Parser) -> ClusterChange:
    old, old_problem = parse(change.old_pem, f"the CA bundle {change.cluster} trusts now")
    new, new_problem = parse(change.new_pem, f"the new CA bundle of {change.cluster}")
    if change.action == "forget":  # Terraform lets go; the cluster keeps trusting what it trusts
        new, new_problem = old, None
    return ClusterChange(
        change=change,
        rows=_rows(old, new, report.sources),
        users=tuple(report.users.get(change.cluster, ())),
        problem=new_problem or old_problem,
    )


def _group_key(item: ClusterChange) -> tuple[object, ...]:
    moved = item.change.old_id != item.change.new_id if item.action == "replace" else False
    return (item.action, moved, item.problem, tuple((row.state, row.cert.sha256) for row in item.rows))


_GROUP_ORDER: dict[Action, int] = {"replace": 0, "update": 1, "create": 2, "forget": 3}


def _groups(changes: Iterable[ClusterChange]) -> tuple[ChangeGroup, ...]:
    found: dict[tuple[object, ...], list[ClusterChange]] = {}
    for item in changes:
        if item.action in _GROUP_ORDER:
            found.setdefault(_group_key(item), []).append(item)
    groups = [ChangeGroup(members[0].action, tuple(members)) for members in found.values()]
    # Riskiest first; bigger groups first within an action, then by first cluster name: deterministic.
    groups.sort(key=lambda g: (_GROUP_ORDER[g.action], -len(g.clusters), g.clusters[0].cluster))
    return tuple(groups)


def _union(items: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(user for users in items for user in users))


def _cert_name(cert: CertInfo, source: str | None, digits: int) -> str:
    name = quoted(cert.subject_cn) if cert.subject_cn else printable(cert.subject) or "(empty subject)"
    where = f", {source}" if source else ""
    return f"CA {name} (sha256 {cert.sha256[:digits]}{where})"


def _expiry_alerts(trusted: list[tuple[str, CertInfo]], report: StackReport, digits: int) -> list[Alert]:
    by_cert: dict[str, tuple[CertInfo, list[str]]] = {}
    for cluster, cert in trusted:
        by_cert.setdefault(cert.sha256, (cert, []))[1].append(cluster)
    alerts: list[Alert] = []
    now = report.now.astimezone(UTC)
    for sha, (cert, clusters) in sorted(by_cert.items(), key=lambda item: (item[1][0].not_after, item[0])):
        name = _cert_name(cert, report.sources.get(sha), digits)
        if cert.not_after <= now:
            message = f"{name} expired on {minute(cert.not_after)}: no client can authenticate with it"
            kind: AlertKind = "expired"
            advice = "remove it from the stack"
        elif cert.not_after - now <= EXPIRY_WARNING:
            days = (cert.not_after - now).days
            message = f"{name} expires on {minute(cert.not_after)} (in {days} days)"
            kind = "expiring"
            advice = "rotate to a new issuer and reissue client certificates before then"
        else:
            continue
        clusters = sorted(set(clusters))
        users = _union(tuple(report.users.get(c, ())) for c in clusters)
        alerts.append(Alert(kind, message, tuple(clusters), users, sha, advice))
    return alerts


def _not_yet_valid_alerts(
    trusted: list[tuple[str, CertInfo]], report: StackReport, digits: int
) -> list[Alert]:
    now = report.now.astimezone(UTC)
    by_cert: dict[str, tuple[CertInfo, list[str]]] = {}
    for cluster, cert in trusted:
        if cert.not_before > now:
            by_cert.setdefault(cert.sha256, (cert, []))[1].append(cluster)
    alerts: list[Alert] = []
    for sha, (cert, clusters) in sorted(by_cert.items(), key=lambda item: (item[1][0].not_before, item[0])):
        name = _cert_name(cert, report.sources.get(sha), digits)
        message = f"{name} is not valid until {minute(cert.not_before)}: clients cannot use it before then"
        names = tuple(sorted(set(clusters)))
        users = _union(tuple(report.users.get(c, ())) for c in names)
        advice = "check the clock of the machine that made it, or wait before issuing from it"
        alerts.append(Alert("not_yet_valid", message, names, users, sha, advice))
    return alerts


def _duplicate_alerts(report: StackReport, digits: int) -> list[Alert]:
    by_copy: dict[tuple[str, str, str], tuple[CertInfo, list[str]]] = {}
    for cluster, duplicates in report.duplicates.items():
        for dup in duplicates:
            by_copy.setdefault((dup.cert.sha256, dup.source, dup.kept), (dup.cert, []))[1].append(cluster)
    alerts: list[Alert] = []
    for (sha, source, kept), (cert, clusters) in sorted(by_copy.items()):
        name = _cert_name(cert, None, digits)
        message = f"{name} from {source} is also in {kept}; kept once"
        advice = "trust it from one CA of the stack"
        alerts.append(Alert("duplicate_certificate", message, tuple(sorted(clusters)), (), sha, advice))
    return alerts


def _shrink_alerts(changes: Iterable[ClusterChange], report: StackReport, digits: int) -> list[Alert]:
    now = report.now.astimezone(UTC)
    by_removed: dict[tuple[str, ...], list[ClusterChange]] = {}
    for item in changes:
        if item.action in ("update", "replace") and item.change.new_pem is not None:
            # Dropping an expired CA locks nobody out: no certificate it signed is accepted anyway.
            removed = tuple(
                row.cert.sha256 for row in item.rows if row.state == "removed" and row.cert.not_after > now
            )
            if removed:
                by_removed.setdefault(removed, []).append(item)
    alerts: list[Alert] = []
    for removed, items in sorted(by_removed.items()):
        certs = [row for row in items[0].rows if row.cert.sha256 in removed and row.state == "removed"]
        names = ", ".join(_cert_name(row.cert, row.source, digits) for row in certs)
        message = (
            f"{names} leaves the bundle: clients holding certificates it signed can no longer authenticate"
        )
        if len(certs) > 1:
            message = f"{names} leave the bundle: clients holding certificates they signed can no longer authenticate"
        clusters = tuple(item.cluster for item in items)
        users = _union(i.users for i in items)
        advice = "reissue those certificates from a CA the cluster keeps before applying"
        alerts.append(Alert("bundle_shrinks", message, clusters, users, removed[0], advice))
    return alerts


_STATUS = {
    "PENDING": "a previous change of the CA is still in progress (status PENDING)",
    "FAILED": "the last change of the CA failed on the cluster (status FAILED); check the Cloud Console",
    "NOT_SET": "the cluster trusts no client CA right now (status NOT_SET); this plan sets it again",
}


def _adopted_alert(item: ClusterChange) -> Alert:
    """A cluster that trusts a CA no state tracks (curl, the Console, a create that timed out): imported
    first, then set as declared. What it trusts now leaves unless the stack declares it too."""
    leaving = [row for row in item.rows if row.state == "removed"]
    now = [row for row in item.rows if row.state != "added"]
    if not leaving:
        return Alert(
            "adopted",
            f"trusts {len(now)} CA certificate(s) that no state tracks; this plan imports them (nothing is dropped)",
            (item.cluster,),
        )
    subjects = ", ".join(printable(row.cert.subject) for row in leaving)
    return Alert(
        "adopted",
        f"trusts {len(now)} CA certificate(s) that no state tracks; this plan imports them and drops "
        f"{len(leaving)} the stack does not declare ({subjects})",
        (item.cluster,),
        item.users,
        advice="clients whose certificates those CAs signed can no longer connect; declare them (a pem_file CA) "
        "to keep them, or apply with --allow-replace-ca",
    )


def _guard_alerts(every: list[ClusterChange], report: StackReport) -> list[Alert]:
    """What guard_facts knows that the plan alone does not show: the Cloud side was not read, and
    clusters (not adopted by this plan: that alert says it) that lose CAs set by hand."""
    alerts: list[Alert] = []
    if not report.cloud_read and report.summary.error is None:
        alerts.append(
            Alert(
                "cloud_not_read",
                guard_facts.NOT_READ,
                advice=guard_facts.NOT_READ_ADVICE,
            )
        )
    adopted = {item.cluster for item in every if item.change.adopted}
    for item in every:
        subjects = report.hand_set.get(item.cluster, ())
        if not subjects or item.cluster in adopted:
            continue
        alerts.append(
            Alert(
                "hand_set_ca",
                f"trusts {len(subjects)} CA certificate(s) set outside roachcert that the stack does not "
                f"declare ({', '.join(printable(subject) for subject in subjects)}); this plan drops them",
                (item.cluster,),
                item.users,
                advice="clients whose certificates those CAs signed can no longer connect; declare them "
                "(a pem_file CA) to keep them, or apply with --allow-replace-ca",
            )
        )
    return alerts


def _other_alerts(every: list[ClusterChange], summary: PlanSummary) -> list[Alert]:
    alerts: list[Alert] = []
    for item in every:
        change = item.change
        if change.id_changed_in_place:
            alerts.append(
                Alert(
                    "id_moves_in_place",
                    f"the cluster id changes in place, {change.old_id} -> {change.new_id}: the provider "
                    f"would set the CA on {change.new_id} and leave it set on {change.old_id}",
                    (change.cluster,),
                    item.users,
                    advice="an id change must be a replacement (check the stack's own templates); do not apply this plan",
                )
            )
        if item.problem is not None:
            alerts.append(Alert("unreadable_bundle", item.problem, (change.cluster,)))
        if change.adopted:
            alerts.append(_adopted_alert(item))
    by_status: dict[str, list[str]] = {}
    for item in every:
        if item.change.status in _STATUS and item.action != "delete":
            by_status.setdefault(str(item.change.status), []).append(item.cluster)
    alerts += [Alert("status", _STATUS[status], tuple(names)) for status, names in sorted(by_status.items())]
    if summary.drift:
        names = tuple(address.rsplit(".", 1)[-1] for address in summary.drift)
        alerts.append(
            Alert(
                "drift",
                "the client CA was changed outside Terraform since the last apply",
                names,
                advice="this plan puts back what the stack declares",
                addresses=summary.drift,
            )
        )
    if summary.other_changes:
        alerts.append(
            Alert(
                "other_resources",
                "other resources change too (from the stack's own templates)",
                addresses=summary.other_changes,
            )
        )
    return alerts


def view(report: StackReport) -> StackView:
    """The report's changes grouped, every certificate read once, and what a reviewer must be warned of."""
    summary = report.summary
    parse = _Parser()
    every = [_cluster_change(change, report, parse) for change in summary.changes]
    changes = tuple(item for item in every if item.action != "no-op")
    shas = [row.cert.sha256 for item in every for row in item.rows]
    digits = fingerprint_digits(shas)
    trusted = [
        (item.cluster, row.cert)
        for item in every
        if item.action in ("create", "update", "replace", "no-op")
        for row in item.rows
        if row.state != "removed"
    ]
    alerts: list[Alert] = _guard_alerts(every, report)
    if summary.empty_stack and summary.error is None:
        alerts.append(
            Alert(
                "empty_stack",
                "the stack declares no clusters: this plan deletes every client CA the stack manages",
                tuple(item.cluster for item in changes if item.action == "delete"),
            )
        )
    others = _other_alerts(every, summary)
    alerts += [alert for alert in others if alert.kind == "id_moves_in_place"]
    alerts += _expiry_alerts(trusted, report, digits)
    alerts += _not_yet_valid_alerts(trusted, report, digits)
    alerts += _duplicate_alerts(report, digits)
    alerts += _shrink_alerts(changes, report, digits)
    alerts += [alert for alert in others if alert.kind != "id_moves_in_place"]
    return StackView(
        report=report,
        changes=changes,
        groups=_groups(changes),
        alerts=tuple(alerts),
        unchanged=len(every) - len(changes),
        digits=digits,
    )
