"""`roachcert rotate status` through a fake Vault: the text and JSON each phase prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from certs_helper import make_ca, make_leaf
from roachcert.adapters import Adapters
from roachcert.app import run
from roachcert.pem import cert_info
from roachcert.runtime import Runtime
from roachcert.vault.ca_ensure import IssuerState
from roachcert.vault.rotation import IssuedRecord, records_from_pems

if TYPE_CHECKING:
    from roachcert.adapters import CloudApi


class FakeVault:
    def __init__(self, issuers: list[IssuerState], default: str, issued: list[IssuedRecord]) -> None:
        self.issuers, self.default, self.issued = issuers, default, issued

    def list_issuers(self, mount: str) -> tuple[IssuerState, ...]:
        return tuple(self.issuers)

    def default_issuer_id(self, mount: str) -> str | None:
        return self.default

    def list_issued(self, mount: str) -> list[IssuedRecord]:
        return self.issued


@pytest.fixture
def cas() -> dict[str, tuple[str, Any]]:
    return {"ca-a": make_ca("Client CA"), "ca-b": make_ca("Client CA")}


def write(tmp_path: Path, issuers: str) -> Path:
    (tmp_path / "legacy.pem").write_text(make_ca("Legacy CA")[0])
    path = tmp_path / "st.yaml"
    path.write_text(
        "version: 1\ncas:\n"
        f"  client-ca: {{mount: m1, common_name: Client CA, issuers: [{issuers}]}}\n"
        "  legacy: {pem_file: legacy.pem}\n"
        "clusters:\n"
        "  frogs: {id: 2186fbdb-598c-4797-a463-aaaee865903e, ca: [client-ca, legacy], host: f.example,"
        " users: [root, app]}\n"
    )
    return path


def _no_cloud() -> CloudApi:
    raise AssertionError("rotate status reads no Cloud API")


def fake(cas: dict[str, tuple[str, Any]], default: str, signed: dict[str, str]) -> Runtime:
    """signed: user → the issuer that signed that user's (only) certificate."""
    states = [IssuerState(f"id-{name}", name, pem) for name, (pem, _key) in cas.items()]
    leaves = [(f"0{i}", make_leaf(user, *cas[issuer])[0]) for i, (user, issuer) in enumerate(signed.items())]
    vault = FakeVault(states, f"id-{default}", records_from_pems("m1", leaves, states))
    return Runtime(adapters=Adapters(vault=lambda stack: vault, cloud=_no_cloud))


def test_text_while_reissue_is_pending(
    tmp_path: Path, cas: dict[str, tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    runtime = fake(cas, "ca-b", {"root": "ca-a", "app": "ca-b"})
    assert run(["rotate", "status", str(write(tmp_path, "ca-a, ca-b"))], runtime) == 0
    lines = capsys.readouterr().out.splitlines()
    exp = {name: cert_info(pem).not_after.strftime("%Y-%m-%d") for name, (pem, _key) in cas.items()}
    fp = {name: cert_info(pem).short_fingerprint for name, (pem, _key) in cas.items()}
    assert lines == [
        "client-ca (mount m1)",
        "  issuers, oldest first:",
        f"    ca-a  sha256 {fp['ca-a']}  expires {exp['ca-a']}",
        f"    ca-b  sha256 {fp['ca-b']}  expires {exp['ca-b']}  default: signs new certificates",
        "  trusted by: frogs (issuers ca-a, ca-b)",
        "  phase: reissue pending: 1 user(s)' newest certificate from an old issuer (root)",
        "legacy: a PEM file outside Vault; roachcert does not rotate it",
    ]


def test_json_ready_to_drop(
    tmp_path: Path, cas: dict[str, tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    runtime = fake(cas, "ca-b", {"root": "ca-b", "app": "ca-b"})
    assert run(["rotate", "status", str(write(tmp_path, "ca-a, ca-b")), "--format", "json"], runtime) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["stack", "cas", "outside_vault"]
    [ca] = document["cas"]
    assert list(ca) == ["ca", "mount", "issuers", "clusters", "phase", "summary", "pending_users"]
    assert ca["phase"] == "ready_to_drop"
    assert list(ca["issuers"][0]) == [
        "name",
        "issuer_id",
        "declared",
        "in_vault",
        "default",
        "sha256",
        "not_after",
    ]
    assert document["outside_vault"] == ["legacy"]


def test_declared_issuer_not_in_vault(
    tmp_path: Path, cas: dict[str, tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    runtime = fake({"ca-a": cas["ca-a"]}, "ca-a", {})
    assert run(["rotate", "status", str(write(tmp_path, "ca-a, ca-b"))], runtime) == 0
    out = capsys.readouterr().out
    assert "    ca-b  not in Vault\n" in out
    assert "phase: declared issuer ca-b not in Vault yet: run `roachcert ca ensure`" in out
