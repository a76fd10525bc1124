"""How reports write a moment: a day, or a minute in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
