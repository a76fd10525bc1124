"""Where a Vault login's credential comes from: a JWT (file or variable) or a token sink file.

Each is read afresh on every run (the platform or Vault Agent rotates it), registered with the mask at once,
and never written anywhere. The HTTP exchange itself lives in the adapter.
"""

from __future__ import annotations

import functools
import stat
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from roachcert import mask
from roachcert.errors import VaultError
from roachcert.spec import AppRoleAuth, JwtAuth, TokenAuth, TokenFileAuth, messages
from roachcert.spec.models import AUTH_METHODS, VaultAuth

AUTH_ENV = "ROACHCERT_VAULT_AUTH"
Auth = TokenAuth | AppRoleAuth | JwtAuth | TokenFileAuth


@functools.cache
def _auth_model() -> TypeAdapter[Auth]:
    return TypeAdapter(VaultAuth)  # built on first use: most runs never set AUTH_ENV


def auth_from_env(env: Mapping[str, str]) -> Auth | None:
    """This runner's own login, overriding the stack's `vault.auth`: one stack file serves CI, a CronJob
    and a laptop, each logging in its own way (`{method: jwt, role: renew, token_file: PATH}`)."""
    text = env.get(AUTH_ENV, "").strip()
    if not text:
        return None
    example = "write it like {method: jwt, role: NAME, token_file: PATH}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise VaultError(f"{AUTH_ENV} is not a YAML mapping: {example}")
    try:
        return _auth_model().validate_python(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=True, include_input=True)[0]
        where = tuple(error["loc"])
        where = where[1:] if where and where[0] in AUTH_METHODS else where  # the union's tag
        text = messages.message(error, where)
        raise VaultError(f"{AUTH_ENV}: {'.'.join(map(str, where)) + ': ' if where else ''}{text}") from None


def read_jwt(auth: JwtAuth, env: Mapping[str, str]) -> str:
    """The JWT to present, from the stack's `token_file` or `token_env`."""
    if auth.token_env is not None:
        jwt = env.get(auth.token_env, "").strip()
        source = auth.token_env
        if not jwt:
            raise VaultError(
                f"JWT login needs {auth.token_env} in the environment (the platform's OIDC token)"
            )
    else:
        # Its mode is not checked, unlike a Vault token's: Kubernetes projects service-account tokens
        # 0644 unless told otherwise, and a JWT is short-lived and good only for its audience's roles.
        assert auth.token_file is not None  # the model requires one of the two
        source = str(auth.token_file)
        jwt = _read(auth.token_file, "the JWT file").strip()
        if not jwt:
            raise VaultError(f"the JWT file {auth.token_file} is empty")
    mask.register(jwt)
    # A JWT is three base64url parts; anything else would only earn a vaguer refusal from Vault.
    if jwt.count(".") != 2 or any(char.isspace() for char in jwt):
        raise VaultError(f"{source} does not hold a JWT (three dot-separated parts): check what it names")
    return jwt


def read_token_file(auth: TokenFileAuth) -> str:
    """The token a sink (Vault Agent's `sink "file"`) holds; refused when others may read it."""
    check_private(auth.path)
    token = _read(auth.path, "the token file").strip()
    if not token:
        raise VaultError(f"the token file {auth.path} is empty: is Vault Agent running and logged in?")
    mask.register(token)
    return token


def check_private(path: Path) -> None:
    """Like a client key: a token others can read is a leaked token, so refuse it rather than use it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VaultError(f"the token file {path} does not exist: is Vault Agent running?") from None
    except OSError as exc:
        raise VaultError(f"cannot read the token file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise VaultError(
            f"the token file {path} has mode {stat.S_IMODE(mode):04o}, wider than 0600: not using it; "
            "set `mode = 0600` in the Vault Agent file sink (or chmod 600 it) and check who could read it"
        )


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VaultError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise VaultError(f"cannot read {what} {path}: {reason}") from None
