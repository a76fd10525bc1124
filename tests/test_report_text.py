"""`plan --format text`: each stack's summary, the saved-plan line, its warnings, and the multi-stack table."""

from __future__ import annotations

from dataclasses import replace

import report_cases as rc
from roachcert.reports.model import StackReport, view
from roachcert.reports.text import render_text, table


def _saved(report: StackReport, path: str) -> StackReport:
    return replace(report, saved=True, path=path, source=path)


def test_a_stack_with_changes_says_where_its_plan_is_saved() -> None:
    [report] = rc.case_create()
    text = render_text([view(_saved(report, "stacks/prod.yaml"))])
    assert text.startswith("stack prod: ")
    fingerprint = report.summary.fingerprint[:16]
    assert (
        f"Plan saved ({rc.ENGINE}); fingerprint {fingerprint}. Apply it with: roachcert apply stacks/prod.yaml\n"
    ) in text
    assert "stack  result" not in text  # one stack: no table


def test_a_stack_without_changes_has_no_apply_line() -> None:
    text = render_text([view(report) for report in rc.case_no_op()])
    assert "No changes" in text
    assert "Plan saved" not in text


def test_a_failed_stack_is_left_to_stderr() -> None:
    assert render_text([view(report) for report in rc.case_failed()]) == ""


def test_an_expiring_ca_is_warned_with_its_clusters() -> None:
    [report] = rc.case_rotation_grow()  # 2025 expires on 2026-03-20, 19 days after the plan
    text = render_text([view(report)])
    warned = [line for line in text.splitlines() if line.startswith("warning: ")]
    assert warned, text
    assert any("expires on 2026-03-20" in line for line in warned)


def test_multi_stack_table_lists_every_stack_in_order_with_its_counts() -> None:
    staging, prod = rc.case_multi_stack()
    views = [
        view(_saved(staging, "stacks/staging.yaml")),
        view(replace(prod, path="stacks/prod.yaml")),
        view(replace(rc.case_failed()[0], path="stacks/broken.yaml")),
    ]
    assert table(views) == (
        "stack                result      create  update  replace  delete\n"
        "stacks/staging.yaml  changes     1       0       0        0\n"
        "stacks/prod.yaml     no changes  0       0       0        0\n"
        "stacks/broken.yaml   error       -       -       -        -\n"
    )
    assert render_text(views).endswith(table(views))
