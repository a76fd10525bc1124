"""`terraform show -json PLAN` → PlanSummary: pure; a parse failure is data, never an exception."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from roachcert.render import RESOURCE_TYPE, TRIGGER_SUFFIX, TRIGGER_TYPE
from roachcert.spec.models import Stack

Action = Literal["create", "update", "replace", "delete", "forget", "no-op"]
ACTIONS: tuple[Action, ...] = ("delete", "replace", "create", "update", "forget", "no-op")
_RAW_LIMIT = 20_000


@dataclass(frozen=True)
class ResourceChange:
    address: str
    cluster: str
    action: Action
    old_id: str | None = None
    new_id: str | None = None
    old_pem: str | None = None
    new_pem: str | None = None
    status: str | None = None  # the CA's status in state before the change (IS_SET, NOT_SET, ...)
    reason: str | None = None  # Terraform's action_reason, e.g. replace_by_triggers
    adopted: bool = False  # imported first: the CA was set on the cluster but not in state

    @property
    def id_changed_in_place(self) -> bool:
        """An update that moves the resource to another cluster: the provider would leave the old CA set."""
        return self.action == "update" and self.old_id is not None and self.old_id != self.new_id


@dataclass(frozen=True)
class PlanSummary:
    changes: tuple[ResourceChange, ...] = ()  # every client CA resource, no-ops included, by cluster name
    fingerprint: str = ""
    empty_stack: bool = False
    other_changes: tuple[str, ...] = ()  # addresses of other resources that change (from custom templates)
    trigger_changes: tuple[str, ...] = ()  # the id triggers (terraform_data) that change: bookkeeping only
    drift: tuple[str, ...] = ()  # client CA resources changed outside Terraform since the last apply
    error: str | None = None
    raw: str = ""  # the document, kept only when it could not be read
    stack: str | None = None

    def of(self, action: Action) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.action == action)

    @property
    def counts(self) -> dict[Action, int]:
        return {action: len(self.of(action)) for action in ACTIONS}

    @property
    def has_changes(self) -> bool:
        # Trigger changes count: applying them keeps the next id change a delete + create.
        return (
            any(change.action != "no-op" or change.adopted for change in self.changes)
            or bool(self.other_changes)
            or bool(self.trigger_changes)
        )

    @property
    def deletions(self) -> tuple[ResourceChange, ...]:
        """Changes that take a CA away from a cluster: deletes, and replaces (the old cluster's CA goes)."""
        return tuple(change for change in self.changes if change.action in ("delete", "replace"))

    @property
    def adoptions(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.adopted)

    @property
    def in_place_id_changes(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.id_changed_in_place)


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
    canonical = sorted(
        (
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
        ),
        key=lambda entry: str(entry["address"]),
    )
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
    `statuses` are what the Cloud API answered at plan time; without a read no status is claimed."""
    items = []
    for name, cluster in sorted(stack.clusters.items()):
        status = (statuses or {}).get(name)
        values = {"id": cluster.id, "x509_pem_cert": bundles[name], **({"status": status} if status else {})}
        items.append(
            {
                "address": f"{RESOURCE_TYPE}.{name}",
                "mode": "managed",
                "type": RESOURCE_TYPE,
                "name": name,
                "change": {"actions": ["no-op"], "before": values, "after": values, "after_unknown": {}},
            }
        )
    return summarise({"resource_changes": items}, stack)


def summarise_text(text: str, stack: Stack | None = None) -> PlanSummary:
    """Summarise the raw `terraform show -json` output."""
    name = stack.name if stack is not None else None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return PlanSummary(error=f"the plan is not JSON: {exc}", raw=text[:_RAW_LIMIT], stack=name)
    if not isinstance(data, dict):
        return PlanSummary(error="the plan is not a JSON object", raw=text[:_RAW_LIMIT], stack=name)
    return summarise(data, stack)


def _certs(pem: str | None) -> int:
    return (pem or "").count("-----BEGIN CERTIFICATE-----")


_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def _blocks(pem: str | None) -> set[str]:
    return {"".join(body.split()) for body in _BLOCK.findall(pem or "")}


def turnover(old_pem: str | None, new_pem: str | None) -> str:
    """What a same-size or mixed change hides behind its counts: certificates leaving and arriving.
    Pure growth or shrinking says nothing more (the counts say it)."""
    old, new = _blocks(old_pem), _blocks(new_pem)
    added, leaving = len(new - old), len(old - new)
    if not (added and leaving):
        return ""
    if not old & new:
        return f": a new root replaces all of them ({added} new, {leaving} leaving, none kept)"
    return f": {added} new, {leaving} leaving"


def _line(change: ResourceChange) -> str:
    if change.action == "delete":
        return (
            f"  - {change.cluster} ({change.old_id}): its client CA is deleted; "
            f"clients of {change.cluster} can no longer authenticate with certificates"
        )
    if change.action == "replace":
        moved = f" (cluster id {change.old_id} -> {change.new_id})" if change.old_id != change.new_id else ""
        return (
            f"  -/+ {change.cluster}{moved}: the CA is deleted from {change.old_id}; clients of "
            f"{change.cluster} can no longer authenticate with certificates there until the new CA is trusted"
        )
    if change.action == "create":
        return f"  + {change.cluster} ({change.new_id}): trust {_certs(change.new_pem)} CA certificate(s)"
    if change.action == "update":
        status = f" [status {change.status}]" if change.status and change.status != "IS_SET" else ""
        return (
            f"  ~ {change.cluster} ({change.new_id}){status}: CA bundle of {_certs(change.old_pem)} -> "
            f"{_certs(change.new_pem)} certificate(s){turnover(change.old_pem, change.new_pem)}"
        )
    return f"  . {change.cluster} ({change.old_id}): no longer managed here; its CA is left in place"


def _adopt_line(change: ResourceChange) -> str:
    now, declared = _blocks(change.old_pem), _blocks(change.new_pem)
    if change.action == "no-op":
        return f"  <= {change.cluster} ({change.new_id}): already trusts the declared bundle; import only"
    leaving = len(now - declared)
    dropped = f"; {leaving} certificate(s) it trusts now would no longer be trusted" if leaving else ""
    return (
        f"  <= {change.cluster} ({change.new_id}): trusts {len(now)} certificate(s) now, "
        f"{len(declared)} after{dropped}"
    )


_SECTIONS: tuple[tuple[Action, str], ...] = (
    ("create", "CREATE"),
    ("update", "UPDATE"),
    ("replace", "REPLACE (delete, then create on the cluster named in the stack)"),
    ("forget", "FORGET"),
)


def format_text(summary: PlanSummary) -> str:
    """A terminal summary: counts, the DELETE section first, then creates, updates, replaces, forgets."""
    title = f"stack {summary.stack}" if summary.stack else "plan"
    if summary.error is not None:
        return f"{title}: {summary.error}\n--- raw plan output ---\n{summary.raw}\n"
    counts = summary.counts
    lines = [
        f"{title}: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['delete']} to delete, {counts['forget']} to forget"
        + (f", {len(summary.adoptions)} to adopt" if summary.adoptions else "")
    ]
    if not summary.has_changes:
        lines.append("No changes: every cluster already trusts what the stack declares.")
    if summary.empty_stack:
        lines.append("WARNING: the stack declares no clusters; every client CA in its state is deleted.")
    if summary.adoptions:
        lines.append("ADOPT (the cluster trusts a CA that no state tracks: imported, then set as declared):")
        lines += [_adopt_line(change) for change in summary.adoptions]
    if summary.deletions:
        lines.append("DELETE (clients lose certificate authentication):")
        lines += [_line(change) for change in summary.deletions]
    for action, heading in _SECTIONS:
        found = summary.of(action)
        if found and action != "replace":
            lines.append(f"{heading}:")
            lines += [_line(change) for change in found]
        elif found:
            lines.append(f"{heading}:")
            lines += [f"  -/+ {c.cluster}: {c.old_id} -> {c.new_id}" for c in found]
    for change in summary.in_place_id_changes:
        lines.append(
            f"WARNING: {change.cluster} moves from cluster {change.old_id} to {change.new_id} in place; "
            "the provider would leave the CA set on the old cluster"
        )
    if summary.trigger_changes and not any(c.action != "no-op" for c in summary.changes):
        lines.append(f"Bookkeeping only: {len(summary.trigger_changes)} cluster id record(s) to store.")
    if summary.other_changes:
        lines.append("OTHER resources changing: " + ", ".join(summary.other_changes))
    if summary.drift:
        lines.append("DRIFT (changed outside Terraform): " + ", ".join(summary.drift))
    return "\n".join(lines) + "\n"
