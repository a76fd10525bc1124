"""`plan --format text`: the terminal report of each stack, then a table when there are several."""

from __future__ import annotations

from collections.abc import Sequence

from roachcert.escape import printable
from roachcert.plan_summary import format_text
from roachcert.reports.model import AlertKind, StackView

# Warnings the terminal summary does not already say in its own words (a status tag names no next step).
_WARNED: frozenset[AlertKind] = frozenset(
    {"expired", "expiring", "not_yet_valid", "duplicate_certificate", "status", "hand_set_ca"}
)


def render_text(views: Sequence[StackView]) -> str:
    parts: list[str] = []
    for v in views:
        if v.summary.error is not None:
            continue  # errors go to stderr, as lines of their own
        parts += [f"WARNING: {a.message}; {a.advice}\n" for a in v.alerts if a.kind == "cloud_not_read"]
        parts.append(format_text(v.summary))
        if v.report.verified:
            parts.append(
                f"{printable(v.report.verified)} (terraform plan did not run; plan --full runs it)\n"
            )
        if v.report.saved:
            parts.append(
                f"Plan saved ({printable(v.report.engine)}); fingerprint {printable(v.summary.fingerprint[:16])}. "
                f"Apply it with: roachcert apply {printable(v.report.source)}"
                + ("\n" if v.report.cloud_read else " --allow-unread-cloud (the Cloud side was not read)\n")
            )
        for alert in v.alerts:
            if alert.kind in _WARNED:
                advice = f"; {printable(alert.advice)}" if alert.advice else ""
                clusters = ", ".join(map(printable, alert.clusters))
                parts.append(f"warning: {clusters}: {printable(alert.message)}{advice}\n")
    if len(views) > 1:
        parts.append(table(views))
    return "\n".join(parts)


def table(views: Sequence[StackView]) -> str:
    """One row per stack: its file, what came of its plan, and the counts of changes."""
    rows = []
    for v in views:
        if v.summary.error is not None:
            rows.append((printable(v.report.path), "error", "-", "-", "-", "-"))
            continue
        counts = v.summary.counts
        outcome = "changes" if v.report.saved else "no changes"
        rows.append(
            (
                printable(v.report.path),
                outcome,
                str(counts["create"]),
                str(counts["update"]),
                str(counts["replace"]),
                str(counts["delete"]),
            )
        )
    header = ("stack", "result", "create", "update", "replace", "delete")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"
