"""The `pg` backend on a real local PostgreSQL, on the sandbox: state lives in the database, the password
only ever comes from PGPASSWORD, and two applies at once end with one applied and one refused on the lock
in one clear line, the state intact."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from roachcert.app import run
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.manager import SandboxState, register_cluster
from roachcert_sandbox.postgres import RunningPostgres, find_bindir, start_state_postgres

pytestmark = pytest.mark.integration

USER = "roachcert_state"
LATENCY = 3.0  # seconds per Cloud API call while the first apply holds the lock
_databases = itertools.count(1)

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: pg backend test client CA
    ttl: 2160h
    issuers: [ca-a]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
clusters:
  frogs:
    id: {cluster_id}
    ca: client-ca
    host: frogs.example.crdb.io
    users: [app]
terraform:
  backend:
    type: pg
    config:
      conn_str: "postgres://{user}@127.0.0.1:{port}/{database}?sslmode=disable"
"""


@dataclass(frozen=True)
class StateServer:
    server: RunningPostgres
    password: str


@pytest.fixture(scope="module")
def state_server() -> Iterator[StateServer]:
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    password = f"pg-{secrets.token_hex(16)}"
    server = start_state_postgres(USER, password, "state_0")
    try:
        yield StateServer(server, password)
    finally:
        server.stop()


@dataclass(frozen=True)
class PgStack:
    path: Path
    database: str
    cluster_id: str
    server: RunningPostgres
    password: str

    def states(self) -> list[tuple[str, dict[str, Any]]]:
        """(workspace, state document) rows of the backend's table, read as the superuser."""
        [[text]] = self.server.query(
            "SELECT coalesce(jsonb_agg(jsonb_build_array(name, data::jsonb) ORDER BY name), '[]')::text "
            "FROM terraform_remote_state.states",
            self.database,
        )
        return [(name, data) for name, data in json.loads(text)]

    def advisory_locks(self) -> int:
        rows = self.server.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            f"AND database = (SELECT oid FROM pg_database WHERE datname = '{self.database}')"
        )
        return int(rows[0][0])


@pytest.fixture
def pg_stack(
    sandbox: SandboxState, state_server: StateServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> PgStack:
    """A one-cluster stack whose state is a fresh database; the password only in PGPASSWORD."""
    database = f"state_{next(_databases)}"
    state_server.server.ensure_login(USER, state_server.password, database)
    monkeypatch.setenv("PGPASSWORD", state_server.password)
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    path = tmp_path / "shared.yaml"
    path.write_text(
        STACK.format(
            mount=f"pki_{uuid.uuid4().hex[:8]}",
            cluster_id=cluster_id,
            user=USER,
            port=state_server.server.port,
            database=database,
        )
    )
    return PgStack(path, database, cluster_id, state_server.server, state_server.password)


def cli(capsys: pytest.CaptureFixture[str], outputs: list[str], *args: str) -> int:
    code = run(list(args))
    captured = capsys.readouterr()
    outputs.append(captured.out + captured.err)
    return code


def cloud_status(sandbox: SandboxState, cluster_id: str) -> str:
    response = requests.get(
        f"{sandbox.emulator_url}/api/v1/clusters/{cluster_id}/client-ca-cert",
        headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["status"])


def ca_resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in state.get("resources", []) if r["type"] == "cockroach_client_ca_cert"]


def assert_password_nowhere(stack: PgStack, folders: list[Path], outputs: list[str]) -> None:
    texts = [*outputs, json.dumps(stack.states())]
    for folder in folders:
        files = [path for path in (folder / ".roachcert").rglob("*") if path.is_file()]
        assert files, folder
        texts += [path.read_bytes().decode("utf-8", "replace") for path in files]
    for text in texts:
        assert stack.password not in text


