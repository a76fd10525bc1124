"""Placeholder until the markdown/json reports land."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_structured(results: Sequence[Any], format: str) -> str:
    from roachcert.reports import render_text

    return render_text(results)
