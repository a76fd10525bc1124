"""`roachcert sandbox sql STACK CLUSTER`: the sandbox's PostgreSQL playing a cluster's SQL side, so a demo
ends with a real `verify-full` login.

It wears a server certificate for the cluster's host signed by the emulator's cluster CA (the one the
Console route `/clusters/ID/cert` serves, so the CA `issue` fetched verifies it), and trusts exactly the
client CA bundle the emulator holds for the cluster now, i.e. what the stack applied (nothing set: a CA
no client has, so every login fails as on a cluster that trusts none). One server, started once and kept
(its record under .roachcert/.sandbox/) until `sandbox down`; each call makes it play the cluster asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from roachcert.cloud.client import CloudClient
from roachcert.files import write_atomic
from roachcert.pem import parse_certificates
from roachcert.spec import Cluster
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.postgres import RunningPostgres, start_postgres
from roachcert_sandbox.tls import ServerTls, make_ca

STATE = "cluster-sql.json"


@dataclass(frozen=True)
class Record:
    root: str
    port: int
    pid: int
    owner: str | None


@dataclass(frozen=True)
class Playing:
    server: RunningPostgres
    trusted: tuple[str, ...]  # the subjects of the client CAs it trusts ("" when none is set)


def _load(folder: Path) -> RunningPostgres | None:
    try:
        record = Record(**json.loads((folder / STATE).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    root = Path(record.root)
    server = RunningPostgres(root, record.port, record.pid, root / "server_ca.crt", record.owner)
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return server if (root / f".s.PGSQL.{record.port}").exists() else None


def server_tls(emulator_url: str, hosts: list[str]) -> ServerTls:
    """A server certificate from the emulator, signed by its cluster CA (as the Cloud's nodes have)."""
    try:
        answer = requests.post(f"{emulator_url}/_admin/server-cert", json={"hosts": hosts}, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        return ServerTls(ca_pem=body["ca_pem"], cert_pem=body["cert_pem"], key_pem=body["key_pem"])
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(f"the emulator at {emulator_url} gave no server certificate ({exc})") from None


def trusted_bundle(emulator_url: str, api_key: str, cluster: Cluster) -> str:
    """The client CA bundle the emulator holds for the cluster ("" when none is set)."""
    status = CloudClient(emulator_url, api_key, retries=0).get_client_ca(cluster.id)
    pem = status.x509_pem_cert.strip()
    return pem + "\n" if pem else ""


def play(folder: Path, emulator_url: str, api_key: str, cluster: Cluster) -> Playing:
    """Start (or reuse) the server and make it play `cluster`: its certificate, its trust, its users."""
    tls = server_tls(emulator_url, [cluster.host])
    bundle = trusted_bundle(emulator_url, api_key, cluster)
    # None set: a CA no client holds, so every login fails, as on a cluster that trusts none.
    trust = bundle or make_ca("sandbox: this cluster trusts no client CA").cert_pem
    server = _load(folder)
    if server is None:
        folder.mkdir(parents=True, exist_ok=True)
        # Its data in the system's temp folder: when roachcert runs as root the server runs as another
        # user, who cannot enter .roachcert/ (0700); the record of it stays here.
        server = start_postgres(trust, server_tls=tls)
        record = Record(str(server.root), server.port, server.pid, server.owner)
        write_atomic(folder / STATE, json.dumps(asdict(record)) + "\n")
    else:
        server.set_server_tls(tls)
        server.set_client_ca(trust)
    server.ensure_users(list(cluster.users), cluster.database)
    subjects = tuple(info.subject for info in parse_certificates(bundle, "bundle")) if bundle else ()
    return Playing(server, subjects)


def stop(folder: Path) -> bool:
    server = _load(folder)
    (folder / STATE).unlink(missing_ok=True)
    if server is None:
        return False
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        server.stop()
    return True
