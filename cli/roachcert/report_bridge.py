"""Plan results → the structured reports (markdown for pull requests, json for tools)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from roachcert.names import raw_stack_name
from roachcert.plan_summary import PlanSummary
from roachcert.planning import PLAN_LOG
from roachcert.report_model import StackReport, sources_from_bundles


def stack_reports(results: Sequence[Any]) -> list[StackReport]:
    now = datetime.now(UTC)
    reports: list[StackReport] = []
    for result in results:
        name = raw_stack_name(result.path)
        plan = result.plan
        if plan is None:
            summary = PlanSummary(error=result.error or "the plan failed", stack=name)
            reports.append(StackReport(stack=name, summary=summary, now=now))
            continue
        stack = plan.stack
        reports.append(
            StackReport(
                stack=stack.name,
                summary=plan.summary,
                now=now,
                engine=plan.engine,
                provider_version=stack.terraform.provider_version,
                raw_plan=plan.plan_text,
                log=str(plan.workdir / PLAN_LOG),
                sources=sources_from_bundles(plan.bundles.values()),
                users={name: cluster.users for name, cluster in stack.clusters.items()},
            )
        )
    return reports


def render_structured(results: Sequence[Any], format: str) -> str:
    reports = stack_reports(results)
    if format == "json":
        from roachcert.report_json import render_json

        return render_json(reports)
    from roachcert.report_markdown import render_markdown

    return render_markdown(reports)
