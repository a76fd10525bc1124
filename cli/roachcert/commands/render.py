"""`roachcert render STACK`: write the stack's Terraform files without planning."""

from __future__ import annotations

import typer

from roachcert.commands.args import DEFAULT_LOCK_TIMEOUT, LockTimeoutOpt, StackArg, lock_timeout_seconds
from roachcert.commands.context import adapters, runtime


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    stack: StackArg,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Render the stack's Terraform root module into .roachcert/STACK/ (reads CA PEMs from Vault)."""
    from roachcert.planning import render_stack

    workdir, files = render_stack(
        stack, lock_timeout=lock_timeout_seconds(lock_timeout), adapters=adapters(), note=runtime().err
    )
    for name in sorted(files):
        runtime().out(str(workdir / name))
