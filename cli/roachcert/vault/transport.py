"""The Vault transport: the only code that talks to hvac (the PKI API on top is `vault.adapter`).

Connection settings come from the stack, filled in from `VAULT_ADDR`, `VAULT_NAMESPACE` (hvac does not
read it), the token variable or `~/.vault-token`, `VAULT_CACERT`/`VAULT_CAPATH`/`VAULT_SKIP_VERIFY`,
`VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY`: all from the run's environment (hvac would read the process's).
Connection errors and 5xx are retried with backoff (backoff.py's rule); 4xx are not. Each refusal becomes
one `VaultError` line naming the path and the capability; the token never appears in any message.

Whatever answers must answer like Vault: JSON with Vault's shapes (`data` objects, `errors` lists on errors,
404s included). Anything else (an HTML page, a redirect, empty JSON, wrong types) is one `VaultError` line naming
the address, the request and what came back, and whether `sys/health` looks like Vault's. Redirects are not
followed: the token header would travel with them to wherever they point.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import requests

from roachcert import credentials, mask, paths
from roachcert.backoff import backoff
from roachcert.errors import VaultError
from roachcert.escape import printable
from roachcert.http_session import RunSession
from roachcert.spec import AppRoleAuth, JwtAuth, TokenAuth, TokenFileAuth, VaultSpec
from roachcert.vault import logins
from roachcert.vault.answers import answer, is_health, json_object, text_of

RETRIES = 3  # after the first attempt
BACKOFF = 0.25  # seconds, doubled each retry
BACKOFF_MAX = 4.0
TIMEOUT = 30
_CAPABILITY = {"get": "read", "list": "list", "post": "update", "put": "update", "delete": "delete"}
_TRUE = ("1", "true", "yes", "on")
_REASONS = (
    "connection refused",
    "name or service not known",
    "temporary failure in name resolution",
    "timed out",
    "no route to host",
    "certificate_verify_failed",
    "connection reset",
)


@dataclass(frozen=True)
class VaultSettings:
    addr: str | None
    namespace: str | None
    auth: logins.Auth
    verify: bool | str
    cert: tuple[str, str | None] | None = None  # VAULT_CLIENT_CERT (and VAULT_CLIENT_KEY): TLS client auth


def resolve_settings(spec: VaultSpec, env: Mapping[str, str]) -> VaultSettings:
    """The stack's values first; the environment fills what the stack leaves out."""
    addr = (spec.addr or env.get("VAULT_ADDR") or "").rstrip("/") or None
    namespace = (spec.namespace or env.get("VAULT_NAMESPACE") or "").strip("/") or None
    if namespace:  # hvac sends it as the X-Vault-Namespace header
        credentials.check_header("the Vault namespace", namespace, token=False)
    verify: bool | str = True
    if env.get("VAULT_SKIP_VERIFY", "").strip().lower() in _TRUE:
        verify = False
    elif env.get("VAULT_CACERT") or env.get("VAULT_CAPATH"):
        name = "VAULT_CACERT" if env.get("VAULT_CACERT") else "VAULT_CAPATH"
        verify = env[name]
        if not Path(verify).exists():
            raise VaultError(f"{name} names {verify}, which does not exist")
    auth = logins.auth_from_env(env) or spec.auth
    client_cert = env.get("VAULT_CLIENT_CERT") or None
    cert = (client_cert, env.get("VAULT_CLIENT_KEY") or None) if client_cert else None
    for name in ("VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY"):
        path = env.get(name)
        if cert is not None and path and not Path(path).exists():  # requests would raise a bare OSError
            raise VaultError(f"{name} names {path}, which does not exist")
    return VaultSettings(addr=addr, namespace=namespace, auth=auth, verify=verify, cert=cert)


def find_token(auth: TokenAuth, env: Mapping[str, str], home: Path) -> str | None:
    """The token from the stack's variable (VAULT_TOKEN by default), else `~/.vault-token`."""
    token = credentials.read(auth.token_env, env)
    if not token:
        try:
            token = (home / ".vault-token").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            token = ""
        credentials.check_header(str(home / ".vault-token"), token)
    mask.register(token)
    return token or None


