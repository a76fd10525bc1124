"""What a command body takes from its run: the run's Runtime (which `app.run` hands it as the click
context's object) and the plan options built from it and the command's flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roachcert.runtime import Runtime, of

if TYPE_CHECKING:
    from roachcert.planning import PlanOptions

__all__ = ["Runtime", "of", "plan_options"]


def plan_options(
    run: Runtime, lock_timeout: float, cloud_read: bool, wait_pending: str, engine: str | None
) -> PlanOptions:
    """What `plan`, `apply` (when it plans first) and `adopt` take from their flags and their run."""
    from roachcert.commands.args import duration_seconds
    from roachcert.planning import PlanOptions  # planning loads the stack models: only a plan needs it

    return PlanOptions(
        environ=run.environ,
        adapters=run.real_or_given(),
        lock_timeout=lock_timeout,
        cloud_read=cloud_read,
        wait_pending=duration_seconds(wait_pending, "--wait-pending"),
        engine=engine,
        note=run.err,
    )
