"""`roachcert render STACK`: write the stack's Terraform files without planning."""

from __future__ import annotations

import typer

from roachcert.commands.args import DEFAULT_LOCK_TIMEOUT, LockTimeoutOpt, StackArg, lock_timeout_seconds
from roachcert.commands.context import of


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    ctx: typer.Context,
    stack: StackArg,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Render the stack's Terraform root module into .roachcert/STACK/ (reads CA PEMs from Vault)."""
    run = of(ctx)
    from roachcert.rendering import render_stack  # not planning: no runner, report or fast-path code

    workdir, files = render_stack(
        stack, run.environ, run.real_or_given(), lock_timeout=lock_timeout_seconds(lock_timeout), note=run.err
    )
    for name in sorted(files):
        run.out(str(workdir / name))
