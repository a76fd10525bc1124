"""The CockroachDB Cloud API adapter: read-only calls for `status` and for confirming an apply.

GETs are retried like the real provider's HTTP client (go-retryablehttp defaults: 4 retries on 429,
5xx except 501 and connection errors; backoff 1 s doubling to 30 s; Retry-After honoured on 429/503).
Every failure is a CloudError with one line that never holds the API key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from roachcert import __version__
from roachcert.errors import CloudError

DEFAULT_SERVER = "https://cockroachlabs.cloud"
CC_VERSION = "2024-09-16"


@dataclass(frozen=True)
class ClientCaStatus:
    status: str  # NOT_SET, IS_SET, PENDING or FAILED
    x509_pem_cert: str


@dataclass(frozen=True)
class ClusterInfo:
    id: str
    name: str
    plan: str
    dedicated: bool
    operation_status: str


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class CloudClient:
    """A narrow client of the Cloud API. The key is kept only to build the Authorization header."""

    def __init__(
        self,
        server: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        retry_wait_min: float = 1.0,
        retry_wait_max: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key:
            raise CloudError("no Cloud API key: set COCKROACH_API_KEY")
        self.server = server.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.retry_wait_min = retry_wait_min
        self.retry_wait_max = retry_wait_max
        self._session = session or requests.Session()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> CloudClient:
        env = os.environ if environ is None else environ
        key = env.get("COCKROACH_API_KEY") or env.get("COCKROACH_API_JWT") or ""
        return cls(env.get("COCKROACH_SERVER") or DEFAULT_SERVER, key, **options)

    def __repr__(self) -> str:
        return f"CloudClient(server={self.server!r})"

    def get_client_ca(self, cluster_id: str) -> ClientCaStatus:
        body = self._get(f"/api/v1/clusters/{quote(cluster_id, safe='')}/client-ca-cert", cluster_id)
        return ClientCaStatus(
            status=str(body.get("status") or ""), x509_pem_cert=str(body.get("x509_pem_cert") or "")
        )

    def get_cluster(self, cluster_id: str) -> ClusterInfo:
        body = self._get(f"/api/v1/clusters/{quote(cluster_id, safe='')}", cluster_id)
        raw_config = body.get("config")
        config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        return ClusterInfo(
            id=str(body.get("id") or cluster_id),
            name=str(body.get("name") or ""),
            plan=str(body.get("plan") or ""),
            dedicated=bool(config) and config.get("serverless") is None,
            operation_status=str(body.get("operation_status") or ""),
        )

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Cc-Version": CC_VERSION,
            "User-Agent": f"roachcert/{__version__}",
            "Accept": "application/json",
        }

    def _get(self, path: str, cluster_id: str) -> dict[str, Any]:
        url = self.server + path
        last = ""
        for attempt in range(self.retries + 1):
            retry_after: float | None = None
            try:
                resp = self._session.get(url, headers=self._headers(), timeout=self.timeout)
            except requests.RequestException as exc:
                last = f"cannot reach it ({type(exc).__name__})"
            else:
                if resp.ok:
                    return self._json(resp, path)
                if not _retryable(resp.status_code):
                    raise self._refusal(resp, path, cluster_id)
                last = f"HTTP {resp.status_code}"
                retry_after = _retry_after(resp)
            if attempt < self.retries:
                time.sleep(self._backoff(attempt, retry_after))
        raise CloudError(
            f"Cloud API at {self.server}: GET {path} failed after {self.retries + 1} tries: {last}"
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return float(min(self.retry_wait_min * (2**attempt), self.retry_wait_max))

    def _json(self, resp: requests.Response, path: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CloudError(
                f"Cloud API at {self.server}: GET {path} answered something other than a JSON object"
            )
        return body

    def _refusal(self, resp: requests.Response, path: str, cluster_id: str) -> CloudError:
        code = resp.status_code
        where = f"Cloud API at {self.server}"
        if code == 401:
            return CloudError(f"{where} refused the API key (HTTP 401): check COCKROACH_API_KEY")
        if code == 403:
            return CloudError(
                f"{where}: the API key may not read cluster {cluster_id} (HTTP 403): its service account "
                "needs CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER on it"
            )
        if code == 404:
            return CloudError(f"{where}: cluster {cluster_id} not found (HTTP 404)")
        message = ""
        try:
            body = resp.json()
            if isinstance(body, dict) and isinstance(body.get("message"), str):
                message = f": {_one_line(body['message'])}"
        except ValueError:
            pass
        return CloudError(f"{where}: GET {path} failed (HTTP {code}){message}")


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status != 501)


def _retry_after(resp: requests.Response) -> float | None:
    if resp.status_code not in (429, 503):
        return None
    value = resp.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
