"""`roachcert sandbox up|down|env|status`: local real servers and the two stand-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

sandbox_app = typer.Typer(
    help="Local sandbox: a real OpenBao, the Cloud API emulator and the cockroach provider (the real one when "
    "installed, else the stand-in), for tests and demos.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("up")
def up(
    stack: Annotated[
        list[Path] | None, typer.Option("--stack", help="Register this stack's clusters with the emulator.")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help="real or standin (default: the real cockroach provider when installed, else the stand-in).",
        ),
    ] = None,
    s3: Annotated[
        bool,
        typer.Option("--s3", help="Also start a real S3 store (SeaweedFS) with the bucket roachcert-state."),
    ] = False,
) -> None:
    """Start the sandbox (idempotent) under .roachcert/sandbox/ and register the stacks' clusters."""
    from roachcert.sandbox import manager
    from roachcert.spec import load_stack  # only `up --stack` parses a stack

    stacks = [load_stack(path) for path in stack or []]
    state = manager.up(stacks, provider=provider, s3=s3)
    typer.echo(f"vault      {state.vault_addr}")
    typer.echo(f"cloud api  {state.emulator_url}")
    typer.echo(f"terraform  {state.engine}")
    typer.echo(f"provider   {manager.provider_line(state)}")
    if state.s3_endpoint:
        typer.echo(f"s3         {state.s3_endpoint} (bucket roachcert-state)")
    clusters = sum(len(s.clusters) for s in stacks)
    if clusters:
        typer.echo(f"registered {clusters} cluster(s)")
    typer.echo('next: eval "$(roachcert sandbox env)"', err=True)


@sandbox_app.command("env")
def env() -> None:
    """Print export lines: eval "$(roachcert sandbox env)" points a shell at the sandbox."""
    from roachcert.errors import SandboxError
    from roachcert.sandbox import manager

    state = manager.load_state()
    if state is None:
        raise SandboxError("no sandbox here: run `roachcert sandbox up` first")
    for line in manager.env_lines(state):
        typer.echo(line)


@sandbox_app.command("status")
def status() -> None:
    """Show whether the sandbox's servers are up."""
    from roachcert.sandbox import manager

    for name, value in manager.status().items():
        typer.echo(f"{name:<11}{value}")


@sandbox_app.command("down")
def down() -> None:
    """Stop the sandbox's servers by PID (idempotent)."""
    from roachcert.sandbox import manager

    typer.echo("sandbox stopped" if manager.down() else "no sandbox running")
