"""`roachcert plan STACK…|DIR`: plan one or many stacks; exit 0 no changes, 2 changes, 1 error."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roachcert.commands.args import (
    DEFAULT_LOCK_TIMEOUT,
    CloudReadOpt,
    EngineOpt,
    LockTimeoutOpt,
    WaitPendingOpt,
    duration_seconds,
    lock_timeout_seconds,
)
from roachcert.errors import RoachcertError, SpecError
from roachcert.escape import printable_lines
from roachcert.exit_status import ExitStatus
from roachcert.mask import mask
from roachcert.names import raw_stack_name, stack_name

if TYPE_CHECKING:
    from roachcert.planning import PlanOptions, StackPlan


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


@dataclass(frozen=True)
class StackResult:
    path: Path
    plan: StackPlan | None
    problem: str | None  # why the plan failed, without the stack-name prefix (the JSON `error`)
    located: bool = False  # the problem names its own file:line (spec errors)

    @property
    def error(self) -> str | None:
        """The problem as a terminal line: prefixed with the stack name unless it names its file."""
        if self.problem is None or self.located:
            return self.problem
        return f"{raw_stack_name(self.path)}: {self.problem}"


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
    wait_pending: WaitPendingOpt = "0s",
    cloud_read: CloudReadOpt = True,
    engine: EngineOpt = None,
) -> None:
    """Render each stack and run terraform plan; save the plan for `apply`. Exit 2 when there are changes."""
    from roachcert.github import COMMENT_LIMIT
    from roachcert.progress import Progress
    from roachcert.reports import as_format, render

    chosen = as_format(format)
    if chosen is None:
        raise RoachcertError(f"--format {format}: use text, markdown or json")
    files = stack_files(targets)
    workers = min(parallelism or os.cpu_count() or 2, len(files))
    stream = sys.stderr if verbose and len(files) == 1 else None
    from roachcert.planning import PlanOptions

    options = PlanOptions(
        lock_timeout_seconds(lock_timeout),
        cloud_read,
        duration_seconds(wait_pending, "--wait-pending"),
        engine=engine,
    )
    try:
        with Progress(len(files), "planning") as progress, ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda path: _plan_one(path, progress, stream, options), files))
    except KeyboardInterrupt:
        _discard_plans(files)
        raise
    for result in results:
        if result.error is not None:
            typer.echo(printable_lines(mask(result.error)), err=True)
    report = render(results, chosen, limit=COMMENT_LIMIT)
    if out is not None:
        from roachcert.files import write_atomic

        write_atomic(out, report)
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
    from roachcert.terraform.workdir import clear_plan_meta

    for path in files:
        with contextlib.suppress(RoachcertError, OSError):
            workdir = stack_dir(path.name.removesuffix(".yaml").removesuffix(".yml"))
            clear_plan_meta(workdir)
            (workdir / PLAN_FILE).unlink(missing_ok=True)


def _plan_one(path: Path, progress: object, stream: object, options: PlanOptions) -> StackResult:
    from roachcert.planning import plan_stack
    from roachcert.progress import Progress

    assert isinstance(progress, Progress)
    name = raw_stack_name(path)
    try:
        result = plan_stack(
            path,
            out=stream,  # type: ignore[arg-type]
            progress=lambda step: progress.step(name, step),
            options=options,
        )
    except SpecError as exc:
        progress.done(name, "error")
        return StackResult(path, None, "\n".join(exc.problems), located=True)
    except RoachcertError as exc:
        progress.done(name, "error")
        return StackResult(path, None, str(exc))
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
    from roachcert.github import COMMENT_LIMIT, GitHubError, append_step_summary
    from roachcert.reports import render

    try:
        markdown = report if format == "markdown" else render(results, "markdown", limit=COMMENT_LIMIT)
        append_step_summary(markdown)
    except GitHubError as exc:  # the plan itself stands; its exit code must not change
        typer.echo(f"warning: {exc}", err=True)
