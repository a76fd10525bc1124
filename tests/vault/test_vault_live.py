"""Connecting to a real OpenBao: AppRole with a least-privilege policy, read-only bundles, refusals."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from roachcert import mask
from roachcert.app import run
from roachcert.bundles import cluster_bundles
from roachcert.errors import VaultError
from roachcert.spec import load_stack
from roachcert.vault.adapter import open_vault
from roachcert_sandbox.openbao import RunningOpenBao

pytestmark = pytest.mark.integration
MOUNT = "cockroach_client_ca"
# `issue` signs a CSR made here (/sign); /issue is for --vault-keygen only.
ISSUE_ONLY = f'path "{MOUNT}/issuer/+/sign/client" {{ capabilities = ["update"] }}'


@pytest.fixture
def ensured(
    vault_env: RunningOpenBao, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> Path:
    stack = write_stack(issuers="ca-2026a, ca-2027a")
    assert run(["ca", "ensure", str(stack)]) == 0
    capsys.readouterr()
    return stack


def no_secrets(text: str) -> None:
    for secret in mask.secrets(os.environ):
        assert secret not in text


def test_approle_least_privilege_issues_but_cannot_ensure(
    ensured: Path,
    root: Any,
    write_stack: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    namespace: str,
) -> None:
    root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy("issue-only", ISSUE_ONLY)
    root.auth.approle.create_or_update_approle("issuer", token_policies=["issue-only"])
    role_id = root.auth.approle.read_role_id("issuer")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("issuer")["data"]["secret_id"]
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("APP_ROLE_ID", role_id)
    monkeypatch.setenv("APP_SECRET_ID", secret_id)
    stack = write_stack(
        issuers="ca-2026a, ca-2027a",
        name="approle",
        extra="vault:\n  auth: {method: approle, role_id_env: APP_ROLE_ID, secret_id_env: APP_SECRET_ID}\n",
    )
    monkeypatch.chdir(tmp_path)
    assert run(["issue", str(stack), "frogs", "root"]) == 0
    issued = capsys.readouterr()
    assert (tmp_path / "certs/approle/frogs/client.root.key").exists()

    assert run(["ca", "ensure", str(stack)]) == 1
    refused = capsys.readouterr()
    assert refused.err == (
        f"roachcert: Vault denied 'read' on sys/mounts/{MOUNT} in namespace {namespace}: "
        "the token's policies lack the 'read' capability there\n"
    )
    assert secret_id in mask.secrets(os.environ)
    no_secrets(issued.out + issued.err + refused.out + refused.err)


def test_bad_approle_secret_is_one_line(
    ensured: Path,
    root: Any,
    write_stack: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("issuer", token_policies=["default"])
    monkeypatch.setenv("VAULT_ROLE_ID", root.auth.approle.read_role_id("issuer")["data"]["role_id"])
    monkeypatch.setenv("VAULT_SECRET_ID", "not-the-secret-id")
    stack = write_stack(name="badrole", extra="vault:\n  auth: {method: approle}\n")
    assert run(["issue", str(stack), "frogs", "root"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("roachcert: Vault refused the AppRole login at auth/approle/login")
    assert "not-the-secret-id" not in err


def test_bundles_need_no_write_access(ensured: Path, root: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan reads issuers only: a token with no policy beyond `default` is enough, and nothing changes."""
    token = root.auth.token.create(policies=["default"])["auth"]["client_token"]
    monkeypatch.setenv("VAULT_TOKEN", token)
    before = root.secrets.pki.list_issuers(mount_point=MOUNT)["data"]["keys"]
    stack = load_stack(ensured)
    bundles = cluster_bundles(stack, open_vault(stack, os.environ))
    assert set(bundles) == {"frogs", "dingos"}
    assert bundles["frogs"].sources == ("client-ca/ca-2026a", "client-ca/ca-2027a")
    assert bundles["frogs"].pem == bundles["dingos"].pem
    assert root.secrets.pki.list_issuers(mount_point=MOUNT)["data"]["keys"] == before


def test_limited_token_gets_path_and_capability(
    ensured: Path,
    root: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root.sys.create_or_update_policy("read-mounts", 'path "sys/mounts/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=["read-mounts"])["auth"]["client_token"]
    monkeypatch.setenv("VAULT_TOKEN", token)
    stack = load_stack(ensured)
    adapter = open_vault(stack, os.environ)
    with pytest.raises(VaultError) as caught:
        adapter.rotate_root(MOUNT, "x", "CN", "8760h")
    assert "'update' on cockroach_client_ca/root/rotate/internal" in str(caught.value)
    assert token not in str(caught.value)


def test_revoked_token_is_named_as_such(
    ensured: Path,
    root: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = root.auth.token.create(policies=["default"])["auth"]["client_token"]
    root.auth.token.revoke(token)
    monkeypatch.setenv("VAULT_TOKEN", token)
    assert run(["ca", "ensure", str(ensured)]) == 1
    err = capsys.readouterr().err
    assert "the token is expired or revoked" in err
    assert token not in err


def test_token_from_vault_token_file(
    ensured: Path,
    monkeypatch: pytest.MonkeyPatch,
    vault_env: RunningOpenBao,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("VAULT_TOKEN")
    (Path.home() / ".vault-token").write_text(vault_env.token + "\n")
    assert run(["ca", "ensure", str(ensured)]) == 0
    assert "no changes" in capsys.readouterr().out
