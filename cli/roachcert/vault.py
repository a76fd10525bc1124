"""The Vault adapter: the only module that talks to hvac.

Connection settings come from the stack, filled in from `VAULT_ADDR`, `VAULT_NAMESPACE` (hvac does not
read it), the token variable or `~/.vault-token`, `VAULT_CACERT`/`VAULT_CAPATH`/`VAULT_SKIP_VERIFY`.
Connection errors and 5xx are retried with backoff; 4xx are not. Each refusal becomes one `VaultError`
line naming the path and the capability; the token never appears in any message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import requests

from roachcert import mask
from roachcert.ca_ensure import IssuerState, MountState
from roachcert.errors import VaultError
from roachcert.issue import IssuedCert
from roachcert.rotation import IssuedRecord, records_from_pems
from roachcert.spec import AppRoleAuth, Stack, TokenAuth, VaultSpec

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
    auth: TokenAuth | AppRoleAuth
    verify: bool | str


def resolve_settings(spec: VaultSpec, env: Mapping[str, str]) -> VaultSettings:
    """The stack's values first; the environment fills what the stack leaves out."""
    addr = (spec.addr or env.get("VAULT_ADDR") or "").rstrip("/") or None
    namespace = (spec.namespace or env.get("VAULT_NAMESPACE") or "").strip("/") or None
    verify: bool | str = True
    if env.get("VAULT_SKIP_VERIFY", "").strip().lower() in _TRUE:
        verify = False
    elif env.get("VAULT_CACERT") or env.get("VAULT_CAPATH"):
        name = "VAULT_CACERT" if env.get("VAULT_CACERT") else "VAULT_CAPATH"
        verify = env[name]
        if not Path(verify).exists():
            raise VaultError(f"{name} names {verify}, which does not exist")
    return VaultSettings(addr=addr, namespace=namespace, auth=spec.auth, verify=verify)


def find_token(auth: TokenAuth, env: Mapping[str, str], home: Path) -> str | None:
    """The token from the stack's variable (VAULT_TOKEN by default), else `~/.vault-token`."""
    token = env.get(auth.token_env, "").strip()
    if not token:
        try:
            token = (home / ".vault-token").read_text(encoding="utf-8").strip()
        except OSError:
            token = ""
    mask.register(token)
    return token or None


def open_vault(stack: Stack, env: Mapping[str, str] | None = None) -> VaultAdapter:
    """An adapter for the stack's Vault. Nothing is contacted (and nothing is required) until first use."""
    return VaultAdapter(resolve_settings(stack.vault, os.environ if env is None else env), env)


