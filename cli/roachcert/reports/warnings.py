"""The warning rules of a plan report: what a reviewer must be told (expiring or not-yet-valid CAs, a
bundle that shrinks, a cluster adopted or planned without reading the Cloud, drift, status, ids moving in
place). Pure; `model.view` asks `warnings_for` once per stack, so every format shows the same warnings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from roachcert import guard_facts
from roachcert.escape import printable, quoted
from roachcert.pem import EXPIRY_WARNING, CertInfo
from roachcert.plan_summary import PlanSummary
from roachcert.reports.types import Alert, AlertKind, ClusterChange, StackReport
from roachcert.reports.when import minute


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
    users = {item.cluster: item.users for item in every}
    for cluster in report.unseen_ca:
        alerts.append(
            Alert(
                "hand_set_ca",
                f"{guard_facts.UNSEEN_LINE}; this plan sets the declared bundle over it",
                (cluster,),
                users.get(cluster, ()),
                advice=guard_facts.UNSEEN_ADVICE,
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


def warnings_for(
    every: list[ClusterChange],
    changes: tuple[ClusterChange, ...],
    trusted: list[tuple[str, CertInfo]],
    report: StackReport,
    digits: int,
) -> tuple[Alert, ...]:
    """Every warning of one stack's report, most serious first."""
    summary = report.summary
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
    return tuple(alerts)
