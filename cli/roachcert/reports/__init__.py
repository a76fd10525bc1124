"""Plan reports: one view model (`model`), three views of it (`text`, `markdown`, `json_doc`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from roachcert.mask import Mask, without_environment
from roachcert.reports.json_doc import render_json
from roachcert.reports.markdown import render_markdown
from roachcert.reports.model import StackReport, view
from roachcert.reports.text import render_text

Format = Literal["text", "markdown", "json"]
_FORMATS: dict[str, Format] = {"text": "text", "markdown": "markdown", "json": "json"}


def as_format(name: str) -> Format | None:
    """The report format called `name`, or None for a name that is none."""
    return _FORMATS.get(name)


def render(
    reports: Sequence[StackReport],
    format: Format,
    *,
    limit: int | None = None,
    mask: Mask = without_environment,
) -> str:
    """The report of every stack's plan in `format`; markdown within `limit` characters. (The plan's
    producer makes the StackReports: planning.stack_reports.) `mask` is the run's: it is applied where
    a value is encoded or cut (JSON strings, markdown before it is fitted), and the sink the report is
    written to masks it once more; the text report is masked by its sink alone."""
    if format == "json":
        return render_json(reports, mask=mask)
    if format == "markdown":
        return render_markdown(reports, limit=limit, mask=mask)
    return render_text([view(report) for report in reports])
