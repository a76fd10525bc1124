"""`terraform show -json PLAN` → PlanSummary: pure; a parse failure is data, never an exception.

A plan Terraform reported as having no changes is summarised without its document (`unchanged`), with the
same changes and fingerprint the document would give.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from roachcert.plan_summary import ACTIONS, Action, PlanSummary, ResourceChange
from roachcert.spec.models import Stack
from roachcert.terraform.resources import RESOURCE_TYPE, TRIGGER_SUFFIX, TRIGGER_TYPE, address

_RAW_LIMIT = 20_000


def _action(actions: list[Any]) -> Action | None:
    kinds = sorted(str(item) for item in actions)
    if kinds == ["create", "delete"]:
        return "replace"
    for action in ACTIONS:
        if kinds == [action]:
            return action
    if kinds == ["read"]:
        return None
    raise ValueError(f"unknown change actions {actions!r}")


def _get(values: Any, key: str) -> str | None:
    if isinstance(values, Mapping):
        value = values.get(key)
        return value if isinstance(value, str) else None
    return None


def _fingerprint(changes: list[Any]) -> str:
    # Only what the change does; timestamps, versions and variables are left out so the same change
    # planned twice gives the same digest.
    return _digest(
        {
            "address": item.get("address"),
            "actions": (item.get("change") or {}).get("actions"),
            "before": (item.get("change") or {}).get("before"),
            "after": (item.get("change") or {}).get("after"),
            "after_unknown": (item.get("change") or {}).get("after_unknown"),
            **({"importing": True} if (item.get("change") or {}).get("importing") else {}),
        }
        for item in changes
        if isinstance(item, Mapping)
    )


def _digest(entries: Iterable[dict[str, Any]]) -> str:
    canonical = sorted(entries, key=lambda entry: str(entry["address"]))
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _configured_clusters(plan: Mapping[str, Any]) -> list[str]:
    module = (plan.get("configuration") or {}).get("root_module") or {}
    return [
        str(item.get("name")) for item in module.get("resources") or () if item.get("type") == RESOURCE_TYPE
    ]


def _resource_change(item: Mapping[str, Any]) -> ResourceChange | None:
    change = item.get("change") or {}
    action = _action(list(change.get("actions") or ()))
    if action is None:
        return None
    before, after = change.get("before"), change.get("after")
    return ResourceChange(
        address=str(item["address"]),
        cluster=str(item.get("name", "")),
        action=action,
        old_id=_get(before, "id"),
        new_id=_get(after, "id"),
        old_pem=_get(before, "x509_pem_cert"),
        new_pem=_get(after, "x509_pem_cert"),
        status=_get(before, "status"),
        reason=str(item["action_reason"]) if item.get("action_reason") else None,
        adopted=isinstance(change.get("importing"), Mapping),
    )


def _is_trigger(item: Mapping[str, Any]) -> bool:
    return item.get("type") == TRIGGER_TYPE and str(item.get("name", "")).endswith(TRIGGER_SUFFIX)


def summarise(plan_json: Mapping[str, Any], stack: Stack | None = None) -> PlanSummary:
    """Summarise a plan document; anything unexpected gives a PlanSummary with `error` set."""
    name = stack.name if stack is not None else None
    try:
        items = [item for item in plan_json.get("resource_changes") or () if isinstance(item, Mapping)]
        changes: list[ResourceChange] = []
        others: list[str] = []
        triggers: list[str] = []
        for item in items:
            if item.get("mode", "managed") != "managed" or item.get("module_address"):
                continue
            if item.get("type") == RESOURCE_TYPE:
                found = _resource_change(item)
                if found is not None:
                    changes.append(found)
            elif list((item.get("change") or {}).get("actions") or ()) != ["no-op"]:
                (triggers if _is_trigger(item) else others).append(str(item.get("address")))
        drift = sorted(
            str(item.get("address"))
            for item in plan_json.get("resource_drift") or ()
            if isinstance(item, Mapping) and item.get("type") == RESOURCE_TYPE
        )
        empty = not stack.clusters if stack is not None else not _configured_clusters(plan_json)
        return PlanSummary(
            changes=tuple(sorted(changes, key=lambda change: change.cluster)),
            fingerprint=_fingerprint(items),
            empty_stack=empty,
            other_changes=tuple(sorted(others)),
            trigger_changes=tuple(sorted(triggers)),
            drift=tuple(drift),
            stack=name,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raw = json.dumps(plan_json, indent=2, default=str)[:_RAW_LIMIT]
        return PlanSummary(error=f"cannot read the plan: {exc}", raw=raw, stack=name)


def unchanged(
    stack: Stack, bundles: Mapping[str, str], statuses: Mapping[str, str] | None = None
) -> PlanSummary:
    """The summary of a plan Terraform reported as having no changes (exit 0): every declared cluster
    already trusts its bundle, so the plan need not be read back (`show -json` costs a process).
    `statuses` are what the Cloud API answered at plan time; without a read no status is claimed.
    The fingerprint is the one `summarise` gives the document of that plan."""
    changes: list[ResourceChange] = []
    entries: list[dict[str, Any]] = []
    for name, cluster in sorted(stack.clusters.items()):
        status = (statuses or {}).get(name) or None
        values = {"id": cluster.id, "x509_pem_cert": bundles[name], **({"status": status} if status else {})}
        changes.append(
            ResourceChange(
                address=address(name),
                cluster=name,
                action="no-op",
                old_id=cluster.id,
                new_id=cluster.id,
                old_pem=bundles[name],
                new_pem=bundles[name],
                status=status,
            )
        )
        entries.append(
            {
                "address": address(name),
                "actions": ["no-op"],
                "before": values,
                "after": values,
                "after_unknown": {},
            }
        )
    return PlanSummary(
        changes=tuple(changes), fingerprint=_digest(entries), empty_stack=not stack.clusters, stack=stack.name
    )
