"""What the audit saw the real provider v1.22.0 do against the emulator, through Terraform + emulator.

Each test runs on whichever provider is active (the real one when installed, else the stand-in), so the
same assertion holds the stand-in to the real provider's observed behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from roachcert_sandbox.emulator import RunningEmulator
from roachcert_sandbox.provider_api import _message

if TYPE_CHECKING:
    from conftest import Terraform

pytestmark = pytest.mark.integration
ADDR = "cockroach_client_ca_cert.main"


def _calls(emulator: RunningEmulator, cluster_id: str) -> list[tuple[str, int]]:
    return [(e["method"], e["status"]) for e in emulator.requests() if cluster_id in e["path"]]


def test_a_post_dropped_without_an_answer_is_sent_again_and_succeeds(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"), apply=False)
    emulator.set_faults(drop_next=1, fail_method="POST")
    terraform.apply()
    posts = [status for method, status in _calls(emulator, cluster) if method == "POST"]
    assert posts == [0, 200]  # 0: the connection closed with no HTTP answer
    assert emulator.client_ca(cluster)["status"] == "IS_SET"


def test_a_delete_dropped_without_an_answer_is_sent_again(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"))
    terraform.write_config({})
    emulator.set_faults(drop_next=1, fail_method="DELETE")
    terraform.apply()
    deletes = [status for method, status in _calls(emulator, cluster) if method == "DELETE"]
    assert deletes == [0, 200]
    assert emulator.client_ca(cluster)["status"] == "NOT_SET"
    assert terraform.state() == {}


def test_a_post_that_got_an_http_answer_is_never_sent_again(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"), apply=False)
    emulator.set_faults(fail_next=1, fail_status=502, fail_method="POST")
    terraform.apply(expect=1)
    assert [m for m, _ in _calls(emulator, cluster)].count("POST") == 1


def test_delete_answered_404_while_the_cert_is_still_set_fails_and_keeps_the_resource(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"))
    terraform.write_config({})
    emulator.set_faults(fail_next=1, fail_status=404, fail_method="DELETE")
    done = terraform.apply(expect=1)
    assert "plugin crashed!" in done.stderr, done.stderr
    assert "nil pointer dereference" in done.stderr
    assert [m for m, _ in _calls(emulator, cluster)][-2:] == ["DELETE", "GET"]  # one GET, then the panic
    assert ADDR in terraform.state()  # kept in state, as the real provider's crash leaves it
    assert emulator.client_ca(cluster)["status"] == "IS_SET"


def test_a_crash_after_a_delete_answered_404_abandons_the_siblings_mid_change(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    """The whole plugin dies: siblings whose PATCH was answered PENDING stay in state with the old
    cert (Terraform never heard back), and the apply fails for all of them."""
    gone, first, second = new_cluster(), new_cluster(), new_cluster()
    old, new = ca_pem("old"), ca_pem("new")
    terraform.write_config({"gone": (gone, old), "first": (first, old), "second": (second, old)})
    terraform.init()
    terraform.apply()
    terraform.write_config({"first": (first, new), "second": (second, new)})
    # Latency: the siblings' PATCHes land before the DELETE's 404; stuck_pending: they stay PENDING.
    emulator.set_faults(
        fail_next=1, fail_status=404, fail_method="DELETE", latency_seconds=0.3, stuck_pending=True
    )
    done = terraform.apply(expect=1)
    assert "plugin crashed!" in done.stderr, done.stderr
    emulator.reset_faults()
    state = terraform.state()
    assert set(state) == {f"cockroach_client_ca_cert.{n}" for n in ("gone", "first", "second")}
    for name, cluster in (("first", first), ("second", second)):
        assert [m for m, _ in _calls(emulator, cluster)].count("PATCH") == 1
        assert state[f"cockroach_client_ca_cert.{name}"]["x509_pem_cert"] == old  # never recorded
    assert emulator.client_ca(gone)["status"] == "IS_SET"


def test_a_trailing_slash_on_the_server_sends_double_slash_paths_that_the_api_does_not_know(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    """Raw Terraform (not roachcert): the provider joins COCKROACH_SERVER verbatim, the strict emulator
    answers `//api/...` with 404, and the Read drops the resource: a plan of all creates. roachcert
    strips the slash before Terraform sees it (tests/reliability/test_server_url.py)."""
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"))
    terraform.env["COCKROACH_SERVER"] = emulator.url + "/"
    assert terraform.planned_actions() == {ADDR: ["create"]}
    assert any(e["path"].startswith("//api/") and e["status"] == 404 for e in emulator.requests())


def test_a_jwt_goes_with_the_vanity_name_and_username_headers(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    emulator.set_jwt("jwt-token-for-tests", "acme", "alice@example.test")
    terraform.start(cluster, ca_pem("ca"), apply=False)
    terraform.env.pop("COCKROACH_API_KEY")
    terraform.env["COCKROACH_API_JWT"] = "jwt-token-for-tests"
    terraform.env["COCKROACH_VANITY_NAME"] = "acme"
    done = terraform.apply(expect=1)  # no username: the JWT is refused
    assert "unauthenticated" in done.stderr
    terraform.env["COCKROACH_USERNAME"] = "alice@example.test"
    terraform.apply()
    last = [e for e in emulator.requests() if cluster in e["path"]][-1]
    assert (last["cc_vanity_name"], last["cc_username"]) == ("acme", "alice@example.test")


def test_error_details_follow_the_sdk() -> None:
    status = b'{"code": 6, "message": "already exists", "details": []}'
    assert _message(409, "Conflict", status) == "already exists"
    assert _message(409, "Conflict", b"{}") == ""  # not a documented status: only Status.message
    assert _message(404, "Not Found", b"{}") == "404 Not Found"
    assert _message(502, "Bad Gateway", b"<html>bad gateway</html>", "text/html") == "undefined response type"


def test_a_non_json_error_page_is_undefined_response_type_in_terraform_output(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"), apply=False)
    emulator.set_faults(
        fail_next=1, fail_status=502, fail_method="POST", fail_body="<html>bad gateway</html>"
    )
    done = terraform.apply(expect=1)
    assert "undefined response type" in done.stderr


@pytest.mark.parametrize("level", ["DEBUG", "TRACE", ""])
def test_tf_log_debug_dumps_every_request_with_its_bearer_key(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
    api_key: str,
    level: str,
) -> None:
    """The real provider's SDK (cfg.Debug under TF_LOG=DEBUG|TRACE) dumps whole requests into the log;
    whatever runs Terraform must mask the key itself."""
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"), apply=False)
    done = terraform.apply(TF_LOG=level) if level else terraform.apply()
    header = f"Authorization: Bearer {api_key}"
    if not level:
        assert header not in done.stdout + done.stderr
        return
    assert header in done.stderr
    assert f"POST /api/v1/clusters/{cluster}/client-ca-cert HTTP/1.1" in done.stderr
    assert "Cc-Version: 2024-09-16" in done.stderr
