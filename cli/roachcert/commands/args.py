"""Arguments and choices shared by several commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

StackArg = Annotated[
    Path, typer.Argument(metavar="STACK", help="The stack file (stacks/NAME.yaml).", show_default=False)
]


class Format(StrEnum):
    text = "text"
    json = "json"


# Every command with a text or JSON output takes it the same way; JSON is one document on stdout.
FormatOpt = Annotated[
    Format, typer.Option("--format", help="text, or json (one document on stdout, for scripts).")
]


# -- --lock-timeout: how long to wait for another run's lock (roachcert's own locks, and Terraform's
# state lock, which terraform.for_stack passes on as whole seconds).
DEFAULT_LOCK_TIMEOUT = "5s"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Terraform and OpenTofu read -lock-timeout as a Go duration: at most 2562047h47m16s (int64 nanoseconds).
MAX_WAIT_SECONDS = 2562047 * 3600


def duration_seconds(text: str, flag: str) -> float:
    """`10`, `10s`, `500ms`, `2m`, `1m30s` → seconds; anything else, or more than the engine's longest
    wait (MAX_WAIT_SECONDS, about 292 years), is a one-line error naming `flag`."""
    import math
    import re

    from roachcert.errors import RoachcertError

    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
        if not parts or "".join(number + unit for number, unit in parts) != value:
            raise RoachcertError(f"{flag} {text}: give seconds (10) or a duration (10s, 500ms, 2m, 1m30s)")
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds > MAX_WAIT_SECONDS:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise RoachcertError(
            f"{flag} {shown}: longer than the longest wait Terraform accepts (2562047h, {MAX_WAIT_SECONDS:,} seconds); "
            "give a shorter wait"
        )
    return seconds


def lock_timeout_seconds(text: str) -> float:
    return duration_seconds(text, "--lock-timeout")


def _check_lock_timeout(value: str) -> str:
    lock_timeout_seconds(value)
    return value


LockTimeoutOpt = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        help="How long to wait for another run holding this stack's lock (seconds, or 30s, 2m).",
        callback=_check_lock_timeout,
    ),
]


# -- the Cloud-side reads of plan (and of apply --auto-approve) ----------------------------------------
def _check_wait_pending(value: str) -> str:
    duration_seconds(value, "--wait-pending")
    return value


WaitPendingOpt = Annotated[
    str,
    typer.Option(
        "--wait-pending",
        help="Wait this long for clusters whose client CA change is PENDING (default: stop at once).",
        callback=_check_wait_pending,
    ),
]
CloudReadOpt = Annotated[
    bool,
    typer.Option(
        "--cloud-read/--no-cloud-read",
        help="Read each cluster's CA from the Cloud API first: adopt hand-set CAs, stop on PENDING, "
        "and let apply catch Cloud-side edits (--no-cloud-read skips all three; every report says so, "
        "and apply refuses such a plan without --allow-unread-cloud).",
    ),
]


def _check_engine(value: str | None) -> str | None:
    from roachcert.errors import RoachcertError

    if value is not None and value not in ("terraform", "tofu"):
        raise RoachcertError(f"--engine {value}: use terraform or tofu")
    return value


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="terraform or tofu (OpenTofu); overrides the stack's terraform.engine.",
        callback=_check_engine,
        show_default=False,
    ),
]
