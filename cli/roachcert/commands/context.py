"""What a command body takes from its run: the runtime (output with masking at the sink) and the
adapters it opens, the real ones unless the run was given others (a test's fakes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roachcert.runtime import Runtime, current

if TYPE_CHECKING:
    from roachcert.adapters import Adapters
    from roachcert.planning import PlanOptions


def runtime() -> Runtime:
    return current()


def adapters() -> Adapters:
    from roachcert.adapters import (
        REAL,  # the adapters import hvac and requests: only a command that runs needs them
    )

    return current().adapters or REAL


def plan_options(lock_timeout: float, cloud_read: bool, wait_pending: str, engine: str | None) -> PlanOptions:
    """What `plan`, `apply` (when it plans first) and `adopt` take from their flags and their run."""
    from roachcert.commands.args import duration_seconds
    from roachcert.planning import PlanOptions  # planning loads the stack models: only a plan needs it

    return PlanOptions(
        lock_timeout,
        cloud_read,
        duration_seconds(wait_pending, "--wait-pending"),
        engine=engine,
        adapters=adapters(),
        note=runtime().err,
    )
