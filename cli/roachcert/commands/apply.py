"""`roachcert apply STACK`: apply exactly the saved, reviewed plan behind the guards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roachcert.commands.args import (
    DEFAULT_LOCK_TIMEOUT,
    CloudReadOpt,
    EngineOpt,
    LockTimeoutOpt,
    StackArg,
    WaitPendingOpt,
    lock_timeout_seconds,
)
from roachcert.commands.context import adapters, plan_options, runtime
from roachcert.errors import GuardError
from roachcert.exit_status import ExitStatus

if TYPE_CHECKING:
    from roachcert.planning import PlanOptions


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("unmanage")(unmanage)
    app.command("manage")(manage)


def apply(
    stack: StackArg,
    allow_destroy: Annotated[
        bool, typer.Option("--allow-destroy", help="Allow a plan that deletes client CAs (clusters removed).")
    ] = False,
    expect_fingerprint: Annotated[
        str | None,
        typer.Option("--expect-fingerprint", help="Refuse unless the saved plan has this fingerprint (CI)."),
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="With no saved plan: plan and apply without asking.")
    ] = False,
    allow_early_rotation: Annotated[
        bool,
        typer.Option(
            "--allow-early-rotation",
            help="EMERGENCY ONLY (compromised CA): drop an issuer even though users may still hold its certificates.",
        ),
    ] = False,
    allow_replace_ca: Annotated[
        bool,
        typer.Option(
            "--allow-replace-ca",
            help="Allow dropping a CA a cluster trusts today that was set by hand and is not declared.",
        ),
    ] = False,
    allow_unread_cloud: Annotated[
        bool,
        typer.Option(
            "--allow-unread-cloud",
            help="Apply a plan made with --no-cloud-read (nothing checked what the clusters trust now).",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream Terraform's output.")] = False,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    wait_pending: WaitPendingOpt = "0s",
    cloud_read: CloudReadOpt = True,
    engine: EngineOpt = None,
) -> None:
    """Apply the plan saved by `roachcert plan`; refuse a stale one and any deletion without --allow-destroy.
    Each cluster's CA is read from the Cloud API again first: one changed since the plan stops the apply."""
    from roachcert.applying import Options, apply_stack, confirmation_line
    from roachcert.paths import stack_dir
    from roachcert.plan_record import load_plan_meta
    from roachcert.spec import load_stack

    spec = load_stack(stack)
    wait = lock_timeout_seconds(lock_timeout)
    if load_plan_meta(stack_dir(spec.name)) is None:
        # What was shown is what gets applied: a plan saved by another run meanwhile is refused.
        shown = _plan_first(stack, auto_approve, plan_options(wait, cloud_read, wait_pending, engine))
        expect_fingerprint = expect_fingerprint or shown
    if allow_early_rotation:
        runtime().err(
            "WARNING: --allow-early-rotation: users whose certificates come from a dropped issuer will be locked out"
        )
    options = Options(
        allow_destroy,
        allow_early_rotation,
        expect_fingerprint,
        wait,
        allow_replace_ca=allow_replace_ca,
        allow_unread_cloud=allow_unread_cloud,
        engine=engine,
        adapters=adapters(),
        note=runtime().err,
    )
    outcome = apply_stack(stack, options, out=runtime().err_stream() if verbose else None)
    if not outcome.applied:
        runtime().out(f"{spec.name}: no changes to apply")
        return
    counts = outcome.summary.counts
    runtime().out(
        f"{spec.name}: applied ({counts['create']} created, {counts['update']} updated, "
        f"{counts['replace']} replaced, {counts['delete']} deleted)"
    )
    for item in outcome.confirmations:
        runtime().out(confirmation_line(item, str(stack)))
    if any(not item.ok for item in outcome.confirmations):
        raise typer.Exit(ExitStatus.ERROR)


def _plan_first(stack: Path, auto_approve: bool, options: PlanOptions) -> str:
    from roachcert.plan_summary import format_text
    from roachcert.planning import plan_stack

    if not auto_approve and not sys.stdin.isatty():
        from roachcert.names import raw_stack_name
        from roachcert.plan_record import MISSING

        missing = MISSING.format(name=raw_stack_name(stack), source=stack)
        raise GuardError(f"{missing} and review it, or pass --auto-approve to plan and apply in one go")
    result = plan_stack(stack, options=options)
    runtime().err(format_text(result.summary))
    if not auto_approve and not typer.confirm("Apply this plan?", default=False, err=True):
        raise GuardError("not applied")
    return result.summary.fingerprint


def unmanage(
    stack: StackArg,
    cluster: Annotated[str, typer.Argument(help="The cluster to stop managing.", show_default=False)],
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Stop managing a cluster removed from the stack WITHOUT deleting its CA (next plan + apply)."""
    from roachcert.spec import load_stack
    from roachcert.unmanaged import unmanage as record_unmanaged

    record_unmanaged(
        load_stack(stack), cluster, lock_timeout=lock_timeout_seconds(lock_timeout), note=runtime().err
    )
    runtime().out(
        f"{cluster}: the next plan forgets it and leaves its CA in place; run `roachcert plan {stack}`"
    )


def manage(
    stack: StackArg,
    cluster: Annotated[
        str, typer.Argument(help="A cluster `unmanage` recorded, to manage again.", show_default=False)
    ],
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Undo `unmanage`: the next plan manages the cluster again (declare it in the stack, or the plan deletes its CA)."""
    from roachcert.spec import load_stack
    from roachcert.unmanaged import manage as record_managed

    spec = load_stack(stack)
    record_managed(spec, cluster, lock_timeout=lock_timeout_seconds(lock_timeout), note=runtime().err)
    then = (
        "the next plan keeps managing it"
        if cluster in spec.clusters
        else "declare it in the stack again, or the next plan deletes its CA (apply refuses without --allow-destroy)"
    )
    runtime().out(f"{cluster}: no longer unmanaged; {then}; run `roachcert plan {stack}`")
