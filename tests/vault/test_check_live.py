"""`issue` then `check`: a certificate from the real OpenBao logs in to a real PostgreSQL that trusts the
cluster's bundle, and is refused, explained, by one that trusts another CA."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.app import run
from roachcert.bundles import cluster_bundles
from roachcert.spec import load_stack
from roachcert.vault.adapter import open_vault
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.openbao import RunningOpenBao
from roachcert_sandbox.postgres import RunningPostgres, find_bindir, start_postgres

pytestmark = pytest.mark.integration


@pytest.fixture
def issued(
    vault_env: RunningOpenBao,
    write_stack: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    stack = write_stack()
    monkeypatch.chdir(tmp_path)
    assert run(["ca", "ensure", str(stack)]) == 0
    assert run(["issue", str(stack), "frogs", "app"]) == 0  # into certs/teststack/frogs, the default
    capsys.readouterr()
    return stack


@pytest.fixture
def postgres_for() -> Iterator[Callable[[str], RunningPostgres]]:
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    started: list[RunningPostgres] = []

    def start(client_ca: str) -> RunningPostgres:
        server = start_postgres(client_ca)
        started.append(server)
        server.ensure_users(["root", "app"])
        return server

    yield start
    for server in started:
        server.stop()


def check(stack: Path, pg: RunningPostgres) -> int:
    argv = ["check", str(stack), "frogs", "app", "--host", "127.0.0.1", "--port", str(pg.port)]
    return run([*argv, "--sslrootcert", str(pg.server_ca)])


def test_issued_certificate_logs_in(
    issued: Path, postgres_for: Callable[[str], RunningPostgres], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = load_stack(issued)
    pg = postgres_for(cluster_bundles(stack, open_vault(stack, os.environ))["frogs"].pem)
    assert check(issued, pg) == 0
    assert capsys.readouterr().out == "app\n"


def test_cluster_trusting_another_ca_refuses_it(
    issued: Path, postgres_for: Callable[[str], RunningPostgres], capsys: pytest.CaptureFixture[str]
) -> None:
    pg = postgres_for(make_ca("Someone else's CA")[0])
    assert check(issued, pg) == 1
    assert "the cluster does not trust the CA that signed this certificate" in capsys.readouterr().err
