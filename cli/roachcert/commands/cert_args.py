"""Arguments of the commands that deliver or use client certificates (issue, renew, connect-url, check)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roachcert.certs.layouts import Layout
from roachcert.commands.context import runtime

_CLUSTER = typer.Argument(metavar="CLUSTER", help="The cluster, as named in the stack.", show_default=False)
_USER = typer.Argument(
    metavar="USER", help="The SQL user (the certificate's CN), declared on the cluster.", show_default=False
)
ClusterArg = Annotated[str, _CLUSTER]
UserArg = Annotated[str, _USER]
MaybeClusterArg = Annotated[str | None, _CLUSTER]  # issue: CLUSTER USER, or --all
MaybeUserArg = Annotated[str | None, _USER]
SslRootCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--sslrootcert",
        help="The cluster's server CA, for the URL. Default: the cluster's server_ca, else "
        "~/.postgresql/root.crt (where the Cloud Console's Linux instructions save it).",
        show_default=False,
    ),
]

LayoutOpt = Annotated[
    Layout,
    typer.Option(
        "--layout",
        help="libpq (key, cert, client-ca.crt), cockroach (adds ca.crt, the server CA, for "
        "`cockroach sql --certs-dir`), jdbc (adds client.USER.pk8, PKCS#8 DER, and prints a JDBC URL).",
    ),
]
VaultKeygenOpt = Annotated[
    bool,
    typer.Option(
        "--vault-keygen",
        help="Let Vault make the private key (`/issue`) instead of signing a CSR made here; for roles "
        "that forbid CSRs. The key then crosses the network.",
    ),
]


def note_sslrootcert(path: Path) -> None:
    if not path.exists():
        runtime().err(
            f"note: {path} does not exist yet: save the cluster's CA certificate there "
            "(Cloud Console → Connect → Download CA Cert), or pass --sslrootcert"
        )