class VaultTransport:
    """One Vault's connection: login, requests with retries, every answer checked to be Vault's."""

    def __init__(self, settings: VaultSettings, env: Mapping[str, str]) -> None:
        self.settings = settings
        self._env = dict(env)
        self._mask = mask.Masker(self._env)  # what a Vault echoes is masked before a message cuts it
        self._token: str | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- connection ------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        ns = f" (namespace {self.settings.namespace})" if self.settings.namespace else ""
        return f"{self.settings.addr}{ns}"

    def _ensure_ready(self) -> None:
        with self._lock:
            if self._ready:
                return
            if not self.settings.addr:
                raise VaultError("no Vault address: set `vault.addr` in the stack or VAULT_ADDR")
            auth = self.settings.auth
            if isinstance(auth, AppRoleAuth):
                self._token = self._approle_login(auth)
            elif isinstance(auth, JwtAuth):
                self._token = self._jwt_login(auth)
            elif isinstance(auth, TokenFileAuth):
                # Sent as the X-Vault-Token header, like a token from the environment.
                self._token = credentials.check_header(
                    f"the token file {auth.path}", logins.read_token_file(auth)
                )
            else:
                self._token = find_token(auth, self._env, paths.home(self._env))
            self._ready = True

    def _approle_login(self, auth: AppRoleAuth) -> str:
        ids = {name: credentials.read(name, self._env) for name in (auth.role_id_env, auth.secret_id_env)}
        for name, value in ids.items():
            if not value:
                raise VaultError(f"AppRole login needs {name} in the environment")
        mask.register(ids[auth.secret_id_env])
        path = f"auth/{auth.mount}/login"
        body = {"role_id": ids[auth.role_id_env], "secret_id": ids[auth.secret_id_env]}
        return self._login("AppRole login", path, body, lambda _reason: "check the role and secret IDs")

    def _jwt_login(self, auth: JwtAuth) -> str:
        jwt = logins.read_jwt(auth, self._env)
        path = f"auth/{auth.mount}/login"
        # Vault's reason (expired, audience, claims, unknown role) names no secret and says what to fix.
        return self._login(f"JWT login as role {auth.role!r}", path, {"role": auth.role, "jwt": jwt}, str)

    def _login(self, what: str, path: str, body: Mapping[str, str], advice: Callable[[str], str]) -> str:
        """POST a login; the client token it returns (masked from now on), or one line saying why not."""
        response = self._send("post", path, body, token="")
        self._check_vault(response, "post", path)
        if response.status_code in (400, 401, 403):
            # Masked before it is cut: a cut secret would no longer be found at the sink.
            reason = printable(self._mask(vault_errors(response)))[:300]
            if response.status_code == 403:  # what Vault answers for a login path where nothing is enabled
                reason += f" (is an auth method enabled at {path.removesuffix('/login')}?)"
            raise VaultError(f"Vault refused the {what} at {path} on {self.where}: {advice(reason)}")
        auth_block = self._json(response, "post", path).get("auth")
        token = text_of(
            auth_block if isinstance(auth_block, dict) else {}, "client_token", self._what("post", path)
        )
        mask.register(token)
        if not credentials.is_header_safe(token):
            raise VaultError(
                f"{self._what('post', path)} answered a `client_token` that is not a Vault token"
            )
        return token

    def _client(self, token: str | None) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            # The run's proxies and CA bundle (RunSession), and its client certificate: hvac reads
            # VAULT_CLIENT_CERT from the process's environment when `cert` is None, so it never is.
            session = RunSession(self._env)
            session.verify = self.settings.verify
            client = hvac.Client(
                url=self.settings.addr,
                namespace=self.settings.namespace,
                verify=self.settings.verify,
                cert=self.settings.cert or False,
                session=session,
                timeout=TIMEOUT,
                adapter=hvac.adapters.RawAdapter,
                allow_redirects=False,
            )
            self._local.client = client
        client.token = token or None
        return client

    def _send(
        self, method: str, path: str, data: Mapping[str, Any] | None = None, token: str | None = None
    ) -> requests.Response:
        """One request with retries on connection errors, 429 and 5xx (except a sealed Vault)."""
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                client = self._client(self._token if token is None else token)
                response: requests.Response = client.adapter.request(
                    method,
                    f"/v1/{path}",
                    json=dict(data) if data is not None else None,
                    raise_exception=False,
                )
            except requests.exceptions.SSLError as exc:
                raise VaultError(
                    f"TLS failed with Vault at {self.settings.addr} ({_reason(exc)}): set VAULT_CACERT"
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if last:
                    raise VaultError(
                        f"cannot reach Vault at {self.settings.addr} ({_reason(exc)}), {RETRIES + 1} attempts"
                    ) from None
            except requests.exceptions.RequestException as exc:
                raise VaultError(
                    f"{method.upper()} {path} on {self.where} failed: {type(exc).__name__}: {printable(self._mask(str(exc)))[:200]}"
                ) from None
            else:
                status = response.status_code
                retry = status == 429 or (status >= 500 and not _sealed(response) and not no_issuer(response))
                if not retry or last:
                    return response
            time.sleep(backoff(attempt, None, BACKOFF, BACKOFF_MAX))
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(
        self,
        method: str,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        absent: Callable[[requests.Response], bool] = lambda r: r.status_code == 404,
    ) -> dict[str, Any] | None:
        """`None` when `absent` says so (404 by default), the JSON body on 2xx, else a `VaultError`."""
        self._ensure_ready()
        response = self._send(method, path, data)
        self._check_vault(response, method, path)
        if absent(response):
            return None
        if response.status_code == 403:
            raise self._forbidden(path, _CAPABILITY[method])
        return self._json(response, method, path)

    def _what(self, method: str, path: str) -> str:
        return f"{method.upper()} {path} on {self.where}"

    def _check_vault(self, response: requests.Response, method: str, path: str) -> None:
        """Refuse an answer that is not Vault's: Vault speaks JSON objects, even in its 404s and errors."""
        status = response.status_code
        if 300 <= status < 400:
            where = response.headers.get("Location") or "nowhere"
            raise VaultError(
                f"{self._what(method, path)} answered a redirect ({status}) to {printable(self._mask(where))[:120]}: "
                "roachcert does not follow redirects (the token would go along); set VAULT_ADDR to Vault itself"
            )
        if not response.content and (200 <= status < 300):
            return  # 204 No Content after a write
        body = json_object(response)
        if body is None:
            raise self._not_vault(response, method, path, "no JSON object")
        if status >= 400 and not isinstance(body.get("errors"), list):
            raise self._not_vault(response, method, path, "no `errors` list")

    def _not_vault(self, response: requests.Response, method: str, path: str, lack: str) -> VaultError:
        health = self._health()
        return VaultError(
            f"{self.settings.addr} does not answer like Vault: {method.upper()} {path} got {answer(response, self._mask)} "
            f"({lack}); {health}; check VAULT_ADDR"
        )

    def _health(self) -> str:
        """What sys/health says, for the message about an answer that was not Vault's (one try, no retries)."""
        try:
            client = self._client(None)
            response: requests.Response = client.adapter.request(
                "get", "/v1/sys/health?standbyok=true&perfstandbyok=true", raise_exception=False
            )
        except requests.exceptions.RequestException as exc:
            return f"sys/health failed too ({type(exc).__name__})"
        body = json_object(response)
        if body is not None and is_health(body):
            return f"its sys/health answers like Vault {printable(self._mask(str(body['version'])))[:40]}"
        return f"sys/health got {answer(response, self._mask)}, not Vault's health"

    def _json(self, response: requests.Response, method: str, path: str) -> dict[str, Any]:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return {}
            body = json_object(response)
            if body is None:
                raise self._not_vault(response, method, path, "no JSON object")
            return body
        if status == 503 and _sealed(response):
            raise VaultError(f"Vault at {self.settings.addr} is sealed: ask its operators to unseal it")
        raise VaultError(
            f"Vault answered {status} to {method.upper()} {path} on {self.where}: {vault_errors(response)}"
        )

    def _forbidden(self, path: str, capability: str) -> VaultError:
        what = f"'{capability}' on {path}" + (
            f" in namespace {self.settings.namespace}" if self.settings.namespace else ""
        )
        if not self._token:
            return VaultError(
                f"Vault denied {what}: no token; set VAULT_TOKEN (or the stack's token_env) or log in"
            )
        valid = self._send("get", "auth/token/lookup-self").status_code == 200
        if valid:
            return VaultError(
                f"Vault denied {what}: the token's policies lack the '{capability}' capability there"
            )
        return VaultError(
            f"Vault denied {what}: the token is expired or revoked, or its policies lack that capability"
        )


def vault_errors(response: requests.Response) -> str:
    body = json_object(response)
    errors: Any = body.get("errors") if body is not None else [response.text]
    if not isinstance(errors, list):
        errors = [errors]
    lines: list[str] = []
    for error in errors:
        for line in str(error).splitlines():
            line = line.strip().lstrip("*").strip()
            if line and not line.endswith("error occurred:") and not line.endswith("errors occurred:"):
                lines.append(line)
    return "; ".join(lines) or f"HTTP {response.status_code}"


def _sealed(response: requests.Response) -> bool:
    return response.status_code == 503 and "sealed" in vault_errors(response).lower()


def no_issuer(response: requests.Response) -> bool:
    return response.status_code == 500 and "unable to find pki issuer" in vault_errors(response).lower()


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    return next((marker for marker in _REASONS if marker in text), type(exc).__name__)
