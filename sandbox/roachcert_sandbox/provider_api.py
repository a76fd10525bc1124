"""The stand-in provider's HTTP client and poller, shaped like the real provider's.

Real behaviour copied (terraform-provider-cockroach v1.22.0): GETs are retried (go-retryablehttp
defaults: on 429, 5xx except 501 and connection errors, backoff 1 s doubling to 30 s, Retry-After
honoured on 429/503); POST, PATCH and DELETE that got any HTTP answer are not, but are re-sent when the
connection dropped with no answer (the provider's retryGetRequestsOnly only refuses once a response
came back). COCKROACH_SERVER is used verbatim: a trailing slash sends `//api/...`, as the real one does.
Polling GETs every 0.5 s doubling to 10 s and gives up after 10 minutes. With TF_LOG (or
TF_LOG_PROVIDER) DEBUG or TRACE, every request and answer is dumped to stderr whole, `Authorization:
Bearer <key>` included, as the real provider's SDK does (cfg.Debug: httputil.DumpRequestOut into Go's
log); Terraform puts those lines in its debug log. Stdlib only: the provider starts several times per plan.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
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
    debug: bool = False  # dump requests and answers to stderr (TF_LOG=DEBUG|TRACE)

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
            debug=_debug_logging(),
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
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Cc-Version": CC_VERSION,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **(self.jwt_headers or {}),
            **({} if data is None else {"Content-Type": "application/json"}),
        }
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) server URL
        for name, value in headers.items():
            req.add_header(name, value)
        if self.debug:
            _dump_request(method, url, headers, data)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
                if self.debug:
                    _dump_answer(resp.status, str(resp.reason or ""), dict(resp.headers.items()), raw)
        except urllib.error.HTTPError as exc:
            content_type = exc.headers.get("Content-Type", "") if exc.headers else ""
            raw_error = exc.read()
            if self.debug:
                answer_headers = dict(exc.headers.items()) if exc.headers else {}
                _dump_answer(exc.code, str(exc.reason or ""), answer_headers, raw_error)
            error = ApiError(exc.code, _message(exc.code, str(exc.reason or ""), raw_error, content_type))
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


def _debug_logging() -> bool:
    """The real provider's test, verbatim: TF_LOG, else TF_LOG_PROVIDER, equal to DEBUG or TRACE."""
    return any(os.environ.get(name, "") in ("DEBUG", "TRACE") for name in ("TF_LOG", "TF_LOG_PROVIDER"))


def _log(text: str) -> None:
    """Go's log.Printf("\\n%s\\n", dump): a time stamp, then the dump; one write so threads do not mix."""
    os.write(2, f"{time.strftime('%Y/%m/%d %H:%M:%S')} \n{text}\n".encode("utf-8", "replace"))


def _dump_request(method: str, url: str, headers: dict[str, str], data: bytes | None) -> None:
    """httputil.DumpRequestOut's shape: request line, Host, User-Agent, Content-Length, the rest sorted."""
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    rest = {k: v for k, v in headers.items() if k != "User-Agent"}
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"User-Agent: {headers['User-Agent']}"]
    if data is not None:
        lines.append(f"Content-Length: {len(data)}")
    lines += [f"{name}: {rest[name]}" for name in sorted(rest)] + ["Accept-Encoding: gzip"]
    _log("\r\n".join(lines) + "\r\n\r\n" + (data or b"").decode("utf-8", "replace"))


def _dump_answer(status: int, reason: str, headers: dict[str, str], raw: bytes) -> None:
    lines = [f"HTTP/1.1 {status} {reason}".rstrip(), *(f"{k}: {headers[k]}" for k in sorted(headers))]
    _log("\r\n".join(lines) + "\r\n\r\n" + raw.decode("utf-8", "replace"))


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


# What the Go runtime prints when the real provider dereferences nil in its poll, then exits 2.
# Terraform reads "panic:" on the plugin's stderr and reports "The terraform-provider-cockroach plugin
# crashed!"; every call still in flight or still to come on that plugin fails with it.
NIL_PANIC = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1a2b3c4]

goroutine 1 [running]:
github.com/cockroachdb/terraform-provider-cockroach/internal/provider.waitForClientCACertReady.func1()
\tgithub.com/cockroachdb/terraform-provider-cockroach/internal/provider/client_ca_cert_resource.go:264 +0x1c4
"""


def crash_like_a_nil_dereference() -> None:
    """Die as the real plugin does: the panic on stderr, exit 2, with no cleanup (threads in flight die)."""
    os.write(2, NIL_PANIC.encode())
    os._exit(2)


def wait_until_settled(
    api: CloudApi, cluster_id: str, timeout: float | None = None, *, nil_info: bool = False
) -> dict[str, Any]:
    """GET until the status is not PENDING; the last answer is returned (waitForClientCACertReady).
    `nil_info`: the real poll copies each answer into the info the change returned; after a DELETE
    answered 404 that is nil, so the first GET that answers crashes the plugin (v1.22.0 line 264)."""
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
            if nil_info:
                crash_like_a_nil_dereference()
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
