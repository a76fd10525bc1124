"""Which file is the cluster's server CA (sslrootcert, the cockroach layout's ca.crt), in this order:
--sslrootcert; the stack's `server_ca:` file; the CA fetched from the Cloud Console (cached per cluster
id, checked against the stack's `server_ca_sha256:` pin); else ~/.postgresql/root.crt, as before, with a
note saying why nothing was fetched (--no-fetch, or the Console unreachable)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from roachcert.certs.issue import sslrootcert_for
from roachcert.cloud import console
from roachcert.spec import Cluster


@dataclass(frozen=True)
class ServerCa:
    path: Path
    fetched: bool  # the Console's CA (fresh or cached), not a file the user named


def resolve(
    name: str,
    cluster: Cluster,
    override: Path | None = None,
    *,
    fetch: bool = True,
    note: Callable[[str], None],
    environ: Mapping[str, str],
) -> ServerCa:
    """The server CA file of cluster `name`; ClusterCaError (nothing written) when the Console serves a
    certificate that is not a CA, or not the pinned one."""
    if override is not None or cluster.server_ca is not None:
        return ServerCa(sslrootcert_for(cluster, environ, override), fetched=False)
    pin = cluster.server_ca_sha256
    held = console.cached(cluster.id, pin, name, environ)
    if held is not None:
        return ServerCa(held.path, fetched=True)
    fallback = sslrootcert_for(cluster, environ)
    if not fetch:
        note(f"note: --no-fetch: the CA certificate of cluster {name} was not fetched; using {fallback}")
        return ServerCa(fallback, fetched=False)
    try:
        got = console.fetch_and_cache(cluster.id, pin, name, environ)
    except console.Unreachable as exc:
        note(
            f"note: cannot fetch the CA certificate of cluster {name} from {console.cert_url(cluster.id, environ)} "
            f"({exc}); using {fallback}"
        )
        return ServerCa(fallback, fetched=False)
    note(
        f"fetched the CA certificate of cluster {name} (sha256 {got.info.sha256}) from "
        f"{console.console_url(environ)} into {got.path}"
    )
    return ServerCa(got.path, fetched=True)
