"""`apply`: exactly the reviewed plan, behind the guards (stale plan, deletions, in-place id moves),
then each changed cluster confirmed through the Cloud API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from roachcert.errors import CloudError, GuardError, RoachcertError
from roachcert.paths import stack_dir
from roachcert.plan_summary import PlanSummary, ResourceChange, summarise
from roachcert.planning import PLAN_FILE, rendered_hash, spec_hash, terraform_for
from roachcert.spec import Stack, load_stack
from roachcert.workdir import PlanMeta, clear_plan_meta, load_plan_meta

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    allow_destroy: bool = False
    allow_early_rotation: bool = False
    expect_fingerprint: str | None = None


@dataclass(frozen=True)
class Confirmation:
    cluster: str
    cluster_id: str
    expected: str  # IS_SET or NOT_SET
    observed: str  # what the Cloud API reports, or an error line

    @property
    def ok(self) -> bool:
        return self.observed == self.expected


@dataclass(frozen=True)
class ApplyOutcome:
    stack: Stack
    summary: PlanSummary
    applied: bool
    confirmations: tuple[Confirmation, ...]


def saved_plan(stack: Stack) -> PlanMeta:
    workdir = stack_dir(stack.name)
    meta = load_plan_meta(workdir)
    if meta is None or not (workdir / meta.plan_file).exists():
        raise GuardError(f"no saved plan for stack {stack.name}: run `roachcert plan {stack.source}` first")
    if meta.spec_hash != spec_hash(stack):
        raise GuardError(
            f"the saved plan of {stack.name} is stale: {stack.source} (or a PEM file it names) changed since; "
            "run `roachcert plan` again and review it"
        )
    if meta.files_hash != rendered_hash(workdir):
        raise GuardError(
            f"the saved plan of {stack.name} is stale: the rendered files in {workdir} changed since; "
            "run `roachcert plan` again and review it"
        )
    return meta


def check_guards(stack: Stack, summary: PlanSummary, options: Options) -> None:
    """Refuse what would lock clients out unless explicitly allowed."""
    if summary.error is not None:
        raise GuardError(
            f"the saved plan of {stack.name} cannot be read ({summary.error}); run `roachcert plan` again"
        )
    for change in summary.in_place_id_changes:
        raise GuardError(
            f"{change.cluster}: the plan moves its CA from cluster {change.old_id} to {change.new_id} in place, "
            "which would leave the CA set on the old cluster (its state predates roachcert's id record): put "
            "the old id back in the stack, plan and apply once to record it, then change the id"
        )
    if summary.deletions and not options.allow_destroy:
        raise GuardError(_deletion_message(stack, summary.deletions, summary.empty_stack))
    if not options.allow_early_rotation:
        _rotation_guard(stack, summary)


def _deletion_message(stack: Stack, deletions: tuple[ResourceChange, ...], empty: bool) -> str:
    parts = []
    for change in deletions:
        moved = (
            f", moving to {change.new_id}"
            if change.action == "replace" and change.new_id != change.old_id
            else ""
        )
        parts.append(
            f"{change.cluster} ({change.old_id}{moved}): clients of {change.cluster} can no longer "
            "authenticate with certificates"
        )
    lead = "the stack declares no clusters at all; " if empty else ""
    return (
        f"refusing to apply {stack.name}: {lead}the plan deletes client CAs: "
        + "; ".join(parts)
        + ". If that is intended, run again with --allow-destroy"
    )


def _rotation_guard(stack: Stack, summary: PlanSummary) -> None:
    """Shrinking a bundle while users may still hold certificates only a dropped issuer signed locks
    them out; Vault's stored certificates tell who."""
    from datetime import UTC, datetime

    from roachcert.rotation import drops_by_cluster, guard_dropped_issuers
    from roachcert.vault import open_vault

    kept = [c for c in summary.changes if c.action in ("update", "replace") and c.cluster in stack.clusters]
    drops = drops_by_cluster({c.cluster: c.old_pem for c in kept}, {c.cluster: c.new_pem for c in kept})
    if not drops or not stack.vault_cas():
        return
    vault = open_vault(stack)
    issued = [record for ca in stack.vault_cas().values() for record in vault.list_issued(ca.mount)]
    verdict = guard_dropped_issuers(stack, drops, issued, datetime.now(UTC))
    if not verdict.allowed:
        raise GuardError(verdict.message)


