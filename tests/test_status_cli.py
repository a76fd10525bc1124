"""`roachcert status` against the real Cloud API emulator, with PEM-file CAs (no Vault needed):
each drift case, one cluster's error beside the others' rows, text and JSON, exit codes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.app import run
from roachcert.guard_facts import record_set_by_us
from roachcert.paths import stack_dir
from roachcert.pem import build_bundle, cert_info
from roachcert_sandbox.emulator import RunningEmulator, start_emulator

KEY = "crl-status-test-key"
FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"
DINGOS = "5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10"
GHOST = "9f1c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c99"  # never registered: 404


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    running = start_emulator(tmp_path / "emulator.json", KEY, pending_seconds=0)
    running.register_cluster(FROGS, "frogs")
    running.register_cluster(DINGOS, "dingos")
    monkeypatch.chdir(tmp_path)  # the working folder (.roachcert/) of each test is its own
    monkeypatch.setenv("COCKROACH_SERVER", running.url)
    monkeypatch.setenv("COCKROACH_API_KEY", KEY)
    yield running
    running.stop()


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, str, str]:
    """frogs trusts ca.pem; dingos trusts ca.pem and extra.pem. Returns (stack, ca pem, extra pem)."""
    ca, extra = make_ca("Legacy client CA")[0], make_ca("Extra client CA")[0]
    (tmp_path / "ca.pem").write_text(ca)
    (tmp_path / "extra.pem").write_text(extra)
    path = tmp_path / "st.yaml"
    path.write_text(
        "version: 1\n"
        "cas:\n  legacy: {pem_file: ca.pem}\n  extra: {pem_file: extra.pem}\n"
        "clusters:\n"
        f"  frogs: {{id: {FROGS}, ca: legacy, host: frogs.example.test}}\n"
        f"  dingos: {{id: {DINGOS}, ca: [legacy, extra], host: dingos.example.test}}\n"
    )
    return path, ca, extra


def bundle(*pems: str) -> str:
    return build_bundle(cert_info(pem) for pem in pems)


def set_both(emulator: RunningEmulator, ca: str, extra: str) -> None:
    """Both clusters' CAs set as roachcert's apply would have: on the Cloud side, and in its record."""
    emulator.change_client_ca(FROGS, bundle(ca))
    emulator.change_client_ca(DINGOS, bundle(ca, extra))
    workdir = stack_dir("st", os.environ)
    workdir.mkdir(parents=True, exist_ok=True)
    record_set_by_us(workdir, {FROGS: "frogs", DINGOS: "dingos"})


def status(stack: Path, *extra: str) -> int:
    return run(["status", str(stack), *extra])


def table(out: str) -> dict[str, tuple[str, str]]:
    """cluster → (id, state) from the text table's rows."""
    rows = [line.split(None, 2) for line in out.splitlines() if line[:1].islower() and "  " in line]
    return {row[0]: (row[1], row[2]) for row in rows if len(row) == 3 and row[0] != "only"}


def test_all_in_sync_exits_0(
    emulator: RunningEmulator, stack: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ca, extra = stack
    set_both(emulator, ca, extra)
    assert status(path) == 0
    out = capsys.readouterr().out
    assert table(out) == {"frogs": (FROGS, "in sync"), "dingos": (DINGOS, "in sync")}
    assert "2 cluster(s): 2 in sync" in out


def test_ca_removed_out_of_band(
    emulator: RunningEmulator, stack: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ca, extra = stack
    set_both(emulator, ca, extra)
    emulator.change_client_ca(FROGS, None)  # someone cleared it in the Console
    assert status(path) == 2
    out = capsys.readouterr().out
    assert table(out) == {"frogs": (FROGS, "drift: CA removed out of band"), "dingos": (DINGOS, "in sync")}
    assert "the cluster trusts no client CA: plan and apply the stack to set it" in out


def test_different_bundle_shows_fingerprints_of_both_sides(
    emulator: RunningEmulator, stack: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ca, extra = stack
    set_both(emulator, ca, extra)
    rogue = make_ca("Rogue CA")[0]
    emulator.change_client_ca(DINGOS, bundle(ca, rogue))
    assert status(path) == 2
    out = capsys.readouterr().out
    rogue_fp, extra_fp = cert_info(rogue).short_fingerprint, cert_info(extra).short_fingerprint
    assert table(out)["dingos"] == (DINGOS, "drift: different bundle")
    assert f"only in cloud: {rogue_fp} CN=Rogue CA" in out
    assert f"only in spec:  {extra_fp} extra/extra.pem (CN=Extra client CA)" in out


def test_pending_and_failed(
    emulator: RunningEmulator, stack: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ca, extra = stack
    emulator.set_faults(end_failed=True)
    emulator.change_client_ca(FROGS, bundle(ca))
    emulator.client_ca(FROGS)  # settles into FAILED
    emulator.set_faults(end_failed=False, stuck_pending=True)
    emulator.change_client_ca(DINGOS, bundle(ca, extra))
    assert status(path) == 2
    out = capsys.readouterr().out
    assert table(out) == {"frogs": (FROGS, "FAILED"), "dingos": (DINGOS, "PENDING")}


def test_unknown_cluster_is_an_error_row_and_exit_1(
    emulator: RunningEmulator, stack: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ca, extra = stack
    set_both(emulator, ca, extra)
    path.write_text(path.read_text().replace(DINGOS, GHOST))
    assert status(path) == 1
    out = capsys.readouterr().out
    assert table(out) == {"frogs": (FROGS, "in sync"), "dingos": (GHOST, "error")}
    assert f"cluster {GHOST} not found (HTTP 404)" in out


def test_json_has_stable_keys(
    emulator: RunningEmulator, stack: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ca, _extra = stack
    emulator.change_client_ca(FROGS, bundle(ca))
    assert status(path, "--format", "json") == 2
    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["stack", "server", "clusters", "counts", "exit_code"]
    assert document["exit_code"] == 2
    frogs, dingos = document["clusters"]
    assert list(frogs) == [
        "cluster", "id", "state", "label", "status", "only_in_cloud", "only_in_spec", "detail", "error",
        "hand_set",
    ]  # fmt: skip
    assert (frogs["state"], frogs["status"], frogs["error"]) == ("in_sync", "IS_SET", None)
    assert (dingos["state"], dingos["label"]) == ("not_set_yet", "not set yet")  # roachcert never set it
    assert document["counts"]["in_sync"] == 1
    assert list(document["counts"]) == [
        "in_sync", "not_set", "not_set_yet", "different", "pending", "failed", "error"
    ]  # fmt: skip


def test_no_api_key_is_one_line(
    emulator: RunningEmulator,
    stack: tuple[Path, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COCKROACH_API_KEY")
    assert status(stack[0]) == 1
    assert capsys.readouterr().err == "roachcert: no Cloud API key: set COCKROACH_API_KEY\n"


def test_wrong_key_is_masked(
    emulator: RunningEmulator,
    stack: tuple[Path, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COCKROACH_API_KEY", "crl-wrong-key-123456")
    assert status(stack[0]) == 1
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.out
    assert "crl-wrong-key-123456" not in captured.out + captured.err
