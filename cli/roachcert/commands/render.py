"""`roachcert render STACK`: write the stack's Terraform files without planning."""

from __future__ import annotations

import typer

from roachcert.commands.args import StackArg


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    stack: StackArg,
) -> None:
    """Render the stack's Terraform root module into .roachcert/STACK/ (reads CA PEMs from Vault)."""
    from roachcert.planning import render_stack

    workdir, files = render_stack(stack)
    for name in sorted(files):
        typer.echo(str(workdir / name))
