"""Keys made locally, against a real OpenBao whose audit log records every request and answer
unhashed: the private key `issue` writes never appears in it; with --vault-keygen it does (the
control that shows the log would catch it)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import hvac
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from roachcert.app import run
from roachcert.certs import keys
from roachcert_sandbox.openbao import RunningOpenBao, start_openbao

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOpenBao, Path]]:
    workdir = tmp_path_factory.mktemp("audited-openbao")
    log = workdir / "audit.log"
    server = start_openbao(workdir, audit_log=log)
    try:
        yield server, log
    finally:
        server.stop()


@pytest.fixture
def audited_env(
    audited: tuple[RunningOpenBao, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    server, log = audited
    namespace = f"n{tmp_path.name[-12:].replace('-', '')}"
    hvac.Client(url=server.addr, token=server.token).sys.create_namespace(namespace)
    monkeypatch.setenv("VAULT_ADDR", server.addr)
    monkeypatch.setenv("VAULT_TOKEN", server.token)
    monkeypatch.setenv("VAULT_NAMESPACE", namespace)
    monkeypatch.chdir(tmp_path)
    return log


def key_fragments(path: Path) -> list[str]:
    """Every form the key could take in a JSON log: its PEM lines, its base64 DER in one piece."""
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    lines = [line for line in path.read_text().splitlines() if "-----" not in line]
    der = base64.b64encode(keys.key_pkcs8_der(key)).decode()
    return [*lines, der]


@pytest.mark.parametrize(
    ("key_type", "kind"), [("ec", ec.EllipticCurvePrivateKey), ("rsa", rsa.RSAPrivateKey)]
)
def test_the_local_key_never_reaches_vault(
    audited_env: Path, write_stack: Callable[..., Path], key_type: str, kind: type
) -> None:
    stack = write_stack()
    stack.write_text(stack.read_text().replace("key_type: ec", f"key_type: {key_type}"))
    assert run(["ca", "ensure", str(stack)]) == 0
    assert run(["issue", str(stack), "frogs", "root"]) == 0
    assert run(["issue", str(stack), "frogs", "app", "--vault-keygen"]) == 0
    out = Path("certs/teststack/frogs")
    audit = audited_env.read_text()
    assert "/sign/client" in audit  # the log saw the signing request (and the CSR in it)
    local, remote = out / "client.root.key", out / "client.app.key"
    assert isinstance(serialization.load_pem_private_key(local.read_bytes(), None), kind)
    assert not [part for part in key_fragments(local) if part in audit]
    # The control: the key Vault made is in its answer, so the log would show a leaked key.
    assert all(line in audit for line in key_fragments(remote)[:-1])


def test_ca_ensure_role_takes_the_cn_from_the_request(
    audited_env: Path, write_stack: Callable[..., Path]
) -> None:
    stack = write_stack()
    assert run(["ca", "ensure", str(stack)]) == 0
    env = os.environ
    client = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"], namespace=env["VAULT_NAMESPACE"])
    role = client.read("cockroach_client_ca/roles/client")["data"]
    assert (role["use_csr_common_name"], role["use_csr_sans"], role["key_type"]) == (False, False, "ec")
    assert (role["client_flag"], role["server_flag"]) == (True, False)
    # A second ensure finds the role fit: nothing left to change.
    assert run(["ca", "ensure", str(stack), "--check"]) == 0
