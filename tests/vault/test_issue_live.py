"""`issue` and `connect-url` against a real OpenBao: files, modes, the certificate itself, --all."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from roachcert.app import run
from roachcert_sandbox.openbao import RunningOpenBao

pytestmark = pytest.mark.integration


@pytest.fixture
def ensured(ensure_stack: Callable[..., Path]) -> Path:
    return ensure_stack(issuers="ca-2026a, ca-2027a")


def load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_issue_writes_files_and_prints_the_url(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    captured = capsys.readouterr()
    out = tmp_path / "certs" / "teststack" / "frogs"
    key, crt, bundle = out / "client.root.key", out / "client.root.crt", out / "client-ca.crt"
    assert captured.out == (
        "postgresql://root@frogs.example.test:26257/defaultdb?sslmode=verify-full"
        f"&sslrootcert={Path.home()}/.postgresql/root.crt&sslcert={crt}&sslkey={key}\n"
    )
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) & 0o077 == 0
    assert "PRIVATE KEY" not in captured.out + captured.err
    [leaf] = load(crt)
    trusted = load(bundle)
    assert len(trusted) == 2  # both declared issuers: old certs keep working during the rotation
    assert bundle.read_text().count("-----END CERTIFICATE-----\n\n-----BEGIN CERTIFICATE-----") == 1
    # Issued by the current (last declared) issuer, and verifiable against the bundle (non-empty subjects).
    assert leaf.issuer == trusted[1].subject
    verifier = PolicyBuilder().store(Store(trusted)).build_client_verifier()
    verifier.verify(leaf, [])
    assert leaf.subject.rfc4514_string() == "CN=root"


def test_trap3_issued_certificate_is_client_only(ensured: Path, tmp_path: Path) -> None:
    assert run(["issue", str(ensured), "frogs", "app", "--out", "mine"]) == 0
    [leaf] = load(tmp_path / "mine" / "client.app.crt")
    usages = list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.CLIENT_AUTH]
    key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature
    assert not key_usage.key_cert_sign


def test_existing_key_is_not_overwritten_without_force(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    key = tmp_path / "certs" / "teststack" / "frogs" / "client.root.key"
    before = key.read_bytes()
    capsys.readouterr()
    assert run(["issue", str(ensured), "frogs", "root"]) == 1
    err = capsys.readouterr().err
    assert err == f"roachcert: {key} exists; pass --force to replace it\n"
    assert key.read_bytes() == before
    assert run(["issue", str(ensured), "frogs", "root", "--force"]) == 0
    assert key.read_bytes() != before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_undeclared_user_is_refused(ensured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["issue", str(ensured), "dingos", "root"]) == 1
    assert "user 'root' is not declared on cluster dingos (users: app)" in capsys.readouterr().err


def test_issue_all(ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out" / "dingos").mkdir(parents=True)
    (tmp_path / "out" / "dingos" / "client.app.key").write_text("keep me")
    assert run(["issue", str(ensured), "--all", "--out", "out", "--jobs", "4"]) == 1  # one failed
    captured = capsys.readouterr()
    assert "2 issued, 1 failed" in captured.out
    assert "FAILED" in captured.out
    for cluster, user in (("frogs", "root"), ("frogs", "app")):
        key = tmp_path / "out" / cluster / f"client.{user}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (key.parent / "client-ca.crt").exists()
    assert (tmp_path / "out" / "dingos" / "client.app.key").read_text() == "keep me"
    assert run(["issue", str(ensured), "--all", "--out", "out", "--force"]) == 0
    assert "3 issued, 0 failed" in capsys.readouterr().out


def test_connect_url_matches_issue(ensured: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    server_ca = tmp_path / "frogs-ca.crt"
    server_ca.write_text("x")
    assert run(["issue", str(ensured), "frogs", "app", "--sslrootcert", str(server_ca)]) == 0
    issued = capsys.readouterr().out
    assert run(["connect-url", str(ensured), "frogs", "app", "--sslrootcert", str(server_ca)]) == 0
    captured = capsys.readouterr()
    assert captured.out == issued
    assert captured.err == ""
    assert f"sslrootcert={server_ca}&" in issued


def test_issue_before_ensure_says_what_to_run(
    vault_env: RunningOpenBao, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str], root: Any
) -> None:
    stack = write_stack()
    assert run(["issue", str(stack), "frogs", "root"]) == 1
    err = capsys.readouterr().err
    assert "client-ca/ca-2026a (mount cockroach_client_ca)" in err
    assert f"run `roachcert ca ensure {stack}` first" in err
