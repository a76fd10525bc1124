"""The Vault adapter without a Vault: settings from stack + environment, retries, and one-line errors,
against a scripted HTTP stub on 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from certs_helper import make_ca
from roachcert import mask
from roachcert.errors import VaultError
from roachcert.spec import Stack, TokenAuth, VaultSpec
from roachcert.vault import transport
from roachcert.vault.adapter import VaultAdapter, find_token, open_vault, resolve_settings

PEM = make_ca("Stub issuer")[0].strip() + "\n"  # the adapter takes only a certificate that parses

TOKEN = "hvs.stub-token-1234567890"


class Stub:
    """Answers (status, body) per path; records every request's path and headers."""

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?")[0].removeprefix("/v1/")
                stub.hits[path] += 1
                stub.headers.append(dict(self.headers))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                answers = stub.routes.get(path) or [(404, {"errors": []})]
                status, body = answers[0] if len(answers) == 1 else answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_LIST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    monkeypatch.setattr(transport, "BACKOFF", 0.001)
    server = Stub()
    yield server
    server.server.shutdown()


def adapter(stub: Stub, namespace: str | None = None) -> VaultAdapter:
    env = {"VAULT_ADDR": stub.addr, "VAULT_TOKEN": TOKEN}
    if namespace:
        env["VAULT_NAMESPACE"] = namespace
    return VaultAdapter(resolve_settings(VaultSpec(), env), env)


# -- settings -----------------------------------------------------------------------------------------
def test_stack_values_win_and_environment_fills_the_rest() -> None:
    spec = VaultSpec(addr="https://vault.example.com:8200/")
    settings = resolve_settings(spec, {"VAULT_ADDR": "https://other:8200", "VAULT_NAMESPACE": "admin/team1/"})
    assert settings.addr == "https://vault.example.com:8200"
    assert settings.namespace == "admin/team1"  # hvac ignores VAULT_NAMESPACE; roachcert must not
    assert resolve_settings(VaultSpec(namespace="admin"), {"VAULT_NAMESPACE": "x"}).namespace == "admin"
    assert resolve_settings(VaultSpec(), {}).addr is None


def test_tls_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert resolve_settings(VaultSpec(), {"VAULT_CACERT": str(ca)}).verify == str(ca)
    assert resolve_settings(VaultSpec(), {"VAULT_SKIP_VERIFY": "true"}).verify is False
    assert resolve_settings(VaultSpec(), {}).verify is True
    with pytest.raises(VaultError, match="VAULT_CACERT names"):
        resolve_settings(VaultSpec(), {"VAULT_CACERT": str(tmp_path / "nope")})


def test_token_from_named_variable_then_vault_token_file(tmp_path: Path) -> None:
    auth = TokenAuth(token_env="MY_TOKEN")
    assert find_token(auth, {"MY_TOKEN": " tok-from-env-123 "}, tmp_path) == "tok-from-env-123"
    assert find_token(auth, {"VAULT_TOKEN": "not-this-one"}, tmp_path) is None
    (tmp_path / ".vault-token").write_text("tok-from-file-456\n")
    assert find_token(auth, {}, tmp_path) == "tok-from-file-456"
    assert "tok-from-file-456" not in mask.mask("token tok-from-file-456", os.environ)


def test_open_vault_needs_nothing_until_used() -> None:
    adapter = open_vault(Stack.model_validate({"version": 1}), {})
    with pytest.raises(VaultError, match="no Vault address"):
        adapter.read_issuer_pem("m", "a")


# -- requests -----------------------------------------------------------------------------------------
def test_namespace_and_token_headers(stub: Stub) -> None:
    stub.routes["m/issuer/a/json"] = [(200, {"data": {"certificate": PEM}})]
    assert adapter(stub, namespace="admin").read_issuer_pem("m", "a") == PEM
    assert stub.headers[0]["X-Vault-Namespace"] == "admin"
    assert stub.headers[0]["X-Vault-Token"] == TOKEN


def test_5xx_is_retried_with_backoff(stub: Stub) -> None:
    stub.routes["m/issuer/a/json"] = [
        (502, {"errors": ["bad gateway"]}),
        (500, {"errors": ["boom"]}),
        (200, {"data": {"certificate": PEM}}),
    ]
    assert adapter(stub).read_issuer_pem("m", "a") == PEM
    assert stub.hits["m/issuer/a/json"] == 3


def test_persistent_5xx_gives_one_line_after_all_attempts(stub: Stub) -> None:
    stub.routes["m/roles/client"] = [(500, {"errors": ["1 error occurred:\n\t* storage failed\n\n"]})]
    with pytest.raises(VaultError) as caught:
        adapter(stub).read_role("m", "client")
    assert stub.hits["m/roles/client"] == transport.RETRIES + 1
    assert str(caught.value).endswith("storage failed")
    assert "\n" not in str(caught.value)


