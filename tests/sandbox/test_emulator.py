"""The Cloud API emulator answers like reference/cockroach-cloud-client-ca.md, faults included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from roachcert_sandbox.emulator import RunningEmulator, start_emulator


class Api:
    def __init__(self, emulator: RunningEmulator, api_key: str) -> None:
        self.base = emulator.url
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def ca(self, method: str, cluster_id: str, cert: str | None = None, **kw: Any) -> requests.Response:
        body = None if cert is None else {"x509_pem_cert": cert}
        url = f"{self.base}/api/v1/clusters/{cluster_id}/client-ca-cert"
        return requests.request(
            method, url, json=body, headers=kw.pop("headers", self.headers), timeout=10, **kw
        )

    def wait_settled(self, cluster_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            info: dict[str, Any] = self.ca("GET", cluster_id).json()
            if info["status"] != "PENDING" or time.monotonic() > deadline:
                return info
            time.sleep(0.05)


@pytest.fixture
def api(emulator: RunningEmulator, api_key: str) -> Api:
    return Api(emulator, api_key)


def test_requests_without_the_key_get_401_with_a_status_body(
    api: Api, new_cluster: Callable[..., str]
) -> None:
    cluster = new_cluster()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        resp = api.ca("GET", cluster, headers=headers)
        assert resp.status_code == 401
        body = resp.json()
        assert body["code"] == 16
        assert body["message"]
        assert body["details"] == []


def test_unknown_cluster_is_404(api: Api) -> None:
    resp = api.ca("GET", "00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 404
    assert resp.json()["code"] == 5


def test_a_registered_dedicated_cluster_reads_not_set(api: Api, new_cluster: Callable[..., str]) -> None:
    assert api.ca("GET", new_cluster()).json() == {"status": "NOT_SET", "x509_pem_cert": ""}


def test_post_is_pending_then_set_with_the_cert_echoed_byte_for_byte(
    api: Api, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster()
    bundle = ca_pem("old CA") + "\n" + ca_pem("new CA")  # a blank line between, as the docs ask
    resp = api.ca("POST", cluster, bundle)
    assert resp.status_code == 200
    assert resp.json() == {"status": "PENDING", "x509_pem_cert": ""}
    assert api.ca("GET", cluster).json() == {"status": "PENDING", "x509_pem_cert": ""}
    assert api.wait_settled(cluster) == {"status": "IS_SET", "x509_pem_cert": bundle}


def test_patch_replaces_and_delete_clears(
    api: Api, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster, first, second = new_cluster(), ca_pem("first"), ca_pem("second")
    api.ca("POST", cluster, first)
    api.wait_settled(cluster)
    assert api.ca("PATCH", cluster, second).json()["status"] == "PENDING"
    assert api.wait_settled(cluster) == {"status": "IS_SET", "x509_pem_cert": second}
    assert api.ca("DELETE", cluster).json() == {"status": "PENDING", "x509_pem_cert": ""}
    assert api.wait_settled(cluster) == {"status": "NOT_SET", "x509_pem_cert": ""}


def test_a_change_while_one_is_pending_is_refused(
    api: Api, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster()
    api.ca("POST", cluster, ca_pem("a"))
    resp = api.ca("PATCH", cluster, ca_pem("b"))
    assert resp.status_code == 400
    assert "in progress" in resp.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not a certificate",
        '{"x509_pem_cert": "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"}',
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ],
    ids=["empty", "text", "json-wrapper", "bad-base64", "not-der"],
)
def test_a_body_that_is_not_pem_certificates_is_400(
    api: Api, new_cluster: Callable[..., str], body: str
) -> None:
    cluster = new_cluster()
    resp = api.ca("POST", cluster, body)
    assert resp.status_code == 400
    assert resp.json()["code"] == 3
    assert api.ca("GET", cluster).json()["status"] == "NOT_SET"


def test_a_private_key_beside_the_cert_is_400(
    api: Api, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    key_block = "-----BEGIN " + "PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    resp = api.ca("POST", new_cluster(), ca_pem("ca") + key_block)
    assert resp.status_code == 400


def test_missing_or_non_json_body_is_400(api: Api, new_cluster: Callable[..., str]) -> None:
    cluster = new_cluster()
    assert api.ca("POST", cluster).status_code == 400
    url = f"{api.base}/api/v1/clusters/{cluster}/client-ca-cert"
    assert requests.post(url, data=b"{nope", headers=api.headers, timeout=10).status_code == 400


def test_serverless_clusters_refuse_client_ca_management(
    api: Api, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster("SERVERLESS")
    resp = api.ca("POST", cluster, ca_pem("ca"))
    assert resp.status_code == 400
    assert resp.json()["message"] == "Client CA Cert management is only available for dedicated clusters"
    info = requests.get(f"{api.base}/api/v1/clusters/{cluster}", headers=api.headers, timeout=10).json()
    assert "serverless" in info["config"]


def test_get_cluster_shows_a_dedicated_config_and_the_ca_operation(
    api: Api, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster()
    api.ca("POST", cluster, ca_pem("ca"))
    info = requests.get(f"{api.base}/api/v1/clusters/{cluster}", headers=api.headers, timeout=10).json()
    assert info["id"] == cluster
    assert "dedicated" in info["config"]
    assert info["operation_status"] == "CRDB_CUSTOM_CLIENT_CA_RUNNING"


def test_latency_fault_delays_answers(
    api: Api, emulator: RunningEmulator, new_cluster: Callable[..., str]
) -> None:
    cluster = new_cluster()
    emulator.set_faults(latency_seconds=0.3)
    started = time.monotonic()
    assert api.ca("GET", cluster).status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("status", [500, 429, 503, 403])
def test_fail_next_fails_exactly_n_requests(
    api: Api, emulator: RunningEmulator, new_cluster: Callable[..., str], status: int
) -> None:
    cluster = new_cluster()
    emulator.set_faults(fail_next=2, fail_status=status)
    assert [api.ca("GET", cluster).status_code for _ in range(3)] == [status, status, 200]


def test_fail_method_limits_the_fault_to_one_method(
    api: Api, emulator: RunningEmulator, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster()
    emulator.set_faults(fail_next=1, fail_status=500, fail_method="POST")
    assert api.ca("GET", cluster).status_code == 200
    assert api.ca("POST", cluster, ca_pem("ca")).status_code == 500
    assert api.ca("POST", cluster, ca_pem("ca")).status_code == 200


def test_stuck_pending_stays_pending_until_cleared(
    api: Api, emulator: RunningEmulator, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster()
    emulator.set_faults(stuck_pending=True)
    api.ca("POST", cluster, ca_pem("ca"))
    time.sleep(0.4)
    assert api.ca("GET", cluster).json()["status"] == "PENDING"
    emulator.reset_faults()
    assert api.ca("GET", cluster).json()["status"] == "IS_SET"


def test_end_failed_makes_the_change_end_in_failed(
    api: Api, emulator: RunningEmulator, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    cluster = new_cluster()
    emulator.set_faults(end_failed=True)
    api.ca("POST", cluster, ca_pem("ca"))
    assert api.wait_settled(cluster) == {"status": "FAILED", "x509_pem_cert": ""}
    info = requests.get(f"{api.base}/api/v1/clusters/{cluster}", headers=api.headers, timeout=10).json()
    assert info["operation_status"] == "CRDB_CUSTOM_CLIENT_CA_FAILED"


def test_admin_endpoints_register_clusters_set_faults_and_log_requests_without_keys(
    api: Api, emulator: RunningEmulator, api_key: str
) -> None:
    admin = f"{emulator.url}/_admin"
    assert requests.get(f"{admin}/health", timeout=10).json() == {"ok": True}
    cluster = {"id": "6f1c2b0e-1111-4222-8333-944445555666", "name": "frogs", "plan": "DEDICATED"}
    assert requests.post(f"{admin}/clusters", json=cluster, timeout=10).status_code == 200
    assert (
        requests.post(f"{admin}/clusters", json={"id": "x", "plan": "HOBBY"}, timeout=10).status_code == 400
    )
    faults = requests.post(f"{admin}/faults", json={"fail_next": 1, "fail_status": 500}, timeout=10).json()
    assert faults["fail_next"] == 1
    assert requests.post(f"{admin}/faults", json={"bogus": 1}, timeout=10).status_code == 400
    assert api.ca("GET", cluster["id"]).status_code == 500
    assert api.ca("GET", cluster["id"]).status_code == 200
    log = requests.get(f"{admin}/requests", timeout=10)
    assert [(e["method"], e["status"]) for e in log.json()] == [("GET", 500), ("GET", 200)]
    assert log.json()[0]["authorization"] is True
    assert api_key not in log.text
    assert requests.delete(f"{admin}/clusters/{cluster['id']}", timeout=10).status_code == 200
    assert api.ca("GET", cluster["id"]).status_code == 404


def test_state_survives_a_restart_and_a_pending_change_settles_after_it(
    tmp_path: Path, api_key: str, ca_pem: Callable[[str], str]
) -> None:
    state_file = tmp_path / "state.json"
    first = start_emulator(state_file, api_key, pending_seconds=0.3)
    set_cluster, pending_cluster = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    )
    first.register_cluster(set_cluster, "a")
    first.register_cluster(pending_cluster, "b")
    cert = ca_pem("kept")
    api = Api(first, api_key)
    api.ca("POST", set_cluster, cert)
    api.wait_settled(set_cluster)
    api.ca("POST", pending_cluster, cert)
    first.stop()
    assert api_key not in state_file.read_text()

    second = start_emulator(state_file, api_key, pending_seconds=0.3)
    try:
        api = Api(second, api_key)
        assert api.ca("GET", set_cluster).json() == {"status": "IS_SET", "x509_pem_cert": cert}
        assert api.wait_settled(pending_cluster) == {"status": "IS_SET", "x509_pem_cert": cert}
    finally:
        second.stop()


def test_module_entry_reads_the_key_from_the_environment_and_stops_on_sigterm(
    tmp_path: Path, api_key: str
) -> None:
    env = {**os.environ, "COCKROACH_API_KEY": api_key}
    argv = [
        sys.executable,
        "-m",
        "roachcert_sandbox.emulator",
        "--state",
        str(tmp_path / "s.json"),
        "--port",
        "0",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        assert requests.get(f"{url}/_admin/health", timeout=10).json() == {"ok": True}
        resp = requests.get(
            f"{url}/api/v1/clusters/x", headers={"Authorization": f"Bearer {api_key}"}, timeout=10
        )
        assert resp.status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert api_key not in line + out + err


def test_module_entry_without_a_key_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COCKROACH_API_KEY"}
    argv = [sys.executable, "-m", "roachcert_sandbox.emulator", "--state", str(tmp_path / "s.json")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "COCKROACH_API_KEY" in done.stderr
    assert json.dumps({}) not in done.stdout
