"""Every text from outside that can reach a plan report (issue 26.5) goes through the one escape at the sink:
each string field of the changes, the summary and the report is set to control characters, line breaks, bidi
and zero-width characters, and neither the text report (what an operator reads before approving) nor the
markdown one holds any of them raw or a forged line; the JSON report stays JSON with them escaped."""

from __future__ import annotations

import dataclasses
import json
import typing
import unicodedata
from typing import Any

import pytest

import report_cases as rc
from roachcert.plan_summary import PlanSummary, ResourceChange, format_text
from roachcert.reports import render
from roachcert.reports.model import StackReport

EVIL = "Evil\x1b[2J\x1b]0;pwned\x07\r\nNo changes: fake\u202e\u200b\ufeff\x85\u2028|<b>x</b>"
FORGED = "No changes: fake"
# Terraform's own output keeps its line breaks (a block, fenced or under `--- raw plan output ---`).
EVIL_BLOCK = EVIL.replace("\n", " ")


def _hostile(value: Any, hint: Any) -> Any:
    """`value` with each text in it replaced by EVIL (texts in tuples and mappings too)."""
    text = str(hint)
    if isinstance(value, str) or (
        value is None and "str" in text and "tuple" not in text and "Mapping" not in text
    ):
        return EVIL
    if isinstance(value, tuple) and "str" in text:
        return (EVIL, *value) if value and not isinstance(value[0], str) else (EVIL,)
    return value


def evil(item: Any, keep: tuple[str, ...] = ()) -> Any:
    changes = {
        field.name: _hostile(getattr(item, field.name), field.type)  # the annotation's text
        for field in dataclasses.fields(item)
        if field.name not in keep
    }
    return dataclasses.replace(item, **changes)


def hostile_reports() -> list[StackReport]:
    """Two stacks: one with every action (the PEMs and actions kept, every other text hostile), one failed."""
    changes = [
        rc.change("alpha", "create", new=["2025"]),
        rc.change("bravo", "update", old=["2025"], new=["2025", "2026a"], status="PENDING"),
        rc.change(
            "charlie", "replace", old=["2025"], new=["2026a"], new_id="11111111-2222-4333-8444-555555555555"
        ),
        rc.change("delta", "delete", old=["2025"]),
        rc.change("echo", "forget", old=["2025"]),
        dataclasses.replace(rc.change("foxtrot", "no-op", old=["2025"], new=["2025"]), adopted=True),
    ]
    hostile = [evil(change, keep=("action", "old_pem", "new_pem", "adopted")) for change in changes]
    good = rc.report(changes)
    summary = evil(
        dataclasses.replace(good.summary, changes=tuple(hostile), other_changes=("x",), drift=("y",)),
        keep=("changes", "fingerprint", "error", "raw", "empty_stack"),
    )
    report = evil(dataclasses.replace(good, summary=summary, saved=True), keep=("summary", "now", "saved"))
    report = dataclasses.replace(
        report,
        raw_plan=EVIL_BLOCK,
        sources={sha: EVIL for sha in good.sources},
        users={EVIL: (EVIL,), **{name: (EVIL,) for name in good.users}},
    )
    failed = dataclasses.replace(
        rc.report([]), summary=PlanSummary(error=EVIL, raw=EVIL_BLOCK, stack=EVIL), stack=EVIL, path=EVIL
    )
    return [report, failed]


def assert_no_raw_character(text: str, allowed: str = "\n") -> None:
    raw = sorted({char for char in text if not char.isprintable() and char not in allowed})
    assert not raw, f"raw {[unicodedata.name(c, hex(ord(c))) for c in raw]} in:\n{text}"
    forged, fenced = [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")  # a fenced block shows an error or Terraform's output as laid out
        if not fenced and line.lstrip("> |").startswith(FORGED):
            forged.append(line)
    assert not forged, forged


def test_every_field_is_hostile_in_the_fixture() -> None:
    [report, _] = hostile_reports()
    assert all(change.cluster == EVIL for change in report.summary.changes)
    assert report.summary.changes[1].status == EVIL
    assert report.engine == EVIL
    assert report.summary.drift == (EVIL,)


@pytest.mark.parametrize("format", ["text", "markdown"])
def test_text_reports_escape_every_field_from_outside(format: typing.Literal["text", "markdown"]) -> None:
    output = render(hostile_reports(), format)
    assert "\\x1b" in output
    assert_no_raw_character(output)


def test_the_terminal_summary_escapes_every_field() -> None:
    """What `plan` and `apply` print before asking to apply (format_text), failed stack included."""
    for report in hostile_reports():
        assert_no_raw_character(format_text(report.summary))


def test_the_json_report_keeps_every_field_json_escaped() -> None:
    """JSON escapes what JSON must (every character below U+0020); a parser gets the texts back whole."""
    output = render(hostile_reports(), "json")
    assert not [char for char in output if ord(char) < 0x20 and char != "\n"]
    assert [stack["stack"] for stack in json.loads(output)["stacks"]] == [EVIL, EVIL]


def test_a_change_has_no_text_field_the_fixture_misses() -> None:
    """A new text field of ResourceChange is hostile here too (evil() reads the fields), unless kept."""
    texts = {
        f.name
        for f in dataclasses.fields(ResourceChange)
        if "str" in str(typing.get_type_hints(ResourceChange)[f.name])
    }
    assert texts == {"address", "cluster", "old_id", "new_id", "old_pem", "new_pem", "status", "reason"}
