"""Where Vault logins read their credential (roachcert.vault.logins); the live logins are in
tests/reliability/test_vault_logins.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roachcert import mask
from roachcert.errors import VaultError
from roachcert.spec import JwtAuth, TokenFileAuth
from roachcert.vault import logins

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("{method: jwt, role: r", "ROACHCERT_VAULT_AUTH is not a YAML mapping: write it like {method: jwt"),
        ("jwt", "ROACHCERT_VAULT_AUTH is not a YAML mapping"),
        (
            "{method: kubernetes}",
            "ROACHCERT_VAULT_AUTH: 'kubernetes' is not supported here; use one of 'token'",
        ),
        ("{method: jwt, role: r}", "ROACHCERT_VAULT_AUTH: a JWT login reads the JWT from `token_file: PATH`"),
        (  # `role` is a field of jwt: never "did you mean 'role'?"
            "{method: approle, role: r, role_id_env: A, secret_id_env: B}",
            "ROACHCERT_VAULT_AUTH: role: unknown field here; remove it",
        ),
        (
            "{method: token_file, path: /x, token: s.abcdef}",
            "ROACHCERT_VAULT_AUTH: token: unknown field; never write",
        ),
    ],
)
def test_a_bad_runner_login_is_one_line_without_its_values(value: str, line: str) -> None:
    with pytest.raises(VaultError) as caught:
        logins.auth_from_env({"ROACHCERT_VAULT_AUTH": value})
    assert str(caught.value).startswith(line)
    assert "\n" not in str(caught.value)
    assert "s.abcdef" not in str(caught.value)


def test_the_runner_login_overrides_and_is_absent_when_unset() -> None:
    assert logins.auth_from_env({}) is None
    assert logins.auth_from_env({"ROACHCERT_VAULT_AUTH": "  "}) is None
    auth = logins.auth_from_env({"ROACHCERT_VAULT_AUTH": "{method: token_file, path: /run/agent/token}"})
    assert auth == TokenFileAuth(method="token_file", path=Path("/run/agent/token"))


def test_a_token_sink_must_be_private_and_not_empty(tmp_path: Path) -> None:
    sink = tmp_path / "token"
    auth = TokenFileAuth(method="token_file", path=sink)
    with pytest.raises(VaultError, match="does not exist: is Vault Agent running"):
        logins.read_token_file(auth)
    sink.write_text("")
    sink.chmod(0o600)
    with pytest.raises(VaultError, match="is empty"):
        logins.read_token_file(auth)
    sink.write_text("s.sink-token-value\n")
    for mode in (0o640, 0o604, 0o660):
        sink.chmod(mode)
        with pytest.raises(VaultError, match=f"has mode {mode:04o}, wider than 0600: not using it"):
            logins.read_token_file(auth)
    sink.chmod(0o400)
    assert logins.read_token_file(auth) == "s.sink-token-value"
    assert "s.sink-token-value" in mask.secrets(os.environ)


def test_a_jwt_is_read_trimmed_masked_and_checked_for_shape(tmp_path: Path) -> None:
    file = tmp_path / "jwt"
    file.write_text(JWT + "\n")
    assert logins.read_jwt(JwtAuth(method="jwt", role="r", token_file=file), {}) == JWT
    assert JWT in mask.secrets(os.environ)
    by_env = JwtAuth(method="jwt", role="r", token_env="CI_JOB_JWT_V2")
    assert logins.read_jwt(by_env, {"CI_JOB_JWT_V2": f" {JWT} "}) == JWT
    with pytest.raises(VaultError, match="CI_JOB_JWT_V2 does not hold a JWT"):
        logins.read_jwt(by_env, {"CI_JOB_JWT_V2": "hvs.not-a-jwt"})
    file.write_text("   \n")
    with pytest.raises(VaultError, match=f"the JWT file {file} is empty"):
        logins.read_jwt(JwtAuth(method="jwt", role="r", token_file=file), {})
