"""`roachcert plan STACK…|DIR`: plan one or many stacks; exit 0 no changes, 2 changes, 1 error."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roachcert.commands.args import (
    DEFAULT_LOCK_TIMEOUT,
    CloudReadOpt,
    EngineOpt,
    LockTimeoutOpt,
    WaitPendingOpt,
    lock_timeout_seconds,
)
from roachcert.commands.context import Runtime, of, plan_options
from roachcert.errors import RoachcertError
from roachcert.exit_status import ExitStatus
from roachcert.names import stack_name

if TYPE_CHECKING:
    from roachcert.planning import PlanOutcome
    from roachcert.reports.model import StackReport


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


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
    ctx: typer.Context,
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
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help='Always run terraform plan: never answer "no changes" from the record of the last '
            "no-change plan (files, engine, provider, state and Cloud reads unchanged).",
        ),
    ] = False,
) -> None:
    """Render each stack and run terraform plan; save the plan for `apply`. Exit 2 when there are changes.
    A stack whose files, engine, provider, state and Cloud reads are all unchanged since its last
    no-change plan is answered "no changes" without Terraform (--full runs it anyway)."""
    run = of(ctx)
    from roachcert.files import write_atomic
    from roachcert.github import COMMENT_LIMIT
    from roachcert.plan_pool import plan_many
    from roachcert.planning import StackFailure, stack_reports
    from roachcert.reports import as_format, render

    chosen = as_format(format)
    if chosen is None:
        raise RoachcertError(f"--format {format}: use text, markdown or json")
    files = stack_files(targets)
    stream = run.err_stream() if verbose and len(files) == 1 else None
    options = plan_options(run, lock_timeout_seconds(lock_timeout), cloud_read, wait_pending, engine)
    if full:
        options = dataclasses.replace(options, full=True)
    outcomes = plan_many(files, options, workers=parallelism, out=stream, err=run.err_stream())
    for outcome in outcomes:
        if isinstance(outcome, StackFailure):
            run.err(outcome.error)
    reports = stack_reports(outcomes)
    report = render(reports, chosen, limit=COMMENT_LIMIT, mask=run.mask)
    if out is not None:
        write_atomic(out, run.mask(report))  # a file is a sink too
        run.err(f"report written to {out}")
    else:
        run.out(report, nl=False)
    _step_summary(run, reports, format, report)
    raise typer.Exit(_exit_code(outcomes))


def _exit_code(outcomes: list[PlanOutcome]) -> ExitStatus:
    from roachcert.planning import StackFailure, StackPlan

    if any(isinstance(outcome, StackFailure) for outcome in outcomes):
        return ExitStatus.ERROR
    if any(outcome.returncode == 2 for outcome in outcomes if isinstance(outcome, StackPlan)):
        return ExitStatus.CHANGES
    return ExitStatus.OK


def _step_summary(run: Runtime, reports: list[StackReport], format: str, report: str) -> None:
    """In GitHub Actions, the markdown report also goes to the job's summary page."""
    if not run.environ.get("GITHUB_STEP_SUMMARY"):
        return
    from roachcert.github import COMMENT_LIMIT, GitHubError, append_step_summary
    from roachcert.reports import render

    try:
        markdown = (
            report
            if format == "markdown"
            else render(reports, "markdown", limit=COMMENT_LIMIT, mask=run.mask)
        )
        append_step_summary(markdown, run.environ)
    except GitHubError as exc:  # the plan itself stands; its exit code must not change
        run.err(f"warning: {exc}")
