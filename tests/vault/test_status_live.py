"""`roachcert status` with the bundles read from a real OpenBao and the clusters' CAs from the real
Cloud API emulator: every drift case, including the one a rotation in Vault causes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.app import run
from roachcert.bundles import cluster_bundles
from roachcert.guard_facts import record_set_by_us
from roachcert.paths import stack_dir
from roachcert.pem import cert_info
from roachcert.spec import load_stack
from roachcert.vault.adapter import open_vault
from roachcert_sandbox.emulator import RunningEmulator, start_emulator
from roachcert_sandbox.openbao import RunningOpenBao

pytestmark = pytest.mark.integration
KEY = "crl-status-live-key"
FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"
DINGOS = "5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10"


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    running = start_emulator(tmp_path / "emulator.json", KEY, pending_seconds=0)
    for cluster_id, name in ((FROGS, "frogs"), (DINGOS, "dingos")):
        running.register_cluster(cluster_id, name)
    monkeypatch.chdir(tmp_path)  # the working folder (.roachcert/) of each test is its own
    monkeypatch.setenv("COCKROACH_SERVER", running.url)
    monkeypatch.setenv("COCKROACH_API_KEY", KEY)
    yield running
    running.stop()


@pytest.fixture
def ensured(
    vault_env: RunningOpenBao, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> Path:
    stack = write_stack()
    assert run(["ca", "ensure", str(stack)]) == 0
    capsys.readouterr()
    return stack


def apply_bundles(stack_file: Path, emulator: RunningEmulator) -> dict[str, str]:
    """What `apply` would leave behind: each cluster's rendered bundle set through the API, and in the
    record of clusters whose CA roachcert set."""
    stack = load_stack(stack_file)
    bundles = cluster_bundles(stack, open_vault(stack, os.environ))
    for name, bundle in bundles.items():
        emulator.change_client_ca(stack.clusters[name].id, bundle.pem)
    workdir = stack_dir(stack.name, os.environ)
    workdir.mkdir(parents=True, exist_ok=True)
    record_set_by_us(workdir, {cluster.id: name for name, cluster in stack.clusters.items()})
    return {name: bundle.pem for name, bundle in bundles.items()}


def states(capsys: pytest.CaptureFixture[str], stack: Path) -> tuple[int, dict[str, dict[str, object]]]:
    code = run(["status", str(stack), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    return code, {row["cluster"]: row for row in document["clusters"]}


def test_each_drift_case(
    ensured: Path, emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    applied = apply_bundles(ensured, emulator)
    code, rows = states(capsys, ensured)
    assert code == 0
    assert {name: row["state"] for name, row in rows.items()} == {"frogs": "in_sync", "dingos": "in_sync"}

    emulator.change_client_ca(DINGOS, None)  # cleared in the Console
    code, rows = states(capsys, ensured)
    assert (code, rows["dingos"]["label"]) == (2, "drift: CA removed out of band")

    rogue = make_ca("Rogue CA")[0]
    emulator.change_client_ca(DINGOS, rogue)
    code, rows = states(capsys, ensured)
    assert (code, rows["dingos"]["state"]) == (2, "different")
    assert rows["dingos"]["only_in_cloud"] == [
        {"sha256": cert_info(rogue).sha256, "subject": "CN=Rogue CA",
         "not_after": cert_info(rogue).not_after.isoformat(), "source": None}
    ]  # fmt: skip
    [spec_side] = rows["dingos"]["only_in_spec"]
    assert spec_side["source"] == "client-ca/ca-2026a"

    emulator.set_faults(stuck_pending=True)
    emulator.change_client_ca(DINGOS, applied["dingos"])
    code, rows = states(capsys, ensured)
    assert (code, rows["dingos"]["state"], rows["frogs"]["state"]) == (2, "pending", "in_sync")

    emulator.set_faults(stuck_pending=False, end_failed=True)
    emulator.change_client_ca(FROGS, applied["frogs"])
    code, rows = states(capsys, ensured)
    assert (code, rows["frogs"]["state"]) == (2, "failed")
    assert rows["frogs"]["detail"] == "the last change failed on the cluster: plan and apply the stack again"


def test_a_new_issuer_shows_as_drift_until_applied(
    ensured: Path,
    emulator: RunningEmulator,
    write_stack: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    apply_bundles(ensured, emulator)
    write_stack(issuers="ca-2026a, ca-2027a")
    assert run(["ca", "ensure", str(ensured)]) == 0
    capsys.readouterr()
    assert run(["status", str(ensured)]) == 2
    out = capsys.readouterr().out
    assert out.count("drift: different bundle") == 2
    assert out.count("only in spec:") == 2
    assert "client-ca/ca-2027a (CN=Test Co client CA)" in out
    assert "only in cloud" not in out
    apply_bundles(ensured, emulator)
    assert run(["status", str(ensured)]) == 0


def test_unknown_cluster_and_missing_issuer(
    ensured: Path,
    emulator: RunningEmulator,
    write_stack: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    apply_bundles(ensured, emulator)
    emulator.remove_cluster(DINGOS)
    code, rows = states(capsys, ensured)
    assert code == 1
    assert rows["frogs"]["state"] == "in_sync"
    assert rows["dingos"]["state"] == "error"
    assert f"cluster {DINGOS} not found (HTTP 404)" in str(rows["dingos"]["error"])
    write_stack(issuers="ca-2026a, ca-2099z")  # declared but never ensured
    assert run(["status", str(ensured)]) == 1
    assert "declared issuer missing in Vault: client-ca/ca-2099z" in capsys.readouterr().err
