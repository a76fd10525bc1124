"""`roachcert connect-url STACK CLUSTER USER`: the connection URL `issue` prints, without issuing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.args import StackArg
from roachcert.commands.issue import ClusterArg, SslRootCertOpt, UserArg, note_sslrootcert

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
    stack_file: StackArg,
    cluster: ClusterArg,
    user: UserArg,
    out: OutOpt = None,
    sslrootcert: SslRootCertOpt = None,
) -> None:
    """Print the connection URL `issue` prints, without issuing; Vault is not contacted.

    postgresql://USER@HOST:PORT/DATABASE?sslmode=verify-full with sslrootcert, sslcert and sslkey
    pointing at the files `roachcert issue` writes (same --out).
    """
    from roachcert import issue as issuing
    from roachcert.spec import load_stack

    stack = load_stack(stack_file)
    spec = issuing.check_user(stack, cluster, user)
    paths = issuing.client_files(out or issuing.default_out(stack, cluster), user)
    if not paths.key.exists():
        typer.echo(
            f"note: {paths.key} does not exist yet: run `roachcert issue {stack_file} {cluster} {user}`",
            err=True,
        )
    root = issuing.sslrootcert_for(spec, sslrootcert)
    note_sslrootcert(root)
    typer.echo(issuing.connection_url(spec, user, paths, root))
