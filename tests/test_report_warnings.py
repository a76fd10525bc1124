"""Every certificate warning shows in all three report formats, read from the one view model."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import report_cases as rc
from roachcert.bundles import Duplicate
from roachcert.github import COMMENT_LIMIT
from roachcert.pem import cert_info
from roachcert.planning import StackFailure, stack_reports
from roachcert.reports import render
from roachcert.reports.json_doc import render_json
from roachcert.reports.markdown import render_markdown
from roachcert.reports.model import StackReport, view
from roachcert.reports.text import render_text

# 2026b is valid from 2026-02-20: planned ten days before, its clock warning is due.
BEFORE_2026B = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def _three(report: StackReport) -> tuple[str, str, dict[str, object]]:
    text = render_text([view(report)])
    markdown = render_markdown([report], limit=COMMENT_LIMIT)
    document = json.loads(render_json([report]))
    return text, markdown, document


def _kinds(document: dict[str, object]) -> list[str]:
    stacks = document["stacks"]
    assert isinstance(stacks, list)
    return [warning["kind"] for warning in stacks[0]["warnings"]]


def test_certificate_not_yet_valid_is_warned_in_text_markdown_and_json() -> None:
    base = rc.report([rc.change("crafty-cranes", "create", new=["2026b"])])
    report = replace(base, now=BEFORE_2026B)
    text, markdown, document = _three(report)
    assert "not_yet_valid" in _kinds(document)
    assert "is not valid until 2026-02-20 00:00 UTC" in markdown
    assert "warning: crafty-cranes: CA" in text
    assert "is not valid until 2026-02-20 00:00 UTC" in text


def test_no_clock_warning_once_the_certificate_is_valid() -> None:
    report = rc.report([rc.change("crafty-cranes", "create", new=["2026b"])])
    text, markdown, document = _three(report)
    assert "not_yet_valid" not in _kinds(document)
    assert "not valid until" not in markdown + text


def test_certificate_kept_once_is_warned_in_text_markdown_and_json() -> None:
    legacy = cert_info(rc.ca_pem("legacy"))
    dup = Duplicate(legacy, "partner-ca/partner.pem", "legacy-ca/legacy-ca.pem")
    base = rc.report([rc.change("flooping-frogs", "update", old=["2026a"], new=["2026a", "legacy"])])
    report = replace(base, duplicates={"flooping-frogs": (dup,)})
    text, markdown, document = _three(report)
    assert _kinds(document).count("duplicate_certificate") == 1
    stack = document["stacks"]
    assert isinstance(stack, list)
    warning = next(w for w in stack[0]["warnings"] if w["kind"] == "duplicate_certificate")
    assert (warning["clusters"], warning["sha256"]) == (["flooping-frogs"], legacy.sha256)
    said = "from partner-ca/partner.pem is also in legacy-ca/legacy-ca.pem; kept once"
    assert said in markdown
    assert said in text
    assert "warning: flooping-frogs: " in text


def test_a_failed_plan_reports_its_problem_without_the_stack_prefix(tmp_path: Path) -> None:
    failed = StackFailure("prod", tmp_path / "prod.yaml", ("terraform init failed (exit 3)",))
    assert failed.error == "prod: terraform init failed (exit 3)"  # the terminal line keeps it
    document = json.loads(render(stack_reports([failed]), "json"))
    assert document["stacks"][0]["error"] == "terraform init failed (exit 3)"
    assert document["stacks"][0]["status"] == "failed"


def test_a_spec_problem_keeps_its_own_location(tmp_path: Path) -> None:
    problem = f"{tmp_path / 'prod.yaml'}:3: clusters.x: unknown field"
    failed = StackFailure("prod", tmp_path / "prod.yaml", (problem,), located=True)
    assert failed.error == problem
    [report] = stack_reports([failed])
    assert report.summary.error == problem