class VaultAdapter:
    """Implements `bundles.IssuerReader`, `ca_ensure.PkiAdmin` and `issue.CertIssuer` over hvac."""

    def __init__(self, settings: VaultSettings, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._env = dict(os.environ if env is None else env)
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
            else:
                self._token = find_token(auth, self._env, Path(self._env.get("HOME") or Path.home()))
            self._ready = True

    def _approle_login(self, auth: AppRoleAuth) -> str:
        ids = {name: self._env.get(name, "").strip() for name in (auth.role_id_env, auth.secret_id_env)}
        for name, value in ids.items():
            if not value:
                raise VaultError(f"AppRole login needs {name} in the environment")
        mask.register(ids[auth.secret_id_env])
        path = f"auth/{auth.mount}/login"
        body = {"role_id": ids[auth.role_id_env], "secret_id": ids[auth.secret_id_env]}
        response = self._send("post", path, body, token="")
        if response.status_code in (400, 403):
            raise VaultError(
                f"Vault refused the AppRole login at {path} on {self.where}: check the role and secret IDs"
            )
        token = str(self._json(response, "post", path)["auth"]["client_token"])
        mask.register(token)
        return token

    def _client(self, token: str | None) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = hvac.Client(
                url=self.settings.addr,
                namespace=self.settings.namespace,
                verify=self.settings.verify,
                timeout=TIMEOUT,
                adapter=hvac.adapters.RawAdapter,
            )
            self._local.client = client
        client.token = token or None
        return client

    def _send(
        self, method: str, path: str, data: Mapping[str, Any] | None = None, token: str | None = None
    ) -> requests.Response:
        """One request with retries on connection errors, 429 and 5xx (except a sealed Vault)."""
        delay = BACKOFF
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
            else:
                status = response.status_code
                retry = status == 429 or (
                    status >= 500 and not _sealed(response) and not _no_issuer(response)
                )
                if not retry or last:
                    return response
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
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
        if absent(response):
            return None
        if response.status_code == 403:
            raise self._forbidden(path, _CAPABILITY[method])
        return self._json(response, method, path)

    def _json(self, response: requests.Response, method: str, path: str) -> dict[str, Any]:
        status = response.status_code
        if 200 <= status < 300:
            return dict(response.json()) if response.content else {}
        if status == 503 and _sealed(response):
            raise VaultError(f"Vault at {self.settings.addr} is sealed: ask its operators to unseal it")
        raise VaultError(
            f"Vault answered {status} to {method.upper()} {path} on {self.where}: {_errors(response)}"
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

    # -- reads (bundles.IssuerReader) ----------------------------------------------------------------
    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        """An issuer's certificate PEM (an unauthenticated read in Vault); `None` when it is not there."""
        path = f"{mount}/issuer/{issuer}/json"
        body = self._call("get", path, absent=lambda r: r.status_code == 404 or _no_issuer(r))
        return None if body is None else str(body["data"]["certificate"]).strip() + "\n"

    # -- ca_ensure.PkiAdmin -----------------------------------------------------------------------------
    def read_mount(self, mount: str) -> MountState | None:
        path = f"sys/mounts/{mount}"
        body = self._call("get", path, absent=lambda r: "no secret engine mount" in _errors(r).lower())
        if body is None:
            return None
        tune = (self._call("get", f"{path}/tune") or {}).get("data") or {}
        return MountState(type=str(body["data"]["type"]), max_lease_ttl=int(tune.get("max_lease_ttl", 0)))

    def enable_pki(self, mount: str, max_lease_ttl: str) -> None:
        self._call("post", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": max_lease_ttl}})

    def tune_max_lease_ttl(self, mount: str, max_lease_ttl: str) -> None:
        self._call("post", f"sys/mounts/{mount}/tune", {"max_lease_ttl": max_lease_ttl})

    def list_issuers(self, mount: str) -> tuple[IssuerState, ...]:
        listed = self._call("list", f"{mount}/issuers")
        if not listed:
            return ()
        info: Mapping[str, Any] = listed["data"].get("key_info") or {}
        found = []
        for issuer_id in listed["data"].get("keys") or []:
            pem = self.read_issuer_pem(mount, issuer_id) or ""
            found.append(
                IssuerState(
                    issuer_id=issuer_id, name=str(info.get(issuer_id, {}).get("issuer_name", "")), pem=pem
                )
            )
        return tuple(found)

    def default_issuer_id(self, mount: str) -> str | None:
        body = self._call("get", f"{mount}/config/issuers")
        default = str(body["data"].get("default") or "") if body else ""
        return default or None

    def generate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        return self._new_issuer(f"{mount}/root/generate/internal", issuer, common_name, ttl)

    def rotate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        return self._new_issuer(f"{mount}/root/rotate/internal", issuer, common_name, ttl)

    def _new_issuer(self, path: str, issuer: str, common_name: str, ttl: str) -> str:
        body = self._call("post", path, {"common_name": common_name, "issuer_name": issuer, "ttl": ttl})
        if not body or "private_key" in body.get("data", {}):
            raise VaultError(f"Vault answered {path} without a certificate (or with a key): refusing")
        return str(body["data"]["certificate"]).strip() + "\n"

    def set_default_issuer(self, mount: str, issuer: str) -> None:
        self._call("post", f"{mount}/config/issuers", {"default": issuer})

    def read_role(self, mount: str, role: str) -> Mapping[str, Any] | None:
        body = self._call("get", f"{mount}/roles/{role}")
        return dict(body["data"]) if body else None

    def write_role(self, mount: str, role: str, params: Mapping[str, Any]) -> None:
        self._call("post", f"{mount}/roles/{role}", params)

    # -- issue.CertIssuer ----------------------------------------------------------------------------
    def issue_cert(self, mount: str, issuer: str, role: str, common_name: str, ttl: str) -> IssuedCert:
        path = f"{mount}/issuer/{issuer}/issue/{role}"
        # Vault also puts the CN in a DNS SAN, as the product doc's certificates have; strict verifiers
        # (cryptography's) require a SAN, and without the serverAuth EKU it cannot serve TLS.
        body = self._call("post", path, {"common_name": common_name, "ttl": ttl})
        if body is None:
            raise VaultError(f"{path} does not exist on {self.where}: run `roachcert ca ensure` first")
        data = body["data"]
        return IssuedCert(
            certificate=str(data["certificate"]).strip() + "\n",
            private_key=str(data["private_key"]).strip() + "\n",
            serial_number=str(data["serial_number"]),
        )

    # -- rotation: the certificates a mount has issued -----------------------------------------------
    def list_issued(self, mount: str, jobs: int = 8) -> list[IssuedRecord]:
        """Every unrevoked client certificate the mount stored (LIST MOUNT/certs, then each
        MOUNT/cert/SERIAL, `jobs` at a time), with the issuer that signed it. Roles with
        `no_store` leave nothing here."""
        listed = self._call("list", f"{mount}/certs")
        serials = [str(s) for s in ((listed or {}).get("data") or {}).get("keys") or []]
        if not serials:
            return []

        def read(serial: str) -> tuple[str, str] | None:
            data = (self._call("get", f"{mount}/cert/{serial}") or {}).get("data") or {}
            if not data.get("certificate") or int(data.get("revocation_time") or 0) > 0:
                return None
            return serial, str(data["certificate"])

        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(serials)))) as pool:
            found = [pair for pair in pool.map(read, serials) if pair is not None]
        return records_from_pems(mount, found, self.list_issuers(mount))


def _errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = [response.text]
    lines: list[str] = []
    for error in errors:
        for line in str(error).splitlines():
            line = line.strip().lstrip("*").strip()
            if line and not line.endswith("error occurred:") and not line.endswith("errors occurred:"):
                lines.append(line)
    return "; ".join(lines) or f"HTTP {response.status_code}"


def _sealed(response: requests.Response) -> bool:
    return response.status_code == 503 and "sealed" in _errors(response).lower()


def _no_issuer(response: requests.Response) -> bool:
    return response.status_code == 500 and "unable to find pki issuer" in _errors(response).lower()


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    return next((marker for marker in _REASONS if marker in text), type(exc).__name__)
