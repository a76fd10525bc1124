"""Arguments of the commands that deliver or use client certificates (issue, renew, connect-url, check)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roachcert.certs.layouts import Layout
from roachcert.commands.context import Runtime

if TYPE_CHECKING:  # `--help` loads neither the models nor requests
    from roachcert.spec import Stack

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
        help="The cluster's server CA, for the URL. Default: the cluster's server_ca, else the CA "
        "certificate fetched from the Cloud Console (COCKROACH_CONSOLE_URL, cached in "
        ".roachcert/cluster-ca/), else ~/.postgresql/root.crt.",
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
NoFetchOpt = Annotated[
    bool,
    typer.Option(
        "--no-fetch",
        help="Offline: do not fetch the cluster's CA certificate from the Cloud Console (a copy fetched "
        "before is still used); without one, sslrootcert is ~/.postgresql/root.crt.",
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


def note_sslrootcert(run: Runtime, path: Path) -> None:
    if not path.exists():
        run.err(
            f"note: {path} does not exist yet: save the cluster's CA certificate there "
            "(Cloud Console → Connect → Download CA Cert), or pass --sslrootcert"
        )


def cluster_ca_file(
    run: Runtime,
    stack: Stack,
    cluster: str,
    override: Path | None,
    no_fetch: bool,
    notes: list[str] | None = None,
) -> Path:
    """The cluster's server CA file (see certs/server_ca.py for the order). Its notes go to stderr, or
    into `notes` for a command that shows them only once it succeeded (its errors stay one line)."""
    from roachcert.certs import server_ca

    spec = stack.clusters[cluster]
    note = run.err if notes is None else notes.append
    return server_ca.resolve(cluster, spec, override, fetch=not no_fetch, note=note, environ=run.environ).path


def cluster_ca_files(
    run: Runtime,
    stack: Stack,
    clusters: Sequence[str],
    override: Path | None,
    no_fetch: bool,
    notes: list[str],
    jobs: int,
) -> dict[str, Path]:
    """cluster_ca_file of each cluster, up to `jobs` Console fetches at once (`issue --all`: one round
    trip each, not one after another). Notes land in `notes` in the clusters' order, and an error is the
    first cluster's in that order, as one by one would have them."""
    from concurrent.futures import ThreadPoolExecutor

    own: dict[str, list[str]] = {name: [] for name in clusters}

    def one(name: str) -> Path:
        return cluster_ca_file(run, stack, name, override, no_fetch, own[name])

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(clusters))), thread_name_prefix="ca") as pool:
        found = dict(zip(clusters, pool.map(one, clusters), strict=True))
    for name in clusters:
        notes.extend(own[name])
    return found
