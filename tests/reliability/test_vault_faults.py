"""Vault faults: stopped in the middle of a run, sealed, and a token whose policy cannot touch the mount.
Each is one clear line and exit 1, leaves no key without its certificate, and a re-run converges.

Stopping and sealing use an OpenBao server of the test's own (the session's is shared)."""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from faultkit import Cli, SandboxStack, assert_no_partial_files, converge, only_line

from roachcert.vault import adapter as vault_module
from roachcert.vault import transport
from roachcert_sandbox.manager import SandboxState
from roachcert_sandbox.openbao import RunningOpenBao, start_openbao

pytestmark = pytest.mark.integration


class OwnVault:
    """OpenBao servers of this test only; the environment points at the newest one."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.servers: list[RunningOpenBao] = []

    def start(self) -> RunningOpenBao:
        server = start_openbao(self.folder / f"bao{len(self.servers)}")
        self.servers.append(server)
        self.monkeypatch.setenv("VAULT_ADDR", server.addr)
        self.monkeypatch.setenv("VAULT_TOKEN", server.token)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def own_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OwnVault]:
    # Fewer seconds lost to retries against a server that is gone on purpose.
    monkeypatch.setattr(transport, "BACKOFF", 0.01)
    servers = OwnVault(tmp_path / "openbao", monkeypatch)
    try:
        yield servers
    finally:
        servers.stop_all()


def test_vault_stopped_in_the_middle_of_issuing(
    sandbox: SandboxState, own_vault: OwnVault, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = own_vault.start()
    stack = SandboxStack(sandbox, tmp_path, users=4)
    stack.add_clusters(1)
    path = str(stack.write())
    certs = tmp_path / "certs"
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)
    # The server stops right after the second certificate: the other two find it gone.
    original = vault_module.VaultAdapter.sign_csr
    calls = itertools.count(1)
    lock = threading.Lock()

    def issue_then_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        issued = original(self, *args, **kwargs)
        with lock:
            if next(calls) == 2:
                server.stop()
        return issued

    monkeypatch.setattr(vault_module.VaultAdapter, "sign_csr", issue_then_stop)
    failed = cli.fails("issue", path, "--all", "--out", str(certs), "-j", "1")
    assert "2 issued, 2 failed" in failed.out
    assert failed.out.count("cannot reach Vault") == 2
    assert len(list(certs.rglob("client.*.key"))) == 2
    assert_no_partial_files(tmp_path)
    monkeypatch.setattr(vault_module.VaultAdapter, "sign_csr", original)
    # Every command that needs Vault now says so in one line.
    for args in (("plan", path), ("ca", "ensure", path), ("issue", path, "c0", "root", "--force")):
        line = only_line(cli.fails(*args).text)
        assert "cannot reach Vault" in line
        assert server.addr in line
    # A new (empty) Vault makes a new root: the two certificates delivered from the lost one would stop
    # verifying, so apply refuses until they are re-issued from the new root; then all converge.
    own_vault.start()
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    refused = cli.fails("apply", path)
    assert "refusing to drop issuer" in refused.text, refused.text
    assert "2 user(s) still hold" in refused.text, refused.text
    cli.ok("issue", path, "--all", "--out", str(certs), "--force")
    converge(cli, stack)
    assert len(list(certs.rglob("client.*.key"))) == 4
    assert_no_partial_files(tmp_path)


def test_a_sealed_vault_is_named_in_one_line(
    sandbox: SandboxState, own_vault: OwnVault, tmp_path: Path, cli: Cli
) -> None:
    server = own_vault.start()
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    path = str(stack.write())
    cli.ok("ca", "ensure", path)
    hvac.Client(url=server.addr, token=server.token).sys.seal()
    for args in (
        ("ca", "ensure", path),
        ("plan", path),
        ("issue", path, "c0", "root", "--out", str(tmp_path / "certs")),
        ("status", path),
    ):
        line = only_line(cli.fails(*args).text)
        assert "is sealed" in line, line
    assert not (tmp_path / "certs").exists()
    assert_no_partial_files(tmp_path)
    own_vault.start()  # the operators bring a Vault back
    cli.ok("ca", "ensure", path)
    converge(cli, stack)


def test_a_token_that_cannot_read_the_mount_is_refused_in_one_line(
    sandbox: SandboxState,
    one_cluster: SandboxStack,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    policy = f"rel-nothing-{uuid.uuid4().hex[:8]}"
    root.sys.create_or_update_policy(policy, 'path "secret/*" { capabilities = ["read"] }')
    weak = root.auth.token.create(policies=[policy], no_default_policy=False, ttl="10m")["auth"][
        "client_token"
    ]
    path = str(one_cluster.path)
    root_token = os.environ["VAULT_TOKEN"]
    monkeypatch.setenv("VAULT_TOKEN", weak)
    ensure = only_line(cli.fails("ca", "ensure", path).text)
    assert "Vault denied 'read' on sys/mounts/" in ensure
    assert "policies lack the 'read' capability" in ensure
    issue = only_line(cli.fails("issue", path, "c0", "root", "--out", str(tmp_path / "certs")).text)
    assert f"Vault denied 'update' on {one_cluster.mount}/issuer/" in issue
    for outcome in cli.outcomes:
        assert weak not in outcome.text
        assert root_token not in outcome.text
    assert not (tmp_path / "certs").exists()
    assert_no_partial_files(tmp_path)
    monkeypatch.setenv("VAULT_TOKEN", root_token)
    converge(cli, one_cluster)
