"""`roachcert apply STACK`: apply exactly the saved, reviewed plan behind the guards."""

from __future__ import annotations

import contextlib
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
from roachcert.commands.context import Runtime, of, plan_options
from roachcert.errors import GuardError, RoachcertError
from roachcert.exit_status import ExitStatus

if TYPE_CHECKING:
    from roachcert.planning import PlanOptions


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("unmanage")(unmanage)
    app.command("manage")(manage)


def apply(
    ctx: typer.Context,
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
    run = of(ctx)
    from roachcert.applying import ApplyOptions, apply_stack, confirmation_line
    from roachcert.paths import stack_dir
    from roachcert.plan_record import load_plan_meta
    from roachcert.spec import load_stack

    spec = load_stack(stack)
    wait = lock_timeout_seconds(lock_timeout)
    if load_plan_meta(stack_dir(spec.name, run.environ)) is None:
        # What was shown is what gets applied: a plan saved by another run meanwhile is refused.
        shown = _plan_first(
            run, stack, auto_approve, plan_options(run, wait, cloud_read, wait_pending, engine)
        )
        expect_fingerprint = expect_fingerprint or shown
    if allow_early_rotation:
        run.err(
            "WARNING: --allow-early-rotation: users whose certificates come from a dropped issuer will be locked out"
        )
    options = ApplyOptions(
        run.environ,
        run.real_or_given(),
        allow_destroy,
        allow_early_rotation,
        expect_fingerprint,
        wait,
        allow_replace_ca=allow_replace_ca,
        allow_unread_cloud=allow_unread_cloud,
        engine=engine,
        note=run.err,
    )
    outcome = apply_stack(stack, options, out=run.err_stream() if verbose else None)
    if not outcome.applied:
        run.out(f"{spec.name}: no changes to apply")
        return
    counts = outcome.summary.counts
    run.out(
        f"{spec.name}: applied ({counts['create']} created, {counts['update']} updated, "
        f"{counts['replace']} replaced, {counts['delete']} deleted)"
    )
    for item in outcome.confirmations:
        run.out(confirmation_line(item, str(stack)))
    if any(not item.ok for item in outcome.confirmations):
        raise typer.Exit(ExitStatus.ERROR)


def _plan_first(run: Runtime, stack: Path, auto_approve: bool, options: PlanOptions) -> str:
    from roachcert.plan_summary import format_text
    from roachcert.planning import discard_declined, plan_stack

    if not auto_approve and not run.interactive():
        from roachcert.names import raw_stack_name
        from roachcert.plan_record import MISSING

        missing = MISSING.format(name=raw_stack_name(stack), source=stack)
        raise GuardError(f"{missing} and review it, or pass --auto-approve to plan and apply in one go")
    result = plan_stack(stack, options=options)
    run.err(format_text(result.summary))
    if auto_approve:
        return result.summary.fingerprint
    try:
        yes = run.ask("Apply this plan?")
    except KeyboardInterrupt:  # Ctrl-C at the question is a no
        with contextlib.suppress(KeyboardInterrupt, RoachcertError):
            discard_declined(result, options)
        raise
    if not yes:
        discard_declined(result, options)
        raise GuardError("not applied (the plan shown was not saved: `roachcert apply` plans and asks again)")
    return result.summary.fingerprint


def unmanage(
    ctx: typer.Context,
    stack: StackArg,
    cluster: Annotated[str, typer.Argument(help="The cluster to stop managing.", show_default=False)],
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Stop managing a cluster removed from the stack WITHOUT deleting its CA (next plan + apply)."""
    run = of(ctx)
    from roachcert.spec import load_stack
    from roachcert.unmanaged import unmanage as record_unmanaged

    record_unmanaged(
        load_stack(stack), cluster, run.environ, lock_timeout=lock_timeout_seconds(lock_timeout), note=run.err
    )
    run.out(f"{cluster}: the next plan forgets it and leaves its CA in place; run `roachcert plan {stack}`")


def manage(
    ctx: typer.Context,
    stack: StackArg,
    cluster: Annotated[
        str, typer.Argument(help="A cluster `unmanage` recorded, to manage again.", show_default=False)
    ],
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Undo `unmanage`: the next plan manages the cluster again (declare it in the stack, or the plan deletes its CA)."""
    run = of(ctx)
    from roachcert.spec import load_stack
    from roachcert.unmanaged import manage as record_managed

    spec = load_stack(stack)
    record_managed(spec, cluster, run.environ, lock_timeout=lock_timeout_seconds(lock_timeout), note=run.err)
    then = (
        "the next plan keeps managing it"
        if cluster in spec.clusters
        else "declare it in the stack again, or the next plan deletes its CA (apply refuses without --allow-destroy)"
    )
    run.out(f"{cluster}: no longer unmanaged; {then}; run `roachcert plan {stack}`")
