"""Plan reports: one view model (`model`), three views of it (`text`, `markdown`, `json_doc`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from roachcert.mask import mask
from roachcert.reports.json_doc import render_json
from roachcert.reports.markdown import render_markdown
from roachcert.reports.model import StackReport, view
from roachcert.reports.text import render_text

Format = Literal["text", "markdown", "json"]
_FORMATS: dict[str, Format] = {"text": "text", "markdown": "markdown", "json": "json"}


def as_format(name: str) -> Format | None:
    """The report format called `name`, or None for a name that is none."""
    return _FORMATS.get(name)


def render(reports: Sequence[StackReport], format: Format, *, limit: int | None = None) -> str:
    """The report of every stack's plan in `format`, secrets masked; markdown within `limit` characters.
    (The plan's producer makes the StackReports: planning.stack_reports.)"""
    if format == "json":
        return mask(render_json(reports))
    if format == "markdown":
        return mask(render_markdown(reports, limit=limit))
    return mask(render_text([view(report) for report in reports]))
