"""`roachcert plan STACK…|DIR`: plan one or many stacks; exit 0 no changes, 2 changes, 1 error."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.args import DEFAULT_LOCK_TIMEOUT, EngineOpt, LockTimeoutOpt, lock_timeout_seconds
from roachcert.errors import RoachcertError, SpecError
from roachcert.escape import printable_lines
from roachcert.exit_status import ExitStatus
from roachcert.mask import mask
from roachcert.names import raw_stack_name, stack_name


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


@dataclass(frozen=True)
class StackResult:
    path: Path
    plan: object | None  # planning.StackPlan
    error: str | None


def stack_files(targets: list[Path]) -> list[Path]:
    """Stack files from the arguments: files as given, folders by their *.yaml / *.yml files."""
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            found = sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
            if not found:
                raise RoachcertError(f"{target}: no stack files (*.yaml) in this folder")
            files.extend(found)
        elif target.exists():
            files.append(target)
        else:
            raise RoachcertError(f"{target}: no such stack file or folder")
    # Checked before any stack is planned: a file name that is not a stack name stops the run.
    names = [stack_name(path) for path in files]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RoachcertError(f"two stack files are named {twice[0]}: stack names must be unique")
    return files


def plan(
    targets: Annotated[
        list[Path], typer.Argument(help="Stack files, or folders of them.", show_default=False)
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="text, markdown (for a PR) or json.")
    ] = "text",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to FILE instead of stdout.")
    ] = None,
    parallelism: Annotated[
        int, typer.Option("--parallelism", "-p", min=0, help="Stacks planned at once (default: CPU count).")
    ] = 0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Stream Terraform's output (one stack).")
    ] = False,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    engine: EngineOpt = None,
) -> None:
    """Render each stack and run terraform plan; save the plan for `apply`. Exit 2 when there are changes."""
    from roachcert.progress import Progress
    from roachcert.reports import render_report

    if format not in ("text", "markdown", "json"):
        raise RoachcertError(f"--format {format}: use text, markdown or json")
    files = stack_files(targets)
    workers = min(parallelism or os.cpu_count() or 2, len(files))
    stream = sys.stderr if verbose and len(files) == 1 else None
    wait = lock_timeout_seconds(lock_timeout)
    try:
        with Progress(len(files), "planning") as progress, ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda path: _plan_one(path, progress, stream, wait, engine), files))
    except KeyboardInterrupt:
        _discard_plans(files)
        raise
    for result in results:
        if result.error is not None:
            typer.echo(printable_lines(mask(result.error)), err=True)
    report = render_report(results, format)
    if out is not None:
        from roachcert.workdir import atomic_write

        atomic_write(out, report)
        typer.echo(f"report written to {out}", err=True)
    else:
        typer.echo(report, nl=False)
    _step_summary(results, format, report)
    raise typer.Exit(_exit_code(results))


def _discard_plans(files: list[Path]) -> None:
    """Interrupted: no plan of this run was shown, so none may stay for `apply` (the workers are done)."""
    import contextlib

    from roachcert.paths import stack_dir
    from roachcert.planning import PLAN_FILE
    from roachcert.workdir import clear_plan_meta

    for path in files:
        with contextlib.suppress(RoachcertError, OSError):
            workdir = stack_dir(path.name.removesuffix(".yaml").removesuffix(".yml"))
            clear_plan_meta(workdir)
            (workdir / PLAN_FILE).unlink(missing_ok=True)


def _plan_one(
    path: Path, progress: object, stream: object, lock_timeout: float, engine: str | None = None
) -> StackResult:
    from roachcert.planning import plan_stack
    from roachcert.progress import Progress

    assert isinstance(progress, Progress)
    name = raw_stack_name(path)
    try:
        result = plan_stack(
            path,
            out=stream,  # type: ignore[arg-type]
            progress=lambda step: progress.step(name, step),
            lock_timeout=lock_timeout,
            engine=engine,
        )
    except SpecError as exc:
        progress.done(name, "error")
        return StackResult(path, None, "\n".join(exc.problems))
    except RoachcertError as exc:
        progress.done(name, "error")
        return StackResult(path, None, f"{name}: {exc}")
    progress.done(name, "changes" if result.exit_code == 2 else "no changes")
    return StackResult(path, result, None)


def _exit_code(results: list[StackResult]) -> ExitStatus:
    if any(result.error for result in results):
        return ExitStatus.ERROR
    if any(getattr(result.plan, "exit_code", 0) == 2 for result in results):
        return ExitStatus.CHANGES
    return ExitStatus.OK


def _step_summary(results: list[StackResult], format: str, report: str) -> None:
    """In GitHub Actions, the markdown report also goes to the job's summary page."""
    if not os.environ.get("GITHUB_STEP_SUMMARY"):
        return
    from roachcert.github import GitHubError, append_step_summary
    from roachcert.reports import render_report

    try:
        append_step_summary(report if format == "markdown" else render_report(results, "markdown"))
    except GitHubError as exc:  # the plan itself stands; its exit code must not change
        typer.echo(f"warning: {exc}", err=True)