def test_plan_and_apply_keep_state_in_postgres(
    sandbox: SandboxState, pg_stack: PgStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs: list[str] = []
    stack = str(pg_stack.path)
    assert cli(capsys, outputs, "ca", "ensure", stack) == 0
    assert cli(capsys, outputs, "render", stack) == 0
    backend = (tmp_path / ".roachcert" / "shared" / "backend.tf").read_text()
    assert 'backend "pg" {' in backend
    assert (
        f"postgres://{USER}@127.0.0.1:{pg_stack.server.port}/{pg_stack.database}?sslmode=disable" in backend
    )
    assert cli(capsys, outputs, "plan", stack) == 2
    assert "1 to create" in outputs[-1]
    assert pg_stack.states() == []  # a plan writes no state
    assert cli(capsys, outputs, "apply", stack) == 0
    assert "applied (1 created" in outputs[-1]
    assert cloud_status(sandbox, pg_stack.cluster_id) == "IS_SET"
    # The state is in PostgreSQL, not in a local file.
    [(name, state)] = pg_stack.states()
    assert name == "default"
    [resource] = ca_resources(state)
    assert resource["name"] == "frogs"
    assert resource["instances"][0]["attributes"]["id"] == pg_stack.cluster_id
    workdir = tmp_path / ".roachcert" / "shared"
    assert not list(workdir.glob("*.tfstate*"))
    # Terraform's record of the backend it is configured for (no credentials in it: checked below).
    record = json.loads((workdir / ".terraform" / "terraform.tfstate").read_text())
    assert record["backend"]["type"] == "pg"
    assert cli(capsys, outputs, "plan", stack) == 0
    assert_password_nowhere(pg_stack, [tmp_path], outputs)


def test_two_applies_at_once_one_waits_on_the_lock(
    sandbox: SandboxState,
    pg_stack: PgStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Alice and Bob each plan the same stack in their own checkout; both apply at once. Alice's apply
    holds the lock (each Cloud API call slowed down), so Bob's is refused in one line; then Bob's saved
    plan is stale, and a fresh plan anywhere shows no changes: the state is intact."""
    outputs: list[str] = []
    stack = str(pg_stack.path)
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir()
    bob.mkdir()
    monkeypatch.chdir(alice)
    assert cli(capsys, outputs, "ca", "ensure", stack) == 0
    assert cli(capsys, outputs, "plan", stack) == 2
    monkeypatch.chdir(bob)
    # Bob skips roachcert's Cloud-side read, which would catch his stale plan before Terraform does
    # (tests/core/test_cloud_side.py): here it is the shared state and its lock that are tested.
    assert cli(capsys, outputs, "plan", stack, "--no-cloud-read") == 2

    faults = f"{sandbox.emulator_url}/_admin/faults"
    first: subprocess.Popen[str] | None = None
    try:
        requests.post(faults, json={"latency_seconds": LATENCY}, timeout=10).raise_for_status()
        first = subprocess.Popen(
            [sys.executable, "-m", "roachcert", "apply", stack],
            cwd=alice,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while pg_stack.advisory_locks() == 0:
            assert first.poll() is None, f"the first apply ended before it locked: {first.communicate()[0]}"
            assert time.monotonic() < deadline, "the first apply never took the state lock"
            time.sleep(0.05)
        started = time.monotonic()
        # Bob's plan did not read the Cloud side: he says so (else apply refuses before the lock).
        code = run(["apply", stack, "--lock-timeout", "0s", "--allow-unread-cloud"])  # give up at once
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        # Both ran at once: the first still holds the lock when the second gives up.
        assert first.poll() is None, (
            f"not concurrent: the second apply took {time.monotonic() - started:.1f}s"
        )
        assert code == 1
        lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
        assert len(lines) == 1, lines
        line = lines[0]
        assert line.startswith(
            "roachcert: terraform apply could not lock the state: another Terraform run holds it"
        )
        assert "Workspace is already locked" in line or "Already locked for workspace creation" in line
        assert "Wait for that run to finish, then run again" in line
        assert "Traceback" not in line
        assert "-lock=false" not in line
        first_output, _ = first.communicate(timeout=120)
        outputs.append(first_output)
        assert first.returncode == 0, first_output
        assert "shared: applied (1 created" in first_output
    finally:
        requests.delete(faults, timeout=10)
        if first is not None and first.poll() is None:
            first.kill()
            first.wait()

    # The state is intact: one state, one CA resource, and the API agrees.
    [(_, state)] = pg_stack.states()
    assert len(ca_resources(state)) == 1
    serial = state["serial"]
    assert cloud_status(sandbox, pg_stack.cluster_id) == "IS_SET"
    assert pg_stack.advisory_locks() == 0
    # Bob's saved plan was made before Alice's apply: Terraform refuses it, in one line.
    assert cli(capsys, outputs, "apply", stack, "--allow-unread-cloud") == 1
    assert outputs[-1].strip().splitlines() == [
        "roachcert: terraform apply failed: the saved plan is stale (the state changed after it was made: "
        "another run applied meanwhile); nothing was applied: run `roachcert plan` again and review it"
    ]
    [(_, after)] = pg_stack.states()
    assert after["serial"] == serial
    # Shared state: both checkouts now see no changes.
    assert cli(capsys, outputs, "plan", stack) == 0
    monkeypatch.chdir(alice)
    assert cli(capsys, outputs, "plan", stack) == 0
    assert_password_nowhere(pg_stack, [alice, bob], outputs)
