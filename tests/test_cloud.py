"""The Cloud API adapter against the local emulator: statuses, one-line refusals, GET retries."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.cloud.client import ClientCaStatus, CloudClient
from roachcert.errors import CloudError
from roachcert_sandbox.emulator import RunningEmulator, start_emulator

KEY = "crl-test-cloud-key"
DEDICATED = "0b5c4c4e-8a55-4d4e-9a43-7d5f0c9c1a01"
SERVERLESS = "0b5c4c4e-8a55-4d4e-9a43-7d5f0c9c1a02"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    running = start_emulator(tmp_path / "state.json", KEY, pending_seconds=0)
    running.register_cluster(DEDICATED, "frogs")
    running.register_cluster(SERVERLESS, "toads", "SERVERLESS")
    yield running
    running.stop()


def _client(url: str, key: str = KEY) -> CloudClient:
    return CloudClient(url, key, retry_wait_min=0.01, retry_wait_max=0.02, timeout=5)


def test_reads_not_set_then_the_cert_once_set(emulator: RunningEmulator) -> None:
    client = _client(emulator.url + "/")
    assert client.get_client_ca(DEDICATED) == ClientCaStatus("NOT_SET", "")
    pem = make_ca("cloud test CA")[0]
    emulator.change_client_ca(DEDICATED, pem)
    assert client.get_client_ca(DEDICATED) == ClientCaStatus("IS_SET", pem)


def test_reads_a_cluster_and_tells_dedicated_from_serverless(emulator: RunningEmulator) -> None:
    client = _client(emulator.url)
    assert client.get_cluster(DEDICATED).dedicated is True
    assert client.get_cluster(SERVERLESS).dedicated is False
    assert client.get_cluster(DEDICATED).name == "frogs"


def test_a_wrong_key_is_one_line_that_does_not_show_the_key(emulator: RunningEmulator) -> None:
    with pytest.raises(CloudError) as caught:
        _client(emulator.url, "not-the-key").get_client_ca(DEDICATED)
    message = str(caught.value)
    assert "401" in message
    assert "COCKROACH_API_KEY" in message
    assert "not-the-key" not in message
    assert "\n" not in message


def test_forbidden_names_the_roles_needed(emulator: RunningEmulator) -> None:
    emulator.set_faults(fail_next=1, fail_status=403)
    with pytest.raises(CloudError, match=r"403.*CLUSTER_ADMIN"):
        _client(emulator.url).get_client_ca(DEDICATED)


def test_an_unknown_cluster_is_named(emulator: RunningEmulator) -> None:
    with pytest.raises(CloudError, match=r"cluster 1234 not found \(HTTP 404\)"):
        _client(emulator.url).get_client_ca("1234")


def test_other_refusals_carry_the_api_message(emulator: RunningEmulator) -> None:
    with pytest.raises(CloudError, match="only available for dedicated clusters"):
        _client(emulator.url).get_client_ca(SERVERLESS)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_gets_are_retried_on_throttling_and_server_errors(emulator: RunningEmulator, status: int) -> None:
    emulator.set_faults(fail_next=4, fail_status=status)
    assert _client(emulator.url).get_client_ca(DEDICATED).status == "NOT_SET"
    assert [e["status"] for e in emulator.requests()] == [status] * 4 + [200]


def test_gives_up_after_five_tries(emulator: RunningEmulator) -> None:
    emulator.set_faults(fail_next=10, fail_status=500)
    with pytest.raises(CloudError, match="after 5 tries: HTTP 500"):
        _client(emulator.url).get_client_ca(DEDICATED)
    assert len(emulator.requests()) == 5


def test_501_is_not_retried(emulator: RunningEmulator) -> None:
    emulator.set_faults(fail_next=10, fail_status=501)
    with pytest.raises(CloudError, match="HTTP 501"):
        _client(emulator.url).get_client_ca(DEDICATED)
    assert len(emulator.requests()) == 1


def test_an_unreachable_server_is_one_line_after_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CloudError, match="after 5 tries: cannot reach it"):
        _client(f"http://127.0.0.1:{port}").get_client_ca(DEDICATED)


def test_from_env_needs_a_key_and_defaults_the_server() -> None:
    with pytest.raises(CloudError, match="COCKROACH_API_KEY"):
        CloudClient.from_env({})
    client = CloudClient.from_env({"COCKROACH_API_KEY": "crl-secret-xyz"})
    assert client.server == "https://cockroachlabs.cloud"
    assert "crl-secret-xyz" not in repr(client)


def test_a_jwt_sends_the_vanity_name_and_username_the_api_checks(emulator: RunningEmulator) -> None:
    emulator.set_jwt("jwt-for-cloud-tests", "acme", "alice@example.test")
    env = {"COCKROACH_SERVER": emulator.url, "COCKROACH_API_JWT": "jwt-for-cloud-tests"}
    with pytest.raises(CloudError, match="HTTP 401"):
        CloudClient.from_env(env, retry_wait_min=0.01).get_client_ca(DEDICATED)
    env |= {"COCKROACH_VANITY_NAME": "acme", "COCKROACH_USERNAME": "alice@example.test"}
    assert CloudClient.from_env(env).get_client_ca(DEDICATED).status == "NOT_SET"
    last = emulator.requests()[-1]
    assert (last["cc_vanity_name"], last["cc_username"]) == ("acme", "alice@example.test")
    # An API key wins over a JWT and goes without the JWT headers.
    CloudClient.from_env({**env, "COCKROACH_API_KEY": KEY}).get_client_ca(DEDICATED)
    assert emulator.requests()[-1]["cc_vanity_name"] == ""


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, "<html><body>Bad gateway</body></html>", r"after 5 tries: HTTP 502, text/html.*Bad gateway"),
        (400, "[1, 2]", r"failed \(HTTP 400\) \(HTTP 400, text/html.*: \[1, 2\]\)"),
        (302, "", r"answered a redirect \(HTTP 302 to /elsewhere\)"),
    ],
)
def test_an_answer_that_is_not_the_apis_is_one_line_naming_address_request_and_answer(
    emulator: RunningEmulator, status: int, body: str, expected: str
) -> None:
    emulator.set_faults(fail_next=10, fail_status=status, fail_body=body)
    with pytest.raises(CloudError, match=expected) as caught:
        _client(emulator.url).get_client_ca(DEDICATED)
    line = str(caught.value)
    assert "\n" not in line
    assert emulator.url in line
    assert f"GET /api/v1/clusters/{DEDICATED}/client-ca-cert" in line
    assert KEY not in line


def test_a_trailing_slash_on_the_server_is_dropped(emulator: RunningEmulator) -> None:
    client = CloudClient.from_env({"COCKROACH_SERVER": emulator.url + "//", "COCKROACH_API_KEY": KEY})
    assert client.server == emulator.url
    client.get_client_ca(DEDICATED)
    assert emulator.requests()[-1]["path"].startswith("/api/")
