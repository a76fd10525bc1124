"""What a plan report says before it is formatted: certificate rows, grouped changes, warnings. Pure.

The one view model of the reports: `text`, `markdown` and `json_doc` format a `StackView`; none reads a
certificate itself, so a warning found here shows in every format. The types are in `reports.types`, the
warning rules in `reports.warnings`; both are re-exported here for the formats.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from roachcert.errors import PemError
from roachcert.mask import without_environment
from roachcert.pem import CertInfo, parse_certificates
from roachcert.plan_summary import Action, ResourceChange
from roachcert.reports.types import (
    CAUTION_KINDS,
    MIN_FINGERPRINT_DIGITS,
    Alert,
    AlertKind,
    CertRow,
    ChangeGroup,
    ClusterChange,
    RowState,
    StackReport,
    StackView,
)
from roachcert.reports.warnings import warnings_for
from roachcert.reports.when import day, minute

if TYPE_CHECKING:
    from roachcert.bundles import ClusterBundle

__all__ = [
    "CAUTION_KINDS",
    "Alert",
    "AlertKind",
    "CertRow",
    "ChangeGroup",
    "ClusterChange",
    "RowState",
    "StackReport",
    "StackView",
    "day",
    "fingerprint_digits",
    "minute",
    "sources_from_bundles",
    "view",
]


def sources_from_bundles(bundles: Iterable[ClusterBundle]) -> dict[str, str]:
    """The `sources` of a StackReport from the bundles the plan was rendered with."""
    return {
        cert.sha256: source
        for bundle in bundles
        for cert, source in zip(bundle.certs, bundle.sources, strict=True)
    }


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
                # A certificate bundle carries no environment secret; a private key pasted in is cut here.
                self._seen[text] = ((), without_environment(str(exc)))
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
    alerts = warnings_for(every, changes, trusted, report, digits)
    return StackView(
        report=report,
        changes=changes,
        groups=_groups(changes),
        alerts=alerts,
        unchanged=len(every) - len(changes),
        digits=digits,
    )
