"""`roachcert connect-url STACK CLUSTER USER`: the connection URL `issue` prints, without issuing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roachcert.certs.layouts import Layout
from roachcert.commands.args import StackArg
from roachcert.commands.cert_args import (
    ClusterArg,
    LayoutOpt,
    NoFetchOpt,
    SslRootCertOpt,
    UserArg,
    cluster_ca_file,
    note_sslrootcert,
)
from roachcert.commands.context import of

OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="The folder `issue` wrote the files to. Default: certs/STACK/CLUSTER.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("connect-url")(connect_url)


def connect_url(
    ctx: typer.Context,
    stack_file: StackArg,
    cluster: ClusterArg,
    user: UserArg,
    out: OutOpt = None,
    sslrootcert: SslRootCertOpt = None,
    layout: LayoutOpt = Layout.libpq,
    no_fetch: NoFetchOpt = False,
) -> None:
    """Print the connection URL `issue` prints, without issuing; Vault is not contacted.

    The cluster's CA certificate is fetched from the Cloud Console (public, no API key) unless
    --sslrootcert, the stack's server_ca or --no-fetch says otherwise.

    postgresql://USER@HOST:PORT/DATABASE?sslmode=verify-full with sslrootcert, sslcert and sslkey
    pointing at the files `roachcert issue` writes (same --out and --layout); for jdbc,
    jdbc:postgresql://HOST:PORT/DATABASE?user=USER&sslmode=verify-full with the .pk8 key.
    """
    run = of(ctx)
    from roachcert.certs import issue as issuing
    from roachcert.certs import layouts
    from roachcert.spec import load_stack

    stack = load_stack(stack_file)
    spec = issuing.check_user(stack, cluster, user)
    folder = out or issuing.default_out(stack, cluster)
    paths = issuing.client_files(folder, user)
    if not paths.key.exists():
        run.err(f"note: {paths.key} does not exist yet: run `roachcert issue {stack_file} {cluster} {user}`")
    root = cluster_ca_file(run, stack, cluster, sslrootcert, no_fetch)
    note_sslrootcert(run, root)
    run.out(layouts.url(layout, spec, user, folder, root))
