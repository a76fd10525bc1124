"""The stand-in provider's HTTP client and poller, shaped like the real provider's.

Real behaviour copied (terraform-provider-cockroach v1.22.0): GETs are retried (go-retryablehttp
defaults: on 429, 5xx except 501 and connection errors, backoff 1 s doubling to 30 s, Retry-After
honoured on 429/503); POST, PATCH and DELETE that got any HTTP answer are not, but are re-sent when the
connection dropped with no answer (the provider's retryGetRequestsOnly only refuses once a response
came back). COCKROACH_SERVER is used verbatim: a trailing slash sends `//api/...`, as the real one does.
Polling GETs every 0.5 s doubling to 10 s and gives up after 10 minutes. Stdlib only: the provider
starts several times per plan.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from roachcert.backoff import backoff  # stdlib only, like this module

ADDRESS = "registry.terraform.io/cockroachdb/cockroach"
VERSION = "1.22.0"
CC_VERSION = "2024-09-16"
USER_AGENT = "terraform-provider-cockroach"
DEFAULT_SERVER = "https://cockroachlabs.cloud"
GET_RETRIES = 4  # retries after the first try (go-retryablehttp RetryMax)
POLL_TIMEOUT = 600.0
# Stand-in only: the real values are fixed; tests shorten them.
POLL_TIMEOUT_ENV = "ROACHCERT_STANDIN_POLL_TIMEOUT"
RETRY_WAIT_ENV = "ROACHCERT_STANDIN_RETRY_WAIT"


class ApiError(Exception):
    """A failed call: `status` is None when no HTTP answer came back."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PollError(Exception):
    """Polling stopped without the change settling."""


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or (status >= 500 and status != 501)


# The SDK decodes these statuses' bodies into a Status model; any other falls to the `default` Status.
_DOCUMENTED = (400, 401, 403, 404, 500)


def _message(status: int, reason: str, raw: bytes, content_type: str = "application/json") -> str:
    """The error detail the real provider shows (the SDK's error handling): a body that is not JSON
    gives "undefined response type"; a documented status its Status message or the Go client's
    "404 Not Found" form; any other status only its Status message (empty when absent)."""
    if raw.strip() and "json" not in content_type.lower():
        return "undefined response type"
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return "undefined response type"
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        return message
    return f"{status} {reason}".strip() if status in _DOCUMENTED else ""


@dataclass
class CloudApi:
    server: str
    token: str
    retry_wait_min: float = 1.0
    retry_wait_max: float = 30.0
    timeout: float = 60.0
    jwt_headers: dict[str, str] | None = None  # Cc-Vanity-Name / Cc-Username, sent with a JWT

    @classmethod
    def from_env(cls, token: str, jwt: bool = False) -> CloudApi:
        server = os.environ.get("COCKROACH_SERVER") or DEFAULT_SERVER
        headers = None
        if jwt:
            headers = {
                "Cc-Vanity-Name": os.environ.get("COCKROACH_VANITY_NAME", ""),
                "Cc-Username": os.environ.get("COCKROACH_USERNAME", ""),
            }
        return cls(
            server=server,
            token=token,
            retry_wait_min=_env_seconds(RETRY_WAIT_ENV, 1.0),
            jwt_headers={k: v for k, v in headers.items() if v} if headers else None,
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        attempts = 1 + GET_RETRIES  # a non-GET only comes back here when no answer came back
        for attempt in range(attempts):
            try:
                return self._once(method, path, body)
            except _Retry as retry:
                if attempt + 1 >= attempts:
                    raise retry.error from None
                time.sleep(backoff(attempt, retry.retry_after, self.retry_wait_min, self.retry_wait_max))
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        url = self.server + path  # verbatim, like the real provider: "https://x/" gives "https://x//api"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) server URL
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Cc-Version", CC_VERSION)
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("Accept", "application/json")
        for name, value in (self.jwt_headers or {}).items():
            req.add_header(name, value)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            content_type = exc.headers.get("Content-Type", "") if exc.headers else ""
            error = ApiError(exc.code, _message(exc.code, str(exc.reason or ""), exc.read(), content_type))
            if method == "GET" and _retryable(exc.code):
                raise _Retry(error, _retry_after(exc)) from None
            raise error from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            error = ApiError(None, f'{method.title()} "{url}": {reason}')
            raise _Retry(error, None) from None
        result = json.loads(raw) if raw.strip() else {}
        return result if isinstance(result, dict) else {}

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/clusters/{cluster_id}")

    def client_ca(self, method: str, cluster_id: str, cert: str | None = None) -> dict[str, Any]:
        body = None if cert is None else {"x509_pem_cert": cert}
        return self.request(method, f"/api/v1/clusters/{cluster_id}/client-ca-cert", body)


class _Retry(Exception):
    def __init__(self, error: ApiError, retry_after: float | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def _retry_after(exc: Any) -> float | None:
    if exc.code not in (429, 503):
        return None
    value = exc.headers.get("Retry-After", "") if exc.headers else ""
    return float(value) if str(value).isdigit() else None


def wait_until_settled(api: CloudApi, cluster_id: str, timeout: float | None = None) -> dict[str, Any]:
    """GET until the status is not PENDING; the last answer is returned (waitForClientCACertReady)."""
    limit = _env_seconds(POLL_TIMEOUT_ENV, POLL_TIMEOUT) if timeout is None else timeout
    deadline = time.monotonic() + limit
    wait = 0.1
    while True:
        try:
            info = api.client_ca("GET", cluster_id)
        except ApiError as exc:
            if exc.status is not None and exc.status < 500:
                raise PollError(f"error getting client ca cert: {exc.message}") from None
            last = "encountered a server error while reading client ca cert status - trying again"
        else:
            status = info.get("status")
            if status == "FAILED":
                raise PollError("client ca cert update failed")
            if status != "PENDING":
                return info
            last = "client ca cert update is still pending"
        wait = min(max(wait * 2, 0.5), 10.0)
        remaining = deadline - time.monotonic()
        if remaining <= wait:
            time.sleep(max(remaining, 0.0))
            raise PollError(last)
        time.sleep(wait)
