"""`plan --format markdown`: one section per stack, for a pull-request comment or the job summary.

Deletions come first and in full; the raw plan sits collapsed at the end. The whole text fits the limit
it is given (GitHub's comment limit, from the caller): the raw plan is cut first, then cluster ids beside
names, certificate tables, and long name lists, each time with a note saying what was cut and where the
full plan is. This module is that ladder; `markdown_section` draws a section at each rung. Pure: reports
in, masked text out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from roachcert.mask import Mask, without_environment
from roachcert.reports.markdown_section import Detail, draw_section, split_stacks, stack_marker, where_full
from roachcert.reports.model import StackReport, StackView, view

__all__ = ["render_markdown", "split_stacks", "stack_marker"]

_RESERVE = 400  # room kept per stack for the note about what was cut

# Least useful first: the raw plan, then the ids of clusters that keep a CA (they are in the full plan),
# then certificate tables, then long name lists; deletions stay named in full until the very end.
_LADDER = (
    Detail(raw=0),
    Detail(raw=0, ids=False),
    Detail(raw=0, ids=False, tables="removals"),
    Detail(raw=0, ids=False, tables="none"),
    Detail(raw=0, ids=False, tables="none", names=200),
    Detail(raw=0, ids=False, tables="none", names=20, deletion_ids=False),
)


def _fill(budget: int, wants: Sequence[int]) -> list[int]:
    """Shares of `budget` for each want: small wants in full, the rest split evenly."""
    shares = [0] * len(wants)
    left = max(budget, 0)
    order = sorted(range(len(wants)), key=lambda n: wants[n])
    for position, n in enumerate(order):
        shares[n] = min(wants[n], left // (len(order) - position))
        left -= shares[n]
    return shares


def _joined(sections: Sequence[str]) -> str:
    return "\n".join(sections)


Draw = Callable[[StackView, Detail, str, int], str]


def _shorter(views: Sequence[StackView], raws: Sequence[str], limit: int, draw: Draw) -> str:
    """Shorten the biggest section a step at a time, so a small stack beside a huge one keeps its detail."""
    levels = [0] * len(views)
    sections = [draw(v, _LADDER[0], raw, limit) for v, raw in zip(views, raws, strict=True)]
    while len(_joined(sections)) > limit:
        n = max(range(len(sections)), key=lambda n: len(sections[n]))
        if levels[n] + 1 == len(_LADDER):
            return _hard_cut(views, sections, limit)
        levels[n] += 1
        sections[n] = draw(views[n], _LADDER[levels[n]], raws[n], limit)
    # What room is left goes to the raw plans of the stacks shown in full, in place of the notes about them.
    spare = limit - len(_joined(sections)) - _RESERVE * len(views)
    shares = _fill(spare, [len(raw) if level == 0 else 0 for raw, level in zip(raws, levels, strict=True)])
    for n, share in enumerate(shares):
        if share > 0:
            fuller = draw(views[n], replace(_LADDER[0], raw=share), raws[n], limit)
            if len(_joined(sections)) - len(sections[n]) + len(fuller) <= limit:
                sections[n] = fuller
    return _joined(sections)


def _hard_cut(views: Sequence[StackView], sections: Sequence[str], limit: int) -> str:
    shares = _fill(limit - len(views), [len(section) for section in sections])
    out: list[str] = []
    for v, section, share in zip(views, sections, shares, strict=True):
        if len(section) > share:
            note = (
                f"\n\n> [!NOTE]\n> Cut here to fit GitHub's comment limit: the rest of this stack's report "
                f"({len(section) - share:,}+ characters) is left out. See {where_full(v.report)}.\n"
            )
            head = section[: max(share - len(note), 0)]
            section = head[: head.rfind(" ")] if " " in head[-100:] else head  # not in the middle of a name
            section += note
        out.append(section[:share])
    return _joined(out)


def render_markdown(
    reports: Sequence[StackReport], *, limit: int | None = None, mask: Mask = without_environment
) -> str:
    """The plan of each stack as Markdown within `limit` characters (None: in full). Masked before it is
    cut to fit: a secret cut in two would no longer be found, and the mask changes the length."""
    if not reports:
        return "### roachcert plan\n\nNo stacks were planned.\n"
    views = [view(report) for report in reports]
    raws = [mask(v.report.raw_plan or v.summary.raw) for v in views]

    def draw(v: StackView, detail: Detail, raw: str, limit: int) -> str:
        # Each section is masked as drawn: what is measured, shortened and cut is the masked text.
        return mask(draw_section(v, detail, raw, limit))

    if limit is None:
        return _joined([draw(v, Detail(), raw, 0) for v, raw in zip(views, raws, strict=True)])
    text = _joined([draw(v, Detail(), raw, limit) for v, raw in zip(views, raws, strict=True)])
    if len(text) > limit:
        text = _shorter(views, raws, limit, draw)
    return text if len(text) <= limit else text[:limit]