def apply_stack(
    path: Path,
    options: Options,
    *,
    out: TextIO | None = None,
    progress: Progress = lambda _: None,
) -> ApplyOutcome:
    stack = load_stack(path)
    meta = saved_plan(stack)
    if options.expect_fingerprint and options.expect_fingerprint != meta.fingerprint:
        raise GuardError(
            f"the saved plan of {stack.name} has fingerprint {meta.fingerprint}, not the reviewed "
            f"{options.expect_fingerprint}: run `roachcert plan` again and review it"
        )
    if not meta.has_changes:
        clear_plan_meta(stack_dir(stack.name))
        return ApplyOutcome(stack, PlanSummary(stack=stack.name), applied=False, confirmations=())
    tf = terraform_for(stack, out)
    plan_file = stack_dir(stack.name) / PLAN_FILE
    summary = summarise(tf.show_json(plan_file), stack)
    if summary.fingerprint != meta.fingerprint:
        raise GuardError(
            f"the plan file of {stack.name} does not match its review record; run `roachcert plan` again"
        )
    check_guards(stack, summary, options)
    progress("terraform apply")
    tf.apply(plan_file)
    clear_plan_meta(stack_dir(stack.name))
    progress("confirming with the Cloud API")
    return ApplyOutcome(stack, summary, applied=True, confirmations=confirm(summary))


def expected_after(summary: PlanSummary) -> list[tuple[str, str, str]]:
    """(cluster, cluster id, status the Cloud API should report) for every changed cluster."""
    wanted: list[tuple[str, str, str]] = []
    for change in summary.changes:
        if change.action in ("create", "update") and change.new_id:
            wanted.append((change.cluster, change.new_id, "IS_SET"))
        elif change.action == "delete" and change.old_id:
            wanted.append((change.cluster, change.old_id, "NOT_SET"))
        elif change.action == "replace":
            if change.old_id and change.old_id != change.new_id:
                wanted.append((change.cluster, change.old_id, "NOT_SET"))
            if change.new_id:
                wanted.append((change.cluster, change.new_id, "IS_SET"))
    return wanted


def confirm(summary: PlanSummary) -> tuple[Confirmation, ...]:
    from roachcert.cloud import CloudClient

    wanted = expected_after(summary)
    if not wanted:
        return ()
    try:
        client = CloudClient.from_env()
    except (CloudError, RoachcertError) as exc:
        return tuple(Confirmation(c, i, e, f"not confirmed: {exc}") for c, i, e in wanted)
    results = []
    for cluster, cluster_id, expected in wanted:
        try:
            observed = client.get_client_ca(cluster_id).status or "NOT_SET"
        except CloudError as exc:
            observed = f"not confirmed: {exc}"
        results.append(Confirmation(cluster, cluster_id, expected, observed))
    return tuple(results)


def confirmation_line(item: Confirmation, stack: str) -> str:
    if item.ok:
        return f"  {item.cluster} ({item.cluster_id}): {item.observed}"
    if item.observed == "PENDING":
        return (
            f"  {item.cluster} ({item.cluster_id}): still PENDING; the change is in progress: "
            f"check again with `roachcert status {stack}` in a few minutes"
        )
    if item.observed == "FAILED":
        return (
            f"  {item.cluster} ({item.cluster_id}): FAILED; the Cloud API could not apply the CA: check the "
            "cluster's operation status in the Cloud Console, then run `roachcert plan` and apply again"
        )
    return f"  {item.cluster} ({item.cluster_id}): expected {item.expected}, the Cloud API reports {item.observed}"
