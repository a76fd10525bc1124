"""What roachcert reads through the `roachcert.commands` entry point: the command's one-line summary for
`roachcert --help` (without importing the command), and `register`, which builds it when it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

SUMMARY = (
    "Local sandbox: a real OpenBao, the Cloud API emulator and the cockroach provider (the real one when "
    "installed, else the stand-in), for tests and demos."
)


def register(app: typer.Typer) -> None:
    from roachcert_sandbox.command import sandbox_app

    app.add_typer(sandbox_app, name="sandbox")
