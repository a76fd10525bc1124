"""`plan` of many stacks: each on a thread pool, each its StackPlan or StackFailure, in the order given;
an interrupt leaves no plan of the run for `apply`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from roachcert.errors import RoachcertError, SpecError
from roachcert.mask import Sink
from roachcert.names import raw_stack_name
from roachcert.paths import stack_dir
from roachcert.plan_record import PLAN_FILE, clear_plan_meta
from roachcert.planning import PlanOptions, PlanOutcome, StackFailure, plan_stack
from roachcert.progress import Progress


def plan_many(
    paths: Sequence[Path],
    options: PlanOptions,
    *,
    workers: int = 0,
    out: Sink | None = None,
    err: Sink,
) -> list[PlanOutcome]:
    """Plan every stack file, `workers` at once (0: one per CPU), results in the order given. A stack
    whose plan fails is a StackFailure, never an exception; an interrupt is one, and then no plan of
    this run stays for `apply` (none was shown). Progress lines go to `err` (None: the process's stderr)."""
    count = max(1, min(workers or os.cpu_count() or 2, len(paths)))
    try:
        with Progress(len(paths), "planning", err) as progress, ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(lambda path: _plan_one(path, options, progress, out), paths))
    except KeyboardInterrupt:
        _discard_plans(paths, options)  # the pool's workers have stopped: nothing writes a plan any more
        raise


def _plan_one(path: Path, options: PlanOptions, progress: Progress, out: Sink | None) -> PlanOutcome:
    name = raw_stack_name(path)
    try:
        result = plan_stack(path, options, out=out, progress=lambda step: progress.step(name, step))
    except SpecError as exc:
        progress.done(name, "error")
        return StackFailure(name, path, tuple(exc.problems), located=True, cloud_read=options.cloud_read)
    except RoachcertError as exc:
        progress.done(name, "error")
        return StackFailure(name, path, (str(exc),), cloud_read=options.cloud_read)
    outcome = "changes" if result.returncode == 2 else "no changes"
    progress.done(name, f"{outcome}, verified without Terraform" if result.verified else outcome)
    return result


def _discard_plans(paths: Sequence[Path], options: PlanOptions) -> None:
    for path in paths:
        with contextlib.suppress(RoachcertError, OSError):
            workdir = stack_dir(raw_stack_name(path), options.environ)
            clear_plan_meta(workdir)
            (workdir / PLAN_FILE).unlink(missing_ok=True)
