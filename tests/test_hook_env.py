"""What `renew --exec`'s command is given: the Vault login's own variables are left out whichever
login this run uses."""

from __future__ import annotations

from roachcert.certs.hook_env import hook_environment
from roachcert.spec.models import Stack
from roachcert.vault.logins import auth_from_env

STACK = Stack.model_validate({"version": 1, "name": "demo"})  # vault.auth: token (VAULT_TOKEN)


def test_the_variables_roachcert_vault_auth_names_are_left_out() -> None:
    """ROACHCERT_VAULT_AUTH overrides the stack's login; its variables are as much credentials."""
    environ = {
        "ROACHCERT_VAULT_AUTH": "{method: approle, role_id_env: SITE_ROLE, secret_id_env: SITE_LOGIN}",
        "SITE_ROLE": "role-id-value",
        "SITE_LOGIN": "secret-id-value",
        "CI_JOB_JWT_SOURCE": "kept",
        "PATH": "/usr/bin",
    }
    seen = hook_environment(environ, STACK, login=auth_from_env(environ))
    assert "SITE_ROLE" not in seen
    assert "SITE_LOGIN" not in seen
    assert seen["PATH"] == "/usr/bin"
    assert seen["CI_JOB_JWT_SOURCE"] == "kept"


def test_a_jwt_variable_named_by_roachcert_vault_auth_is_left_out() -> None:
    environ = {
        "ROACHCERT_VAULT_AUTH": "{method: jwt, role: renew, token_env: CI_JOB_JWT}",
        "CI_JOB_JWT": "a.b.c",
    }
    assert "CI_JOB_JWT" not in hook_environment(environ, STACK, login=auth_from_env(environ))
