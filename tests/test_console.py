"""The Console's "Download CA Cert" as roachcert reads it: public (no key sent), one CA certificate,
pinned when asked, cached per cluster; the emulator's route answers like the Console."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from certs_helper import make_ca, make_leaf
from roachcert.cloud import console
from roachcert.pem import cert_info
from roachcert_sandbox.emulator import RunningEmulator, start_emulator

KEY = "crl-test-key"
CLUSTER = "2186fbdb-598c-4797-a463-aaaee865903e"


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    running = start_emulator(tmp_path / "emulator" / "state.json", KEY, pending_seconds=0)
    running.register_cluster(CLUSTER, "frogs")
    monkeypatch.setenv("COCKROACH_CONSOLE_URL", running.url + "/")
    monkeypatch.setenv("COCKROACH_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_fetch_is_public_and_cached(emulator: RunningEmulator, tmp_path: Path) -> None:
    got = console.fetch_and_cache(CLUSTER, None, "frogs", os.environ)
    assert got.path == tmp_path / ".roachcert" / "cluster-ca" / f"{CLUSTER}.crt"
    assert got.path.read_text() == emulator.cluster_ca_pem
    assert got.info.is_ca
    [request] = emulator.console_requests()
    assert request == {"path": f"/clusters/{CLUSTER}/cert", "authorization": False, "status": 200}
    cached = console.cached(CLUSTER, got.info.sha256, "frogs", os.environ)
    assert cached is not None
    assert cached.path == got.path
    assert (
        console.cached(CLUSTER, "00" * 32, "frogs", os.environ) is None
    )  # a pin the copy does not match: fetch again


def test_the_emulator_keeps_its_ca_across_restarts(tmp_path: Path) -> None:
    first = start_emulator(tmp_path / "state.json", KEY)
    pem = first.cluster_ca_pem
    first.stop()
    second = start_emulator(tmp_path / "state.json", KEY)
    try:
        assert second.cluster_ca_pem == pem
        assert cert_info(pem).is_ca
        assert (tmp_path / "emulator-cluster-ca.key").stat().st_mode & 0o077 == 0
    finally:
        second.stop()


def test_unknown_cluster_and_unreachable_console_are_no_answer(emulator: RunningEmulator) -> None:
    with pytest.raises(console.Unreachable, match="HTTP 404"):
        console.fetch("5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10", os.environ)
    assert requests.get(f"{emulator.url}/clusters/nope/cert", timeout=5).status_code == 404


def test_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCKROACH_CONSOLE_URL", "http://127.0.0.1:1")
    with pytest.raises(console.Unreachable, match="cannot reach it"):
        console.fetch(CLUSTER, os.environ, tries=1)


def test_an_answer_that_is_no_ca_is_refused() -> None:
    ca_pem, ca_key = make_ca("Cluster CA")
    leaf = make_leaf("server", ca_pem, ca_key)[0]
    with pytest.raises(console.ClusterCaError, match="is not a CA"):
        console.checked(leaf, "https://console/clusters/x/cert", None, "frogs")
    with pytest.raises(console.ClusterCaError, match="holds 2 certificates"):
        console.checked(ca_pem + make_ca("Other")[0], "https://console/clusters/x/cert", None, "frogs")
    with pytest.raises(console.ClusterCaError, match="it is not the cluster"):
        console.checked("<html>sign in</html>", "https://console/clusters/x/cert", None, "frogs")
    info = cert_info(ca_pem)
    assert console.checked(ca_pem, "s", info.sha256, "frogs") == info
    with pytest.raises(console.ClusterCaError) as caught:
        console.checked(ca_pem, "https://console/clusters/x/cert", "ab" * 32, "frogs")
    message = str(caught.value)
    assert "\n" not in message
    assert info.sha256 in message
    assert "ab" * 32 in message


def test_an_endless_answer_is_cut_off_and_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            for _ in range(1000):  # 1000 x 1 KiB, no length: read until the limit, no further
                self.wfile.write(b"A" * 1024)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("COCKROACH_CONSOLE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with pytest.raises(console.ClusterCaError, match="answered over 65536 bytes"):
            console.fetch(CLUSTER, os.environ)
    finally:
        server.shutdown()
        server.server_close()
