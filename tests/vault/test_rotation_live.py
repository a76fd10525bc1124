"""The full three-phase rotation on a real OpenBao, with one real PostgreSQL per cluster whose
ssl_ca_file follows the bundle `cluster_bundles` computes at each phase (what `apply` would set):
every user's login works at every phase, and the early drop is refused by the guard until re-issue."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roachcert.app import run
from roachcert.bundles import ClusterBundle, cluster_bundles
from roachcert.spec import Stack, load_stack
from roachcert.vault.adapter import open_vault
from roachcert.vault.rotation import drops_by_cluster, guard_dropped_issuers
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.openbao import RunningOpenBao
from roachcert_sandbox.postgres import RunningPostgres, find_bindir, start_postgres

pytestmark = pytest.mark.integration
MOUNT = "cockroach_client_ca"


@pytest.fixture
def clusters() -> Iterator[dict[str, RunningPostgres]]:
    """Filled by the test (the first bundle is only known once Vault holds the CA); all stopped after."""
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    running: dict[str, RunningPostgres] = {}
    try:
        yield running
    finally:
        for server in running.values():
            server.stop()


class Walk:
    """One stack file rewritten phase by phase, and the commands an operator would run."""

    def __init__(self, path: Path, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
        self.path, self.write, self.capsys = path, write, capsys
        self.certs = path.parent / "certs"

    def declare(self, issuers: str) -> Stack:
        self.write(issuers=issuers)
        return load_stack(self.path)

    def cli(self, *argv: str, expect: int = 0) -> str:
        code = run(list(argv))
        captured = self.capsys.readouterr()
        assert code == expect, captured.out + captured.err
        return captured.out + captured.err

    def bundles(self) -> dict[str, ClusterBundle]:
        stack = load_stack(self.path)
        return cluster_bundles(stack, open_vault(stack, os.environ))

    def phase(self) -> dict[str, object]:
        [ca] = json.loads(self.cli("rotate", "status", str(self.path), "--format", "json"))["cas"]
        return dict(ca)

    def login_all(self, pgs: dict[str, RunningPostgres]) -> None:
        stack = load_stack(self.path)
        for cluster, spec in stack.clusters.items():
            pg = pgs[cluster]
            for user in spec.users:
                out = self.cli(
                    "check", str(self.path), cluster, user, "--host", "127.0.0.1", "--port", str(pg.port),
                    "--sslrootcert", str(pg.server_ca), "--certs-dir", str(self.certs / cluster),
                )  # fmt: skip
                assert out == f"{user}\n"


def shas(bundle: ClusterBundle) -> list[str]:
    return [info.sha256 for info in bundle.certs]


def test_three_phase_rotation(
    vault_env: RunningOpenBao,
    write_stack: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    clusters: dict[str, RunningPostgres],
) -> None:
    walk = Walk(write_stack(issuers="ca-2026a"), write_stack, capsys)
    walk.cli("ca", "ensure", str(walk.path))
    start = walk.bundles()
    for name, bundle in start.items():
        clusters[name] = start_postgres(bundle.pem)
        clusters[name].ensure_users(load_stack(walk.path).clusters[name].users)
    walk.cli("issue", str(walk.path), "--all", "--out", str(walk.certs))
    walk.login_all(clusters)
    assert walk.phase()["phase"] == "single_issuer"

    # (1) Append a new issuer: `ca ensure` creates it and makes it the default; bundles grow.
    walk.declare("ca-2026a, ca-2027a")
    walk.cli("ca", "ensure", str(walk.path))
    grown = walk.bundles()
    for name, bundle in grown.items():
        assert shas(bundle)[:1] == shas(start[name])
        assert len(bundle.certs) == 2
    assert drops_by_cluster({n: b.pem for n, b in start.items()}, {n: b.pem for n, b in grown.items()}) == {}
    for name, bundle in grown.items():
        clusters[name].set_client_ca(bundle.pem)
    walk.login_all(clusters)  # the old certificates still verify against the grown bundle
    rolling = walk.phase()
    assert rolling["phase"] == "rolling_out"
    assert rolling["pending_users"] == ["app", "root"]
    assert [(i["name"], i["default"]) for i in rolling["issuers"]] == [
        ("ca-2026a", False),
        ("ca-2027a", True),
    ]

    # (3) too early: dropping ca-2026a now would lock out every user; the guard names them.
    early = walk.declare("ca-2027a")
    shrunk = walk.bundles()
    drops = drops_by_cluster({n: b.pem for n, b in grown.items()}, {n: b.pem for n, b in shrunk.items()})
    assert drops == {name: (shas(grown[name])[0],) for name in grown}
    issued = open_vault(early, os.environ).list_issued(MOUNT)
    assert sorted((r.common_name, r.issuer_name) for r in issued) == [
        ("app", "ca-2026a"), ("app", "ca-2026a"), ("root", "ca-2026a")
    ]  # fmt: skip
    verdict = guard_dropped_issuers(early, drops, issued, datetime.now(UTC))
    assert not verdict.allowed
    assert [(b.cluster, b.user) for b in verdict.blocked] == [
        ("frogs", "root"),
        ("frogs", "app"),
        ("dingos", "app"),
    ]
    assert f"issuer {MOUNT}/ca-2026a" in verdict.message
    assert "--allow-early-rotation" in verdict.message
    assert verdict.safe_after == max(r.not_after for r in issued)
    # What the guard prevents: with the shrunk bundle, the old certificate is refused.
    clusters["frogs"].set_client_ca(shrunk["frogs"].pem)
    out = walk.cli(
        "check", str(walk.path), "frogs", "root", "--host", "127.0.0.1", "--port", str(clusters["frogs"].port),
        "--sslrootcert", str(clusters["frogs"].server_ca), "--certs-dir", str(walk.certs / "frogs"), expect=1,
    )  # fmt: skip
    assert "the cluster does not trust the CA that signed this certificate" in out
    clusters["frogs"].set_client_ca(grown["frogs"].pem)

    # (2) Re-issue every user from the new issuer.
    walk.declare("ca-2026a, ca-2027a")
    walk.cli("issue", str(walk.path), "--all", "--out", str(walk.certs), "--force")
    walk.login_all(clusters)
    ready = walk.phase()
    assert ready["phase"] == "ready_to_drop"
    assert ready["pending_users"] == []

    # (3) Drop the old issuer: the guard allows it now, bundles shrink, every login still works.
    late = walk.declare("ca-2027a")
    issued = open_vault(late, os.environ).list_issued(MOUNT)
    assert len(issued) == 6
    verdict = guard_dropped_issuers(late, drops, issued, datetime.now(UTC))
    assert verdict.allowed, verdict.message
    final = walk.bundles()
    for name, bundle in final.items():
        assert shas(bundle) == shas(grown[name])[1:]
        clusters[name].set_client_ca(bundle.pem)
    walk.login_all(clusters)
    after = walk.phase()
    assert after["phase"] == "old_issuer_in_vault"
    assert [(i["name"], i["declared"]) for i in after["issuers"]] == [("ca-2027a", True), ("ca-2026a", False)]
    text = walk.cli("rotate", "status", str(walk.path))
    assert "phase: old issuer ca-2026a still in Vault but not declared" in text
    assert "trusted by: frogs, dingos (issuers ca-2027a)" in text
