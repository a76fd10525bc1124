"""A real OpenBao dev server for the whole session; each test gets its own namespace in it."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest

from roachcert.app import run
from roachcert_sandbox.openbao import RunningOpenBao, start_openbao

_names = itertools.count(1)


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOpenBao]:
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def namespace(openbao: RunningOpenBao) -> str:
    """A fresh namespace, so every test starts from an empty Vault."""
    name = f"t{next(_names)}"
    hvac.Client(url=openbao.addr, token=openbao.token).sys.create_namespace(name)
    return name


@pytest.fixture
def root(openbao: RunningOpenBao, namespace: str) -> Any:
    """A root hvac client inside the test's namespace, for arranging and inspecting Vault."""
    return hvac.Client(url=openbao.addr, token=openbao.token, namespace=namespace)


@pytest.fixture
def vault_env(openbao: RunningOpenBao, namespace: str, monkeypatch: pytest.MonkeyPatch) -> RunningOpenBao:
    """The environment an operator would set: address, namespace (hvac ignores it; roachcert must not)."""
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    monkeypatch.setenv("VAULT_NAMESPACE", namespace)
    return openbao


STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Test Co client CA
    ttl: {ttl}
    issuers: [{issuers}]
    role: {{name: client, max_ttl: 48h, key_type: ec}}
clusters:
  frogs:
    id: 2186fbdb-598c-4797-a463-aaaee865903e
    ca: client-ca
    host: frogs.example.test
    users: [root, app]
  dingos:
    id: 5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10
    ca: client-ca
    host: dingos.example.test
    users: [app]
"""


@pytest.fixture
def write_stack(tmp_path: Path) -> Callable[..., Path]:
    """Write a stack file: `write_stack(issuers="a, b", ttl="8760h", extra="vault: ...")`."""

    def write(
        issuers: str = "ca-2026a",
        ttl: str = "8760h",
        mount: str = "cockroach_client_ca",
        extra: str = "",
        name: str = "teststack",
    ) -> Path:
        path = tmp_path / f"{name}.yaml"
        text = STACK.format(mount=mount, ttl=ttl, issuers=issuers) + textwrap.dedent(extra)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def ensure_stack(
    vault_env: RunningOpenBao,
    write_stack: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Path]:
    """Write a stack (`write_stack`'s arguments), work in its folder, and `ca ensure` it: the live tests'
    usual start."""

    def ensure(**stack: str) -> Path:
        path = write_stack(**stack)
        monkeypatch.chdir(tmp_path)
        assert run(["ca", "ensure", str(path)]) == 0
        capsys.readouterr()
        return path

    return ensure
