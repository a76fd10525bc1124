"""`roachcert check STACK CLUSTER USER`: log in over TLS with the issued certificate, print the user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.args import StackArg
from roachcert.commands.cert_args import ClusterArg, NoFetchOpt, SslRootCertOpt, UserArg, cluster_ca_file
from roachcert.commands.context import of


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    ctx: typer.Context,
    stack_file: StackArg,
    cluster: ClusterArg,
    user: UserArg,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Connect here instead of the cluster's host.", show_default=False),
    ] = None,
    hostaddr: Annotated[
        str | None,
        typer.Option(
            "--hostaddr",
            help="Connect to this IP address while verifying the server certificate against the host name "
            "(libpq's hostaddr): a private endpoint, or the sandbox (127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Instead of the cluster's port.", show_default=False),
    ] = None,
    sslrootcert: SslRootCertOpt = None,
    certs_dir: Annotated[
        Path | None,
        typer.Option(
            "--certs-dir",
            help="The folder `issue` wrote client.USER.crt/.key to. Default: certs/STACK/CLUSTER.",
            show_default=False,
        ),
    ] = None,
    no_fetch: NoFetchOpt = False,
) -> None:
    """Open a real TLS SQL connection with USER's certificate (sslmode=verify-full) and run
    SELECT current_user; print the user on success, else one line saying what is wrong."""
    run = of(ctx)
    from roachcert.certs import issue as issuing
    from roachcert.certs import sqlcheck
    from roachcert.spec import load_stack

    stack = load_stack(stack_file)
    issuing.check_user(stack, cluster, user)
    notes: list[str] = []  # shown once the login worked: a failure stays one line
    root = cluster_ca_file(run, stack, cluster, sslrootcert, no_fetch, notes)
    target = sqlcheck.target_for(
        stack,
        cluster,
        user,
        host=host,
        port=port,
        sslrootcert=root,
        certs_dir=certs_dir,
        hostaddr=hostaddr,
        environ=run.environ,
    )
    hint = f"roachcert issue {stack_file} {cluster} {user}" + (f" --out {certs_dir}" if certs_dir else "")
    sqlcheck.preflight(target, hint)
    current = sqlcheck.check_login(target)
    if current != user:
        raise sqlcheck.SqlCheckError(f"logged in as {current!r}, not {user!r}")
    for line in notes:
        run.err(line)
    run.out(current)
