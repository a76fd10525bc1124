"""`check`: a real TLS SQL login with an issued client certificate, and one-line explanations of
the usual ways it fails.

`explain` is pure (libpq's message + what we tried → one line); `check_login` is the only place
that opens a connection (psycopg 3, `sslmode=verify-full`, the files `issue` lays out).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roachcert.certs.issue import ClientFiles, check_user, client_files, default_out, sslrootcert_for
from roachcert.cloud.console import CACHE_FOLDER
from roachcert.errors import RoachcertError
from roachcert.pem import cert_info
from roachcert.spec import Stack

CONNECT_TIMEOUT = 10  # seconds; libpq's own connect timeout


class SqlCheckError(RoachcertError):
    """The login with the issued certificate failed, or cannot even be tried."""


@dataclass(frozen=True)
class SqlTarget:
    host: str
    port: int
    database: str
    user: str
    sslrootcert: Path
    files: ClientFiles
    hostaddr: str | None = None  # connect here, verify the server certificate against `host`


def target_for(
    stack: Stack,
    cluster: str,
    user: str,
    *,
    host: str | None = None,
    port: int | None = None,
    sslrootcert: Path | None = None,
    certs_dir: Path | None = None,
    hostaddr: str | None = None,
    environ: Mapping[str, str],
) -> SqlTarget:
    """Where and as whom to log in: the cluster's host/port unless overridden, the files `issue` wrote."""
    spec = check_user(stack, cluster, user)
    return SqlTarget(
        host=host or spec.host,
        port=port or spec.port,
        database=spec.database,
        user=user,
        sslrootcert=sslrootcert_for(spec, environ, sslrootcert),
        files=client_files(certs_dir or default_out(stack, cluster), user),
        hostaddr=hostaddr,
    )


def preflight(target: SqlTarget, issue_hint: str) -> None:
    """Missing files, named before libpq gives its vaguer message. `issue_hint` is the command to run."""
    missing = [path for path in (target.files.cert, target.files.key) if not path.is_file()]
    if missing:
        names = " and ".join(str(path) for path in missing)
        raise SqlCheckError(f"{names} not found: run `{issue_hint}` (or pass --certs-dir)")
    if not target.sslrootcert.is_file():
        raise SqlCheckError(
            f"{target.sslrootcert} (sslrootcert) not found: save the cluster's CA certificate there "
            "(Cloud Console → Connect → Download CA Cert), or pass --sslrootcert"
        )


def certificate_cn(path: Path) -> str | None:
    """The CN of the client certificate file, or None when it cannot be read."""
    try:
        return cert_info(path.read_text(encoding="utf-8")).subject_cn
    except (OSError, RoachcertError):
        return None


def explain(message: str, target: SqlTarget, cert_cn: str | None) -> str:
    """One line saying what went wrong and what to do, from libpq's (or the server's) message."""
    text = message.lower()
    who = f"{target.user}@{target.host}:{target.port}"
    key, root = target.files.key, target.sslrootcert
    if "has group or world access" in text:
        return f"{who}: libpq refuses {key}: it has group or world access; run `chmod 0600 {key}`"
    if "unknown ca" in text:
        return (
            f"{who}: the cluster does not trust the CA that signed this certificate: plan/apply the stack, "
            "or re-issue from the current issuer"
        )
    if "certificate verify failed" in text:
        if root.parent.name == CACHE_FOLDER:  # fetched earlier: the cluster's CA may have changed since
            return (
                f"{who}: the server's certificate does not verify against {root}, the cluster's CA as "
                f"fetched earlier: remove that file to fetch it again"
            )
        return (
            f"{who}: the server's certificate does not verify against {root}: sslrootcert is not the "
            "cluster's server CA (Cloud Console → Connect → Download CA Cert)"
        )
    if "does not match host name" in text:
        return f"{who}: the server's certificate is not for host {target.host}: connect to the cluster's host"
    if "certificate expired" in text:
        return f"{who}: the certificate has expired: re-issue it with `roachcert issue`"
    if "certificate authentication failed for user" in text:
        if cert_cn is not None and cert_cn != target.user:
            return (
                f"{who}: the certificate's CN is {cert_cn!r}, not {target.user!r}: "
                f"use client.{target.user}.crt, or re-issue it for {target.user}"
            )
        return f"{who}: the cluster refused the certificate for user {target.user!r}"
    if "role" in text and "does not exist" in text:
        return f"{who}: user {target.user!r} does not exist on the cluster: create it (CREATE USER)"
    if any(marker in text for marker in ("connection refused", "timeout expired", "could not translate")):
        return f"{who}: cannot reach the server ({_reason(message)})"
    return f"{who}: {_reason(message)}"


def _reason(message: str) -> str:
    """libpq's last meaningful line, without its 'connection to server at … failed:' prefix."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    failed = [line for line in lines if "failed: " in line]
    last = failed[-1] if failed else (lines[-1] if lines else "the connection failed")
    return last.rsplit("failed: ", 1)[1] if "failed: " in last else last


def connect_params(target: SqlTarget, timeout: int = CONNECT_TIMEOUT) -> dict[str, Any]:
    address = {"hostaddr": target.hostaddr} if target.hostaddr else {}
    return {
        "host": target.host,
        **address,
        "port": target.port,
        "dbname": target.database,
        "user": target.user,
        "sslmode": "verify-full",
        "sslrootcert": str(target.sslrootcert),
        "sslcert": str(target.files.cert),
        "sslkey": str(target.files.key),
        "connect_timeout": timeout,
        # No Kerberos attempt first: the certificate is the whole point.
        "gssencmode": "disable",
        # Nor a password: libpq would take PGPASSWORD or ~/.pgpass from the process's environment, log in
        # with it where the server also takes passwords, and the check would pass without the certificate.
        "password": "",
        "passfile": os.path.join(os.devnull, "none"),  # no such file: libpq reads none, says nothing
        "application_name": "roachcert check",
    }


def check_login(target: SqlTarget, timeout: int = CONNECT_TIMEOUT) -> str:
    """Log in with the certificate and return `SELECT current_user`; SqlCheckError, explained, if not."""
    try:
        import psycopg  # lazy: the optional [sql] extra; missing, only `check` says so
    except ImportError:
        raise SqlCheckError("`roachcert check` needs psycopg: pip install 'roachcert[sql]'") from None
    try:
        with psycopg.connect(autocommit=True, **connect_params(target, timeout)) as conn:
            row = conn.execute("SELECT current_user").fetchone()
    except psycopg.Error as exc:
        cn = certificate_cn(target.files.cert)
        raise SqlCheckError(explain(str(exc), target, cn)) from None  # masked where it is shown
    if row is None:
        raise SqlCheckError(
            f"{target.user}@{target.host}:{target.port}: SELECT current_user returned nothing"
        )
    return str(row[0])