def test_4xx_is_not_retried(stub: Stub) -> None:
    stub.routes["m/roles/client"] = [(400, {"errors": ["bad max_ttl"]})]
    with pytest.raises(VaultError, match="400 to POST m/roles/client"):
        adapter(stub).write_role("m", "client", {"max_ttl": "x"})
    assert stub.hits["m/roles/client"] == 1


def test_missing_issuer_is_none_without_retries(stub: Stub) -> None:
    stub.routes["m/issuer/a/json"] = [(500, {"errors": ["unable to find PKI issuer for reference: a"]})]
    assert adapter(stub).read_issuer_pem("m", "a") is None
    assert stub.hits["m/issuer/a/json"] == 1


def test_403_names_path_and_capability_never_the_token(stub: Stub) -> None:
    stub.routes["sys/mounts/m"] = [(403, {"errors": ["permission denied"]})]
    stub.routes["auth/token/lookup-self"] = [(200, {"data": {}})]
    with pytest.raises(VaultError) as caught:
        adapter(stub, namespace="admin").read_mount("m")
    message = str(caught.value)
    assert message == (
        "Vault denied 'read' on sys/mounts/m in namespace admin: "
        "the token's policies lack the 'read' capability there"
    )
    assert stub.hits["sys/mounts/m"] == 1
    assert TOKEN not in message


def test_403_with_a_dead_token_says_so(stub: Stub) -> None:
    stub.routes["m/root/generate/internal"] = [(403, {"errors": ["permission denied"]})]
    stub.routes["auth/token/lookup-self"] = [(403, {"errors": ["permission denied"]})]
    with pytest.raises(
        VaultError, match="'update' on m/root/generate/internal: the token is expired or revoked"
    ):
        adapter(stub).generate_root("m", "a", "CN", "8760h")


def test_sealed_is_one_line_without_retries(stub: Stub) -> None:
    stub.routes["sys/mounts/m"] = [(503, {"errors": ["Vault is sealed"]})]
    with pytest.raises(VaultError, match=r"^Vault at http://127\.0\.0\.1:\d+ is sealed"):
        adapter(stub).read_mount("m")
    assert stub.hits["sys/mounts/m"] == 1


def test_unreachable_is_one_line_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "BACKOFF", 0.001)
    env = {"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": TOKEN}
    with pytest.raises(VaultError) as caught:
        VaultAdapter(resolve_settings(VaultSpec(), env), env).read_mount("m")
    assert str(caught.value) == "cannot reach Vault at http://127.0.0.1:9 (connection refused), 4 attempts"


def test_absent_mount_and_role(stub: Stub) -> None:
    stub.routes["sys/mounts/m"] = [(400, {"errors": ["No secret engine mount at m/"]})]
    assert adapter(stub).read_mount("m") is None
    assert adapter(stub).read_role("m", "client") is None


def test_mount_reads_type_and_effective_ttl(stub: Stub) -> None:
    stub.routes["sys/mounts/m"] = [(200, {"data": {"type": "pki", "config": {"max_lease_ttl": 0}}})]
    stub.routes["sys/mounts/m/tune"] = [(200, {"data": {"max_lease_ttl": 2764800}})]
    state = adapter(stub).read_mount("m")
    assert state is not None
    assert (state.type, state.max_lease_ttl) == ("pki", 2764800)


def test_issued_key_is_not_in_repr(stub: Stub) -> None:
    key = "-----BEGIN EC " + "PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----"
    stub.routes["m/issuer/a/issue/client"] = [
        (200, {"data": {"certificate": PEM, "private_key": key, "serial_number": "01"}})
    ]
    issued = adapter(stub).issue_cert("m", "a", "client", "root", "48h")
    assert issued.private_key == key + "\n"
    assert "secret" not in repr(issued)


def test_approle_login_needs_its_variables() -> None:
    spec = VaultSpec(addr="http://127.0.0.1:9", auth={"method": "approle"})  # type: ignore[arg-type]
    with pytest.raises(VaultError, match="AppRole login needs VAULT_ROLE_ID"):
        VaultAdapter(resolve_settings(spec, {}), {}).read_role("m", "r")


def test_an_issue_answer_without_a_certificate_never_shows_its_key(stub: Stub) -> None:
    key = "-----BEGIN EC " + "PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----"
    stub.routes["m/issuer/a/issue/client"] = [
        (200, {"data": {"private_key": key, "certificate": "not a certificate", "serial_number": "01"}})
    ]
    with pytest.raises(VaultError, match="without a PEM certificate `certificate`") as raised:
        adapter(stub).issue_cert("m", "a", "client", "root", "48h")
    assert "PRIVATE" not in str(raised.value)
    assert "secret" not in str(raised.value)
