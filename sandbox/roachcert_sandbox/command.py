"""`roachcert sandbox up|down|env|status|sql`: local real servers and the two stand-ins, added to roachcert
through the `roachcert.commands` entry point of the roachcert-sandbox distribution (`plugin.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.args import StackArg
from roachcert.commands.context import of
from roachcert_sandbox.plugin import SUMMARY

sandbox_app = typer.Typer(help=SUMMARY, no_args_is_help=True)


@sandbox_app.command("up")
def up(
    ctx: typer.Context,
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
    provider_binary: Annotated[
        Path | None,
        typer.Option(
            "--provider-binary",
            help="A terraform-provider-cockroach binary of your own (built from source, or from a registry "
            "mirror) to use as the real provider (default: $ROACHCERT_PROVIDER_BINARY).",
        ),
    ] = None,
) -> None:
    """Start the sandbox (idempotent) under .roachcert/.sandbox/ and register the stacks' clusters."""
    run = of(ctx)
    from roachcert.spec import load_stack  # only `up --stack` parses a stack
    from roachcert_sandbox import manager
    from roachcert_sandbox.errors import sandbox_dir

    stacks = [load_stack(path) for path in stack or []]
    state = manager.up(
        stacks,
        root=sandbox_dir(run.environ),
        provider=provider,
        s3=s3,
        provider_binary=provider_binary,
        environ=run.environ,
    )
    run.out(f"vault      {state.vault_addr}")
    run.out(f"cloud api  {state.emulator_url}")
    run.out(f"engine     {manager.engine_line(state, run.environ)}")
    run.out(f"provider   {manager.provider_line(state)}")
    if state.s3_endpoint:
        run.out(f"s3         {state.s3_endpoint} (bucket roachcert-state)")
    clusters = sum(len(s.clusters) for s in stacks)
    if clusters:
        run.out(f"registered {clusters} cluster(s)")
    run.err('next: eval "$(roachcert sandbox env)"')


@sandbox_app.command("env")
def env(ctx: typer.Context) -> None:
    """Print export lines: eval "$(roachcert sandbox env)" points a shell at the sandbox."""
    run = of(ctx)
    from roachcert_sandbox import manager
    from roachcert_sandbox.errors import SandboxError, sandbox_dir

    state = manager.load_state(sandbox_dir(run.environ))
    if state is None:
        raise SandboxError("no sandbox here: run `roachcert sandbox up` first")
    # Export lines are for `eval`: the sandbox's own throwaway credentials must reach the shell whole.
    run.out_unmasked("".join(f"{line}\n" for line in manager.env_lines(state)))


@sandbox_app.command("status")
def status(ctx: typer.Context) -> None:
    """Show whether the sandbox's servers are up."""
    run = of(ctx)
    from roachcert_sandbox import manager
    from roachcert_sandbox.errors import sandbox_dir

    for name, value in manager.status(sandbox_dir(run.environ), run.environ).items():
        run.out(f"{name:<11}{value}")


@sandbox_app.command("sql")
def sql(
    ctx: typer.Context,
    stack: StackArg,
    cluster: Annotated[
        str, typer.Argument(help="The cluster to play.", show_default=False, metavar="CLUSTER")
    ],
) -> None:
    """Make the sandbox's PostgreSQL play CLUSTER's SQL side; print its port.

    Its server certificate is for the cluster's host, signed by the emulator's cluster CA (what `issue`
    fetches as the cluster's CA); it trusts the client CA bundle the emulator holds for the cluster now
    (what the stack applied). Log in with `roachcert check STACK CLUSTER USER --hostaddr 127.0.0.1
    --port PORT`: verify-full against the cluster's host name, connecting to 127.0.0.1.
    """
    run = of(ctx)
    from roachcert.spec import load_stack
    from roachcert_sandbox import cluster_sql
    from roachcert_sandbox.errors import SandboxError, sandbox_dir

    loaded = load_stack(stack)
    if cluster not in loaded.clusters:
        raise SandboxError(f"no cluster {cluster!r} in stack {loaded.name}")
    url, key = run.environ.get("COCKROACH_SERVER"), run.environ.get("COCKROACH_API_KEY")
    if not url or not key:
        raise SandboxError(
            'COCKROACH_SERVER and COCKROACH_API_KEY are not set: eval "$(roachcert sandbox env)"'
        )
    spec = loaded.clusters[cluster]
    playing = cluster_sql.play(sandbox_dir(run.environ), url, key, spec)
    trusted = "; ".join(playing.trusted) or "no client CA (none is set on the cluster)"
    run.err(
        f"postgres   127.0.0.1:{playing.server.port} plays {cluster} ({spec.host}): server certificate "
        f"signed by the emulator's cluster CA; trusts {trusted}"
    )
    run.out(str(playing.server.port))


@sandbox_app.command("down")
def down(ctx: typer.Context) -> None:
    """Stop the sandbox's servers by PID (idempotent)."""
    run = of(ctx)
    from roachcert_sandbox import manager

    run.out("sandbox stopped" if manager.down(environ=run.environ) else "no sandbox running")
