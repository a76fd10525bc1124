"""The cluster's CA certificate, as the Cloud Console's "Download CA Cert" serves it.

A public GET of CONSOLE/clusters/ID/cert (no API key is sent: the page is public, and the key belongs
to the API only); CONSOLE is COCKROACH_CONSOLE_URL, default https://cockroachlabs.cloud. What comes back
must be exactly one usable CA certificate (basicConstraints CA:TRUE, not expired) and, when the stack pins
it (`server_ca_sha256:`), have that SHA-256 fingerprint. It is cached per cluster id in
.roachcert/cluster-ca/ID.crt (under ROACHCERT_HOME when set); a cached copy that is still a valid CA and
matches the pin is used without asking again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
import urllib3

from roachcert import __version__, files, paths
from roachcert.errors import PemError, RoachcertError
from roachcert.http_session import RunSession
from roachcert.pem import CertInfo, check_ca_pem

DEFAULT_CONSOLE = "https://cockroachlabs.cloud"
CACHE_FOLDER = "cluster-ca"
TIMEOUT = (3.05, 10.0)  # connect, read: an unreachable Console costs seconds, not minutes
MAX_BYTES = 1 << 16  # a CA certificate is a few KiB; more is not one


class ClusterCaError(RoachcertError):
    """The Console served something that cannot be the cluster's CA, or not the pinned one."""


class Unreachable(Exception):
    """No answer to use (network, HTTP error status): the caller falls back, with a note."""


@dataclass(frozen=True)
class ClusterCa:
    path: Path
    info: CertInfo


def console_url(environ: Mapping[str, str]) -> str:
    return (environ.get("COCKROACH_CONSOLE_URL") or DEFAULT_CONSOLE).rstrip("/")


def cert_url(cluster_id: str, environ: Mapping[str, str]) -> str:
    return f"{console_url(environ)}/clusters/{quote(cluster_id, safe='')}/cert"


def cache_path(cluster_id: str, environ: Mapping[str, str]) -> Path:
    return paths.state_root(environ) / CACHE_FOLDER / f"{cluster_id}.crt"


def fetch(
    cluster_id: str, environ: Mapping[str, str], *, tries: int = 2, session: requests.Session | None = None
) -> str:
    """The Console's answer for the cluster's CA, as text; Unreachable when there is none to check."""
    url = cert_url(cluster_id, environ)
    getter = session or RunSession(environ)  # the run's proxies and CA bundle
    reason = "no answer"
    for attempt in range(tries):
        if attempt:
            time.sleep(0.5 * attempt)
        try:
            resp = getter.get(
                url,
                timeout=TIMEOUT,
                headers={"User-Agent": f"roachcert/{__version__}", "Accept": "application/x-pem-file, */*"},
                stream=True,
            )
            with resp:
                # At most one byte past the limit is read: a proxy's endless answer costs nothing.
                data = resp.raw.read(MAX_BYTES + 1, decode_content=True) if resp.ok else b""
        except requests.RequestException as exc:
            # Not retried: offline is the usual reason, and its fallback (with a note) is harmless.
            raise Unreachable(f"cannot reach it ({type(exc).__name__})") from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # read errors under the raw stream
            raise Unreachable(f"the answer broke off ({type(exc).__name__})") from None
        if resp.ok:
            if len(data) > MAX_BYTES:
                raise ClusterCaError(
                    f"{url} answered over {MAX_BYTES} bytes, not a CA certificate; nothing written"
                )
            return data.decode("utf-8", "replace")
        reason = f"HTTP {resp.status_code}"
        if resp.status_code < 500 and resp.status_code != 429:
            break
    raise Unreachable(reason)


def checked(text: str, source: str, pin: str | None, cluster: str) -> CertInfo:
    """The one CA certificate in `text`, matching `pin` when given; ClusterCaError otherwise."""
    try:
        certs = check_ca_pem(text, source).certs
    except PemError as exc:
        raise ClusterCaError(f"{exc}; it is not the cluster's CA certificate, nothing written") from None
    if len(certs) != 1:
        raise ClusterCaError(
            f"{source}: holds {len(certs)} certificates, not the cluster's one CA certificate; nothing written"
        )
    info = certs[0]
    if pin is not None and info.sha256 != pin:
        raise ClusterCaError(
            f"refusing the CA certificate of cluster {cluster} from {source}: its sha256 is {info.sha256}, "
            f"the stack pins server_ca_sha256 {pin}; nothing written"
        )
    return info


def cached(cluster_id: str, pin: str | None, cluster: str, environ: Mapping[str, str]) -> ClusterCa | None:
    """The cached CA when it is still one valid CA certificate (and the pinned one); else None."""
    path = cache_path(cluster_id, environ)
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:  # a pipe or a device would block
            return None
        text = path.read_text(encoding="utf-8")
        return ClusterCa(path, checked(text, str(path), pin, cluster))
    except (OSError, UnicodeDecodeError, ClusterCaError):
        return None


def fetch_and_cache(cluster_id: str, pin: str | None, cluster: str, environ: Mapping[str, str]) -> ClusterCa:
    """Fetch, check, then write the cache (only a certificate that passed every check is written)."""
    info = checked(fetch(cluster_id, environ), cert_url(cluster_id, environ), pin, cluster)
    path = cache_path(cluster_id, environ)
    if path.parent.is_symlink():  # never written through a link planted in the working folder
        raise ClusterCaError(
            f"{path.parent} is a symbolic link; roachcert writes only in a folder of its own"
        )
    files.ensure_dir(path.parent)
    files.write_atomic(path, info.pem)
    return ClusterCa(path, info)
