"""A real local PostgreSQL with client-certificate auth standing in for a cluster's SQL side.

Like CockroachDB, PostgreSQL's `cert` auth takes the SQL user from the client certificate's CN, so a
login here proves an issued certificate really authenticates against the CA bundle it trusts.
`start_state_postgres` starts one with password logins instead: a shared state store for Terraform's
`pg` backend.
"""

from __future__ import annotations

import contextlib
import glob
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.processes import free_port, stop_pid
from roachcert_sandbox.tls import ServerTls, make_server_tls


def find_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise SandboxError("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


@dataclass
class RunningPostgres:
    root: Path
    port: int
    pid: int
    server_ca: Path  # clients use it as sslrootcert
    owner: str | None  # the OS user the server runs as when we are root

    host = "127.0.0.1"

    @property
    def client_ca(self) -> Path:
        return self.root / "client_ca.crt"

    def set_client_ca(self, bundle_pem: str) -> None:
        """Trust exactly this client CA bundle from now on (PostgreSQL reloads SSL files on SIGHUP)."""
        _write(self.client_ca, bundle_pem, self.owner, 0o644)
        os.kill(self.pid, signal.SIGHUP)
        time.sleep(0.3)

    def set_server_tls(self, tls: ServerTls) -> None:
        """Wear this server certificate from now on (reloaded on SIGHUP, like the client CA)."""
        _write(self.root / "server.key", tls.key_pem, self.owner, 0o600)
        _write(self.root / "server.crt", tls.cert_pem, self.owner, 0o644)
        _write(self.server_ca, tls.ca_pem, self.owner, 0o644)
        os.kill(self.pid, signal.SIGHUP)
        time.sleep(0.3)

    def ensure_users(self, users: list[str] | tuple[str, ...], database: str = "defaultdb") -> None:
        # Names come from validated stack files (SQL identifiers); this is the sandbox's own server.
        script = [
            f"SELECT 'CREATE ROLE \"{user}\" LOGIN' WHERE NOT EXISTS "
            f"(SELECT FROM pg_roles WHERE rolname = '{user}')\\gexec"
            for user in users
        ]
        script.append(
            f"SELECT 'CREATE DATABASE \"{database}\"' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = '{database}')\\gexec"
        )
        self._psql("\n".join(script) + "\n")

    def ensure_login(self, user: str, password: str, database: str) -> None:
        """A role that logs in with this password and owns this database (the script goes through stdin,
        never argv). `user` and `database` are plain SQL identifiers chosen by the caller."""
        secret = password.replace("'", "''")
        self._psql(
            f"SELECT 'CREATE ROLE \"{user}\" LOGIN' WHERE NOT EXISTS "
            f"(SELECT FROM pg_roles WHERE rolname = '{user}')\\gexec\n"
            f"ALTER ROLE \"{user}\" PASSWORD '{secret}';\n"
            f'SELECT \'CREATE DATABASE "{database}" OWNER "{user}"\' WHERE NOT EXISTS '
            f"(SELECT FROM pg_database WHERE datname = '{database}')\\gexec\n"
        )

    def query(self, sql: str, database: str = "postgres") -> list[list[str]]:
        """Rows of a query run as the superuser over the server's own socket: one line per row, values
        split on tabs (so select values without newlines or tabs, e.g. jsonb as text)."""
        out = self._psql(sql + "\n", database=database, tuples=True)
        return [line.split("\t") for line in out.splitlines() if line]

    def _psql(self, script: str, *, database: str = "postgres", tuples: bool = False) -> str:
        psql = find_bindir() / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        result = subprocess.run(
            [
                str(psql),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                *(("-A", "-t", "-F", "\t") if tuples else ()),
            ],
            input=script,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise SandboxError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        stop_pid(self.pid, timeout=15.0, signum=signal.SIGINT)  # Postgres's fast shutdown
        shutil.rmtree(self.root, ignore_errors=True)


def _owner() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise SandboxError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _chown(path: Path, owner: str | None) -> None:
    if owner is not None:
        shutil.chown(path, user=owner, group=_group(owner))


def _group(owner: str) -> str:
    return grp.getgrgid(pwd.getpwnam(owner).pw_gid).gr_name


def _write(path: Path, text: str, owner: str | None, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    _chown(tmp, owner)
    os.replace(tmp, path)


def _run_as(argv: list[str], owner: str | None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    if owner is not None:
        kwargs.update(user=owner, group=_group(owner), extra_groups=[])
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, **kwargs)  # type: ignore[call-overload,no-any-return]


TcpAuth = Literal["cert", "scram-sha-256"]


def start_postgres(
    client_ca_pem: str,
    root: Path | None = None,
    *,
    tcp_auth: TcpAuth = "cert",
    server_tls: ServerTls | None = None,
) -> RunningPostgres:
    """initdb a fresh cluster with ssl on and the given client CA bundle. TCP logins from 127.0.0.1 use
    `hostssl … cert` auth (the default), or with tcp_auth="scram-sha-256" a password, with or without TLS.
    `server_tls`: the server's certificate (e.g. signed by the emulator's cluster CA); default a fresh
    CA of its own for 127.0.0.1."""
    bindir = find_bindir()
    owner = _owner()
    # The server user must be able to reach its folder: a private temp dir of its own.
    base = Path(tempfile.mkdtemp(prefix="roachcert-pg-", dir=None if root is None else str(root)))
    base.chmod(0o755)
    _chown(base, owner)
    data = base / "data"
    result = _run_as(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ],
        owner,
    )
    if result.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise SandboxError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
    tls = server_tls or make_server_tls()
    _write(base / "server.crt", tls.cert_pem, owner, 0o644)
    _write(base / "server.key", tls.key_pem, owner, 0o600)
    _write(base / "server_ca.crt", tls.ca_pem, owner, 0o644)
    _write(base / "client_ca.crt", client_ca_pem, owner, 0o644)
    port = free_port()
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{base}'\n"
            f"ssl = on\nssl_cert_file = '{base / 'server.crt'}'\nssl_key_file = '{base / 'server.key'}'\n"
            f"ssl_ca_file = '{base / 'client_ca.crt'}'\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\nshared_buffers = 16MB\nmax_connections = 40\n"
        )
    tcp_line = (
        "hostssl all all 127.0.0.1/32 cert"
        if tcp_auth == "cert"
        else "host all all 127.0.0.1/32 scram-sha-256"
    )
    (data / "pg_hba.conf").write_text(f"local all all trust\n{tcp_line}\n")
    _chown(data / "pg_hba.conf", owner)
    log = (base / "postgres.log").open("w")
    _chown(base / "postgres.log", owner)
    kwargs: dict[str, object] = {}
    if owner is not None:
        kwargs.update(user=owner, group=_group(owner), extra_groups=[])
    process = subprocess.Popen(  # type: ignore[call-overload]
        [str(bindir / "postgres"), "-D", str(data)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )
    running = RunningPostgres(
        root=base, port=port, pid=process.pid, server_ca=base / "server_ca.crt", owner=owner
    )
    _wait_ready(running, process, base / "postgres.log")
    return running


def start_state_postgres(
    user: str, password: str, database: str, root: Path | None = None
) -> RunningPostgres:
    """A server for Terraform's `pg` backend: `user` logs in over TCP with `password` (PGPASSWORD) and owns
    `database`, e.g. conn_str postgres://USER@127.0.0.1:PORT/DATABASE?sslmode=disable."""
    server = start_postgres(make_server_tls().ca_pem, root, tcp_auth="scram-sha-256")
    try:
        server.ensure_login(user, password, database)
    except SandboxError:
        server.stop()
        raise
    return server


def _wait_ready(running: RunningPostgres, process: subprocess.Popen[bytes], log: Path) -> None:
    # An open port and socket file are not enough: while "starting up" the server accepts and then
    # refuses with FATAL. pg_isready answers 0 only once logins are accepted.
    ready = [str(find_bindir() / "pg_isready"), "-q", "-h", str(running.root), "-p", str(running.port)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"PostgreSQL exited at start: {log.read_text()[-500:]}")
        if (running.root / f".s.PGSQL.{running.port}").exists():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                if subprocess.run(ready, check=False, timeout=5).returncode == 0:
                    return
        time.sleep(0.05)
    running.stop()
    raise SandboxError("PostgreSQL did not start within 30 s")
