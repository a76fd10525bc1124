"""Plan outcomes (a stack's plan, or why it failed) → the `StackReport` every format is a view of."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from roachcert.names import raw_stack_name
from roachcert.plan_summary import PlanSummary
from roachcert.planning import PLAN_LOG, StackPlan
from roachcert.reports.model import StackReport, sources_from_bundles


class Outcome(Protocol):
    """One stack's plan result: the plan, or the problem (without the stack-name prefix) that stopped it."""

    @property
    def path(self) -> Path: ...
    @property
    def plan(self) -> StackPlan | None: ...
    @property
    def problem(self) -> str | None: ...


def stack_reports(outcomes: Sequence[Outcome], now: datetime | None = None) -> list[StackReport]:
    moment = now or datetime.now(UTC)
    reports: list[StackReport] = []
    for outcome in outcomes:
        name = raw_stack_name(outcome.path)
        plan = outcome.plan
        if plan is None:
            summary = PlanSummary(error=outcome.problem or "the plan failed", stack=name)
            reports.append(StackReport(stack=name, summary=summary, now=moment, path=str(outcome.path)))
            continue
        stack = plan.stack
        reports.append(
            StackReport(
                stack=stack.name,
                summary=plan.summary,
                now=moment,
                engine=plan.engine,
                provider_version=stack.terraform.provider_version,
                raw_plan=plan.plan_text,
                log=str(plan.workdir / PLAN_LOG),
                sources=sources_from_bundles(plan.bundles.values()),
                users={name: cluster.users for name, cluster in stack.clusters.items()},
                duplicates={name: b.duplicates for name, b in plan.bundles.items() if b.duplicates},
                path=str(outcome.path),
                source=str(stack.source) if stack.source is not None else stack.name,
                saved=plan.exit_code == 2,
            )
        )
    return reports
