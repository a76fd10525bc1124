"""The CockroachDB Cloud API adapter: read-only calls for `status` and for confirming an apply.

GETs are retried like the real provider's HTTP client (go-retryablehttp defaults: 4 retries on 429,
5xx except 501 and connection errors; backoff 1 s doubling to 30 s; Retry-After honoured on 429/503).
Every failure is a CloudError with one line that never holds the API key; an answer that is not what
the API sends (an HTML page, a body that is not a JSON object, a redirect) names the address, the request
and what came back. With a JWT (COCKROACH_API_JWT) it sends Cc-Vanity-Name / Cc-Username, as the real
provider does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests

from roachcert import __version__, credentials, outside_json
from roachcert.backoff import backoff
from roachcert.errors import CloudError
from roachcert.escape import printable
from roachcert.http_session import RunSession
from roachcert.mask import REPLACEMENT, Mask, Masker, masked_strings, without_environment
from roachcert.outside_json import Json, NotJson

DEFAULT_SERVER = "https://cockroachlabs.cloud"
CC_VERSION = "2024-09-16"
_STATUS = re.compile(r"[A-Z][A-Z_]{0,39}")  # NOT_SET, IS_SET, PENDING, FAILED, and any later word of the kind


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


@dataclass(frozen=True)
class ListedCluster:
    """A cluster as GET /api/v1/clusters lists it: what `init --from-cloud` writes into a stack."""

    id: str
    name: str
    dedicated: bool
    sql_dns: str  # the cluster's SQL host ("" while it is being created)
    state: str


PAGE_SIZE = 100
MAX_PAGES = 1000  # a server handing out next_page forever stops here, named


def _one_line(text: str, mask: Mask, limit: int = 200) -> str:
    """An answer's text on one line, cut to `limit`: masked first, as a secret cut in two is found no more."""
    flat = printable(" ".join(mask(text).split()))
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
        jwt_headers: Mapping[str, str] | None = None,
        mask: Mask = without_environment,
    ) -> None:
        if not api_key:
            raise CloudError("no Cloud API key: set COCKROACH_API_KEY")
        credentials.check_header("the Cloud API key", api_key)
        self.server = normalise_server(server)
        self._api_key = api_key
        self._jwt_headers = {name: value for name, value in (jwt_headers or {}).items() if value}
        self._run_mask = mask  # the run's (from_env): what the API echoes is masked before it is cut
        self.timeout = timeout
        self.retries = retries
        self.retry_wait_min = retry_wait_min
        self.retry_wait_max = retry_wait_max
        self._session = session or requests.Session()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **options: Any) -> CloudClient:
        env = environ
        key = credentials.read("COCKROACH_API_KEY", env)
        if not key and env.get("COCKROACH_API_JWT"):
            # A JWT names its organization and user in headers, as the real provider sends them.
            options.setdefault(
                "jwt_headers",
                {
                    "Cc-Vanity-Name": credentials.read("COCKROACH_VANITY_NAME", env, token=False),
                    "Cc-Username": credentials.read("COCKROACH_USERNAME", env, token=False),
                },
            )
            key = credentials.read("COCKROACH_API_JWT", env)
        options.setdefault("mask", Masker(env))
        options.setdefault("session", RunSession(env))  # the run's proxies and CA bundle
        return cls(env.get("COCKROACH_SERVER") or DEFAULT_SERVER, key, **options)

    def __repr__(self) -> str:
        return f"CloudClient(server={self.server!r})"

    def _mask(self, text: str) -> str:
        """The run's mask, and this client's own key or JWT however it was given."""
        return self._run_mask(text).replace(self._api_key, REPLACEMENT)

    def get_client_ca(self, cluster_id: str) -> ClientCaStatus:
        path = f"/api/v1/clusters/{quote(cluster_id, safe='')}/client-ca-cert"
        return client_ca_of(self._get(path, cluster_id), self._what(path), self._mask)

    def get_cluster(self, cluster_id: str) -> ClusterInfo:
        path = f"/api/v1/clusters/{quote(cluster_id, safe='')}"
        return cluster_of(self._get(path, cluster_id), cluster_id, self._what(path), self._mask)

    def _what(self, path: str) -> str:
        return f"Cloud API at {self.server}: GET {path}"

    def list_clusters(self, page_size: int = PAGE_SIZE) -> list[ListedCluster]:
        """Every active cluster of the organization, page by page as the OpenAPI document says:
        `pagination.limit` and `pagination.page` (the previous answer's `pagination.next_page`)."""
        found: list[ListedCluster] = []
        token, seen = "", set[str]()
        for _ in range(MAX_PAGES):
            query = {"pagination.limit": str(page_size), **({"pagination.page": token} if token else {})}
            body = self._get(f"/api/v1/clusters?{urlencode(query)}", "")
            raw = body.get("clusters")
            if not isinstance(raw, list):
                raise CloudError(
                    f"Cloud API at {self.server}: GET /api/v1/clusters answered no clusters list"
                )
            found += [_listed(item, self._what("/api/v1/clusters"), self._mask) for item in raw]
            pagination = body.get("pagination")
            token = str(pagination.get("next_page") or "") if isinstance(pagination, dict) else ""
            if not token:
                return found
            if token in seen:
                raise CloudError(
                    f"Cloud API at {self.server}: GET /api/v1/clusters handed out the page {token!r} twice"
                )
            seen.add(token)
        raise CloudError(f"Cloud API at {self.server}: GET /api/v1/clusters has more than {MAX_PAGES} pages")

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Cc-Version": CC_VERSION,
            "User-Agent": f"roachcert/{__version__}",
            "Accept": "application/json",
            **self._jwt_headers,
        }

    def _get(self, path: str, cluster_id: str) -> dict[str, Json]:
        url = self.server + path
        last = ""
        for attempt in range(self.retries + 1):
            retry_after: float | None = None
            try:
                resp = self._session.get(
                    url, headers=self._headers(), timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                last = f"cannot reach it ({type(exc).__name__})"
            else:
                if resp.is_redirect or 300 <= resp.status_code < 400:
                    # Never followed: the key would go along to wherever it points.
                    where = resp.headers.get("Location", "nowhere")
                    raise CloudError(
                        f"Cloud API at {self.server}: GET {path} answered a redirect "
                        f"(HTTP {resp.status_code} to {_one_line(where, self._mask, 120)}), not the API's answer"
                    )
                if resp.ok:
                    return self._json(resp, path)
                if not _retryable(resp.status_code):
                    raise self._refusal(resp, path, cluster_id)
                json_body = "json" in resp.headers.get("Content-Type", "")
                last = f"HTTP {resp.status_code}" if json_body else _came_back(resp, self._mask)
                retry_after = _retry_after(resp)
            if attempt < self.retries:
                time.sleep(backoff(attempt, retry_after, self.retry_wait_min, self.retry_wait_max))
        raise CloudError(
            f"Cloud API at {self.server}: GET {path} failed after {self.retries + 1} tries: {last}"
        )

    def _json(self, resp: requests.Response, path: str) -> dict[str, Json]:
        try:
            body = outside_json.loads(resp.content)
        except NotJson as exc:
            raise CloudError(
                f"{self._what(path)} answered {exc}, not the API's answer ({_came_back(resp, self._mask)})"
            ) from None
        if not isinstance(body, dict):
            raise CloudError(
                f"{self._what(path)} answered something other than a JSON object ({_came_back(resp, self._mask)})"
            )
        return body

    def _refusal(self, resp: requests.Response, path: str, cluster_id: str) -> CloudError:
        code = resp.status_code
        where = f"Cloud API at {self.server}"
        if code == 401:
            return CloudError(f"{where} refused the API key (HTTP 401): check COCKROACH_API_KEY")
        if code == 403 and not cluster_id:  # the listing
            return CloudError(
                f"{where}: the API key may not list the organization's clusters (HTTP 403): its service "
                "account needs CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER at organization scope"
            )
        if code == 403:
            return CloudError(
                f"{where}: the API key may not read cluster {cluster_id} (HTTP 403): its service account "
                "needs CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER on it"
            )
        if code == 404:
            return CloudError(f"{where}: cluster {cluster_id} not found (HTTP 404)")
        try:
            body = outside_json.loads(resp.content)
        except NotJson:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = f": {_one_line(str(body['message']), self._mask)}"
        else:
            message = f" ({_came_back(resp, self._mask)})"
        return CloudError(f"{where}: GET {path} failed (HTTP {code}){message}")


def _listed(item: Json, what: str, mask: Mask = without_environment) -> ListedCluster:
    """One cluster of GET /api/v1/clusters: text fields, `config` an object, `regions` a list of objects."""
    if not isinstance(item, dict):
        raise CloudError(f"{what} answered a cluster that is not a JSON object, not the API's answer")
    raw_config, regions = item.get("config"), item.get("regions") or []
    if raw_config is not None and not isinstance(raw_config, dict):
        raise _foreign(what, item, mask, "a `config` that is not an object")
    if not isinstance(regions, list) or not all(isinstance(region, dict) for region in regions):
        raise _foreign(what, item, mask, "`regions` that are not a list of objects")
    config = raw_config or {}
    region_dns = [_text(region, "sql_dns", what, mask) for region in regions if isinstance(region, dict)]
    return ListedCluster(
        id=_text(item, "id", what, mask),
        name=_text(item, "name", what, mask),
        dedicated=bool(config) and config.get("serverless") is None,
        # The cluster's own SQL name, else its first region's (a multi-region cluster has one per region).
        sql_dns=_text(item, "sql_dns", what, mask) or next((dns for dns in region_dns if dns), ""),
        state=_text(item, "state", what, mask),
    )


# -- the one place a Cloud API answer becomes typed values ----------------------------------------------
def _foreign(what: str, body: Mapping[str, Json], mask: Mask, why: str) -> CloudError:
    # Masked before it is encoded and cut: an escaped or cut secret is found no more.
    shown = printable(outside_json.dumps_short(masked_strings(body, mask), 80))
    return CloudError(f"{what} answered {why} (got {shown}), not the API's answer")


def _text(body: Mapping[str, Json], key: str, what: str, mask: Mask = without_environment) -> str:
    """An optional text field ("" when absent or null); any other type is not the API's answer."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _foreign(what, body, mask, f"{outside_json.kind(value)} for `{key}`")
    return value


def client_ca_of(body: Mapping[str, Json], what: str, mask: Mask = without_environment) -> ClientCaStatus:
    """GET /api/v1/clusters/ID/client-ca-cert: `status` one upper-case word, `x509_pem_cert` text."""
    status = _text(body, "status", what, mask)
    if status and not _STATUS.fullmatch(status):
        raise _foreign(what, body, mask, "a `status` that is not one of the API's words")
    return ClientCaStatus(status=status, x509_pem_cert=_text(body, "x509_pem_cert", what, mask))


def cluster_of(
    body: Mapping[str, Json], cluster_id: str, what: str, mask: Mask = without_environment
) -> ClusterInfo:
    """GET /api/v1/clusters/ID: text fields, and `config` an object when present."""
    raw_config = body.get("config")
    if raw_config is not None and not isinstance(raw_config, dict):
        raise _foreign(what, body, mask, "a `config` that is not an object")
    config = raw_config or {}
    return ClusterInfo(
        id=_text(body, "id", what, mask) or cluster_id,
        name=_text(body, "name", what, mask),
        plan=_text(body, "plan", what, mask),
        dedicated=bool(config) and config.get("serverless") is None,
        operation_status=_text(body, "operation_status", what, mask),
    )


def normalise_server(server: str) -> str:
    """The API base URL without trailing slashes: the real provider joins it verbatim, so
    "https://host/" would send "//api/v1/..." (roachcert hands Terraform this form too)."""
    return server.rstrip("/")


def _came_back(resp: requests.Response, mask: Mask) -> str:
    kind = resp.headers.get("Content-Type", "") or "no content type"
    text = _one_line(resp.text, mask, 80) if resp.content else ""
    return f"HTTP {resp.status_code}, {kind}, {len(resp.content)} bytes" + (f": {text}" if text else "")


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status != 501)


def _retry_after(resp: requests.Response) -> float | None:
    if resp.status_code not in (429, 503):
        return None
    value = resp.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
