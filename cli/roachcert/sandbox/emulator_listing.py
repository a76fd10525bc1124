"""`GET /api/v1/clusters` in the emulator: the organization's clusters, paginated as the Cloud API's
OpenAPI document says (query `pagination.limit`, `pagination.page`, `pagination.sort_order`; answer
`{"clusters": [...], "pagination": {"next_page": TOKEN}}`, keyset tokens, sorted by name).
A page holds at most `EmulatorState.max_page_size` clusters (POST /_admin/paging sets it), so a test can
see several pages with a few clusters."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from roachcert.sandbox.emulator_state import ApiProblem, Cluster, EmulatorState

_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")


def sql_dns(cluster: Cluster) -> str:
    """A dedicated cluster's SQL host as the Cloud names them: NAME-SHORTID.REGION.cockroachlabs.cloud."""
    label = _DNS_UNSAFE.sub("-", cluster.name.lower()).strip("-")[:40] or "cluster"
    return f"{label}-{cluster.id[:4]}.aws-us-east-1.cockroachlabs.cloud"


def list_clusters(state: EmulatorState, query: dict[str, list[str]]) -> dict[str, Any]:
    limit = _limit(state, query)
    after = _token(query)
    descending = _one(query, "pagination.sort_order", "ASC").upper() == "DESC"
    with state.lock:
        ordered = sorted(state.clusters.values(), key=lambda c: (c.name, c.id), reverse=descending)
        if after is not None:
            ordered = [
                c for c in ordered if ((c.name, c.id) < after if descending else (c.name, c.id) > after)
            ]
        page, more = ordered[:limit], len(ordered) > limit
        clusters = [_entry(state, cluster) for cluster in page]
    pagination = {"next_page": _encode(page[-1])} if more and page else {}
    return {"clusters": clusters, "pagination": pagination}


def _entry(state: EmulatorState, cluster: Cluster) -> dict[str, Any]:
    host = sql_dns(cluster)
    return {
        **state.cluster_info(cluster.id),
        "sql_dns": host,
        "cockroach_version": "v24.3.0",
        "upgrade_status": "FINALIZED",
        "cloud_provider": "AWS",
        "creator_id": "00000000-0000-4000-8000-000000000000",
        "cidr_range": "",
        "labels": {},
        "is_customer_cloud_account": False,
        "regions": [
            {
                "name": "us-east-1",
                "sql_dns": host,
                "ui_dns": "admin-" + host,
                "internal_dns": "internal-" + host,
                "private_endpoint_dns": "",
                "node_count": 3 if cluster.plan == "DEDICATED" else 0,
            }
        ],
    }


def _one(query: dict[str, list[str]], name: str, default: str) -> str:
    values = query.get(name) or [default]
    return values[-1]


def _limit(state: EmulatorState, query: dict[str, list[str]]) -> int:
    text = _one(query, "pagination.limit", "")
    if not text:
        return state.max_page_size
    try:
        wanted = int(text)
    except ValueError:
        raise ApiProblem(400, 3, "pagination.limit must be an integer") from None
    if wanted < 0:
        raise ApiProblem(400, 3, "pagination.limit must not be negative")
    return min(wanted or state.max_page_size, state.max_page_size)


def _encode(cluster: Cluster) -> str:
    return base64.urlsafe_b64encode(json.dumps([cluster.name, cluster.id]).encode()).decode()


def _token(query: dict[str, list[str]]) -> tuple[str, str] | None:
    text = _one(query, "pagination.page", "")
    if not text:
        return None
    try:
        name, cluster_id = json.loads(base64.urlsafe_b64decode(text.encode()))
        return str(name), str(cluster_id)
    except (ValueError, TypeError, binascii.Error):
        raise ApiProblem(400, 3, "pagination.page is not a page token this API handed out") from None
