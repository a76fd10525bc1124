"""What a plan changes, as every report and `apply` read it (PlanSummary), and its terminal summary. Pure.

Made by `terraform.plan_json` from Terraform's plan document; knows nothing of Terraform itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from roachcert.escape import printable, printable_block
from roachcert.pem import certificate_bodies, count_certificates

Action = Literal["create", "update", "replace", "delete", "forget", "no-op"]
ACTIONS: tuple[Action, ...] = ("delete", "replace", "create", "update", "forget", "no-op")


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


def _certs(pem: str | None) -> int:
    return count_certificates(pem)


def _blocks(pem: str | None) -> set[str]:
    return set(certificate_bodies(pem))


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


def _p(text: str | None) -> str:
    """A text from outside (a name, an id, the Cloud-reported status), escaped for the terminal: no
    control character, no line break that would forge a line of the summary."""
    return printable(str(text))


def _line(change: ResourceChange) -> str:
    if change.action == "delete":
        return (
            f"  - {_p(change.cluster)} ({_p(change.old_id)}): its client CA is deleted; "
            f"clients of {_p(change.cluster)} can no longer authenticate with certificates"
        )
    if change.action == "replace":
        moved = (
            f" (cluster id {_p(change.old_id)} -> {_p(change.new_id)})"
            if change.old_id != change.new_id
            else ""
        )
        return (
            f"  -/+ {_p(change.cluster)}{moved}: the CA is deleted from {_p(change.old_id)}; clients of "
            f"{_p(change.cluster)} can no longer authenticate with certificates there until the new CA is trusted"
        )
    if change.action == "create":
        return f"  + {_p(change.cluster)} ({_p(change.new_id)}): trust {_certs(change.new_pem)} CA certificate(s)"
    if change.action == "update":
        status = f" [status {_p(change.status)}]" if change.status and change.status != "IS_SET" else ""
        return (
            f"  ~ {_p(change.cluster)} ({_p(change.new_id)}){status}: CA bundle of {_certs(change.old_pem)} -> "
            f"{_certs(change.new_pem)} certificate(s){turnover(change.old_pem, change.new_pem)}"
        )
    return f"  . {_p(change.cluster)} ({_p(change.old_id)}): no longer managed here; its CA is left in place"


def _adopt_line(change: ResourceChange) -> str:
    now, declared = _blocks(change.old_pem), _blocks(change.new_pem)
    if change.action == "no-op":
        return f"  <= {_p(change.cluster)} ({_p(change.new_id)}): already trusts the declared bundle; import only"
    leaving = len(now - declared)
    dropped = f"; {leaving} certificate(s) it trusts now would no longer be trusted" if leaving else ""
    return (
        f"  <= {_p(change.cluster)} ({_p(change.new_id)}): trusts {len(now)} certificate(s) now, "
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
    title = f"stack {_p(summary.stack)}" if summary.stack else "plan"
    if summary.error is not None:
        return f"{title}: {_p(summary.error)}\n--- raw plan output ---\n{printable_block(summary.raw)}\n"
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
            lines += [f"  -/+ {_p(c.cluster)}: {_p(c.old_id)} -> {_p(c.new_id)}" for c in found]
    for change in summary.in_place_id_changes:
        lines.append(
            f"WARNING: {_p(change.cluster)} moves from cluster {_p(change.old_id)} to {_p(change.new_id)} in place; "
            "the provider would leave the CA set on the old cluster"
        )
    if summary.trigger_changes and not any(c.action != "no-op" for c in summary.changes):
        lines.append(f"Bookkeeping only: {len(summary.trigger_changes)} cluster id record(s) to store.")
    if summary.other_changes:
        lines.append("OTHER resources changing: " + ", ".join(map(_p, summary.other_changes)))
    if summary.drift:
        lines.append("DRIFT (changed outside Terraform): " + ", ".join(map(_p, summary.drift)))
    return "\n".join(lines) + "\n"
