"""`GET /api/v1/clusters` in the emulator: the organization's clusters, paginated as the Cloud API's
OpenAPI document says (query `pagination.limit`, `pagination.page`, `pagination.sort_order`; answer
`{"clusters": [...], "pagination": {"next_page": TOKEN}}`, keyset tokens, sorted by name).
A page holds at most `EmulatorState.max_page_size` clusters (POST /_admin/paging sets it), so a test can
see several pages with a few clusters."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from roachcert_sandbox.emulator_state import ApiProblem, Cluster, EmulatorState, sql_dns

__all__ = ["list_clusters", "sql_dns"]  # sql_dns lives beside GET cluster's answer, which uses it


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
    return state.cluster_info(cluster.id)  # every field the document's Cluster requires, as GET answers


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
