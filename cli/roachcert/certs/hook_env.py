"""The environment `renew --exec` gives its command: roachcert's own, without roachcert's credentials.

A reload hook (`systemctl reload app`, `kill -HUP`) needs PATH and HOME, never the Vault token, the Cloud
API key, a GitHub token or cloud keys. Left out: the variables the mask treats as secrets, the names the
Vault login reads (the stack's, or ROACHCERT_VAULT_AUTH's), the usual credential names (…TOKEN…, …SECRET…, …PASSWORD…, AWS keys), and any
variable whose value holds a secret roachcert knows (a URL with a password in it, a registered token).
`--exec-env NAME` passes one of them on, on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from roachcert.errors import RoachcertError
from roachcert.mask import SECRET_ENV, SECRET_ENV_PREFIXES, secrets
from roachcert.spec import Stack
from roachcert.spec.models import AppRoleAuth, JwtAuth, TokenAuth, TokenFileAuth

Auth = TokenAuth | AppRoleAuth | JwtAuth | TokenFileAuth

_CREDENTIAL_ENV = frozenset(
    {
        *SECRET_ENV,
        "VAULT_ROLE_ID",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECURITY_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    }
)
_CREDENTIAL_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_names(names: Sequence[str]) -> None:
    for name in names:
        if not _ENV_NAME.match(name):
            raise RoachcertError(f"--exec-env {name!r} is not an environment variable name")


def _stack_names(stack: Stack, login: Auth | None) -> set[str]:
    """The variables this run's Vault login reads (`login`: ROACHCERT_VAULT_AUTH's, which overrides the
    stack's): a JWT is a credential as much as a token is."""
    auth = login or stack.vault.auth
    if isinstance(auth, AppRoleAuth):
        return {auth.role_id_env, auth.secret_id_env}
    if isinstance(auth, TokenAuth | JwtAuth) and auth.token_env is not None:
        return {auth.token_env}
    return set()  # token_file: the token is in a file, not a variable


def hook_environment(
    environ: Mapping[str, str], stack: Stack, passed: Sequence[str] = (), login: Auth | None = None
) -> dict[str, str]:
    """`environ` without credentials, except the names in `passed`. `login`: this runner's Vault login
    when ROACHCERT_VAULT_AUTH sets one (vault.logins.auth_from_env)."""
    known = secrets(environ)
    dropped = _CREDENTIAL_ENV | _stack_names(stack, login)

    def credential(name: str, value: str) -> bool:
        upper = name.upper()
        return (
            upper in dropped
            or name in dropped
            or upper.startswith(SECRET_ENV_PREFIXES)
            or bool(_CREDENTIAL_NAME.search(upper))
            or any(secret in value for secret in known)
        )

    return {name: value for name, value in environ.items() if name in passed or not credential(name, value)}
