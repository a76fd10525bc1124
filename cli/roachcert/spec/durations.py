"""Durations as Vault writes them (`48h`, `8760h`, `30d`), kept with their text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhd])")
_WHOLE = re.compile(r"^(?:\d+[smhd])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# No certificate in a stack lives longer; bigger numbers only overflow date arithmetic later.
MAX_SECONDS = 100 * 365 * 86400


@dataclass(frozen=True, order=True)
class Duration:
    seconds: int
    text: str

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def vault(self) -> str:
        """Vault's Go-style parser has no `d`; hand it seconds-exact hours."""
        if self.seconds % 3600 == 0:
            return f"{self.seconds // 3600}h"
        return f"{self.seconds}s"

    def __str__(self) -> str:
        return self.text


def parse_duration(value: object) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str) or not _WHOLE.match(value.strip()):
        raise ValueError(f"{value!r} is not a duration; write it like 48h, 8760h, 30d or 90m")
    text = value.strip()
    parts = _PART.findall(text)
    if any(len(number) > 12 for number, _ in parts):  # int() of thousands of digits is slow, then refused
        seconds = MAX_SECONDS + 1
    else:
        seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds > MAX_SECONDS:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"{shown!r} is longer than 100 years (876000h); write a shorter duration")
    if seconds <= 0:
        raise ValueError(f"{text!r} is zero; a duration must be longer than zero, like 48h")
    return Duration(seconds=seconds, text=text)
