"""Plan results → the chosen report format (text for terminals, markdown for PRs, json for tools)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from roachcert.mask import mask


class Result(Protocol):
    @property
    def path(self) -> Any: ...
    @property
    def plan(self) -> Any: ...  # planning.StackPlan | None
    @property
    def error(self) -> str | None: ...


def render_report(results: Sequence[Result], format: str) -> str:
    if format == "text":
        return mask(render_text(results))
    from roachcert.report_bridge import render_structured

    return mask(render_structured(results, format))


def render_text(results: Sequence[Result]) -> str:
    from roachcert.plan_summary import format_text

    parts: list[str] = []
    for result in results:
        if result.error is not None:
            continue  # errors go to stderr, as lines of their own
        plan = result.plan
        parts.append(format_text(plan.summary))
        if plan.exit_code == 2:
            parts.append(
                f"Plan saved ({plan.engine}); fingerprint {plan.summary.fingerprint[:16]}. "
                f"Apply it with: roachcert apply {plan.stack.source}\n"
            )
        for bundle in plan.bundles.values():
            for warning in bundle.warnings:
                parts.append(f"warning: {bundle.cluster}: {warning}\n")
    if len(results) > 1:
        parts.append(_table(results))
    return "\n".join(parts)


def _table(results: Sequence[Result]) -> str:
    rows = []
    for result in results:
        name = str(result.path)
        if result.error is not None:
            rows.append((name, "error", "-", "-", "-", "-"))
            continue
        counts = result.plan.summary.counts
        outcome = "changes" if result.plan.exit_code == 2 else "no changes"
        rows.append(
            (
                name,
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
