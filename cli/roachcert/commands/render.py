"""`roachcert render STACK`: write the stack's Terraform files without planning."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    stack: Annotated[Path, typer.Argument(help="The stack file.", show_default=False)],
) -> None:
    """Render the stack's Terraform root module into .roachcert/STACK/ (reads CA PEMs from Vault)."""
    from roachcert.planning import render_stack

    workdir, files = render_stack(stack)
    for name in sorted(files):
        typer.echo(str(workdir / name))
