"""`apply`: exactly the reviewed plan, behind the guards (stale plan, deletions, in-place id moves),
then each changed cluster confirmed through the Cloud API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from roachcert import guard_facts, plan_seen
from roachcert.adapters import Adapters
from roachcert.certs import inventory
from roachcert.cloud.client import ClientCaStatus
from roachcert.cloud.reads import CloudRead, bundle_sha256, changed_since, read_clusters, refuse_changed
from roachcert.cloud.status import read_status
from roachcert.errors import CloudError, GuardError, RoachcertError
from roachcert.mask import Sink
from roachcert.paths import stack_dir
from roachcert.plan_record import (
    PlanMeta,
    check_same_engine,
    clear_plan_meta,
    saved_plan,
    verified_copy,
    with_cloud,
)
from roachcert.plan_summary import PlanSummary, ResourceChange
from roachcert.progress import StepProgress
from roachcert.spec import Stack, load_stack
from roachcert.stack_lock import DEFAULT_TIMEOUT, Note, ignore_note, stack_lock
from roachcert.terraform.for_stack import engine_line, terraform_for
from roachcert.terraform.plan_json import summarise
from roachcert.unmanaged import drop_unmanaged
from roachcert.vault.rotation import delivered_records, drops_by_cluster, guard_dropped_issuers


@dataclass(frozen=True)
class ApplyOptions:
    """What an apply takes from its run (its environment and adapters, a note writer) and its flags."""

    environ: Mapping[str, str]
    adapters: Adapters  # how Vault and the Cloud API are opened
    allow_destroy: bool = False
    allow_early_rotation: bool = False
    expect_fingerprint: str | None = None
    lock_timeout: float = DEFAULT_TIMEOUT
    allow_replace_ca: bool = False  # a CA set by hand and not declared may be dropped
    allow_unread_cloud: bool = False  # a plan made with --no-cloud-read may be applied
    engine: str | None = None  # terraform|tofu (--engine); None: the stack's terraform.engine
    note: Note = ignore_note  # a stale lock taken over, said to the run's stderr


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


def check_guards(
    stack: Stack,
    summary: PlanSummary,
    options: ApplyOptions,
    hand_set: Mapping[str, guard_facts.HandSet] | None = None,
) -> None:
    """Refuse what would lock clients out unless explicitly allowed. `hand_set`: the stack's record of
    CAs set by hand (guard_facts); None reads it from the stack's working folder."""
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
    if not options.allow_replace_ca:
        recorded = (
            guard_facts.load_hand_set(stack_dir(stack.name, options.environ))
            if hand_set is None
            else hand_set
        )
        guard_facts.refuse_drops(stack.name, summary, guard_facts.in_plan(summary, recorded))
    if not options.allow_early_rotation:
        _rotation_guard(stack, summary, options)


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


def _rotation_guard(stack: Stack, summary: PlanSummary, options: ApplyOptions) -> None:
    """Shrinking a bundle, for whatever reason (an issuer dropped, a CA removed, replaced or moved to
    another mount), while users may still hold certificates only a leaving issuer signed locks them
    out; the delivered inventory tells who (Vault's stored certificates only for users it lacks)."""
    kept = [c for c in summary.changes if c.action in ("update", "replace") and c.cluster in stack.clusters]
    drops = drops_by_cluster({c.cluster: c.old_pem for c in kept}, {c.cluster: c.new_pem for c in kept})
    if not drops:
        return
    delivered = delivered_records(inventory.load(options.environ, stack.name, options.note))
    issued = []
    if stack.vault_cas():
        vault = options.adapters.vault(stack)
        issued = [record for ca in stack.vault_cas().values() for record in vault.list_issued(ca.mount)]
    verdict = guard_dropped_issuers(stack, drops, issued, datetime.now(UTC), delivered)
    if not verdict.allowed:
        raise GuardError(verdict.message)


def apply_stack(
    path: Path,
    options: ApplyOptions,
    *,
    out: Sink | None = None,
    progress: StepProgress = lambda _: None,
) -> ApplyOutcome:
    """Under the stack's lock from the first check to the end of `terraform apply`: no `plan` can
    replace the plan file in between, and what Terraform gets is a private copy of the verified bytes."""
    stack = load_stack(path)
    workdir = stack_dir(stack.name, options.environ)
    with stack_lock(workdir, stack.name, options.lock_timeout, options.note):
        meta = saved_plan(stack, workdir)
        if options.expect_fingerprint and options.expect_fingerprint != meta.fingerprint:
            raise GuardError(
                f"the saved plan of {stack.name} has fingerprint {meta.fingerprint}, not the reviewed "
                f"{options.expect_fingerprint}: run `roachcert plan` again and review it"
            )
        if not meta.has_changes:
            clear_plan_meta(workdir)
            return ApplyOutcome(stack, PlanSummary(stack=stack.name), applied=False, confirmations=())
        guard_facts.check_unread(stack.name, meta.cloud_read, options.allow_unread_cloud)
        with verified_copy(workdir, meta) as plan_copy:
            tf = terraform_for(
                stack, options.environ, out, want=options.engine, lock_timeout=options.lock_timeout
            )
            check_same_engine(stack, meta, engine_line(tf))
            summary = with_cloud(summarise(tf.show_json(plan_copy), stack), meta.cloud)
            if summary.fingerprint != meta.fingerprint or (
                options.expect_fingerprint and summary.fingerprint != options.expect_fingerprint
            ):
                raise GuardError(
                    f"the plan file of {stack.name} does not match its review record; run `roachcert plan` again"
                )
            check_guards(stack, summary, options)
            now = _cloud_unchanged(stack, meta, progress, options.adapters)
            if not options.allow_replace_ca:
                # From this re-read, not only the record: a runner without the plan's folder refuses too.
                guard_facts.refuse_drops(stack.name, summary, guard_facts.unseen_now(workdir, summary, now))
            progress("terraform apply")
            plan_seen.clear(workdir)  # the state changes: only a full plan vouches for it again
            _record_setting(workdir, summary, options.note)
            try:
                tf.apply(plan_copy)
            except KeyboardInterrupt:
                clear_plan_meta(workdir)  # partly applied: the next step is a fresh plan, not this one
                raise
            clear_plan_meta(workdir)
            drop_unmanaged(workdir, [change.cluster for change in summary.of("forget")], options.note)
            _end_hand_set(workdir, summary, options.note)
    progress("confirming with the Cloud API")
    return ApplyOutcome(stack, summary, applied=True, confirmations=confirm(summary, options.adapters))


def _cloud_unchanged(
    stack: Stack, meta: PlanMeta, progress: StepProgress, adapters: Adapters
) -> dict[str, CloudRead]:
    """Read every cluster the plan read, again, just before Terraform runs: a CA changed in the Console
    (or by curl) since the review must not be overwritten unseen. The reads ({} when the plan read none)."""
    if not meta.cloud_read or not meta.cloud:
        return {}
    progress("checking the clusters' CAs with the Cloud API")
    client = adapters.cloud()
    ids = {name: stack.clusters[name].id for name in meta.cloud if name in stack.clusters}
    now = read_clusters(ids, client.get_client_ca)
    refuse_changed(stack.name, changed_since(meta.cloud, now), now)
    return now


def _record_setting(workdir: Path, summary: PlanSummary, note: Callable[[str], None]) -> None:
    """Before Terraform runs: a create that fails, or an apply cut short, is still roachcert's own. Not
    recorded, the next plan asks --allow-replace-ca before retrying a failed create: the safe side."""
    try:
        guard_facts.record_set_by_us(workdir, guard_facts.setting(summary))
    except (OSError, RoachcertError) as exc:  # FilesError: a full disk, a read-only folder
        note(f"note: could not update {workdir / guard_facts.SET_BY_US_FILE} ({exc})")


def _end_hand_set(workdir: Path, summary: PlanSummary, note: Callable[[str], None]) -> None:
    """The apply has happened: a record not updated is a note (the next plan's reads prune it)."""
    try:
        guard_facts.end_applied(workdir, summary)
    except (OSError, RoachcertError) as exc:
        note(f"note: could not update {workdir / guard_facts.HAND_SET_FILE} ({exc})")
    try:
        guard_facts.record_set_by_us(workdir, {}, guard_facts.removed(summary))
    except (OSError, RoachcertError) as exc:  # kept: a later NOT_SET then reads as drift, not "not set yet"
        note(f"note: could not update {workdir / guard_facts.SET_BY_US_FILE} ({exc})")


def expected_after(summary: PlanSummary) -> list[tuple[str, str, str, str]]:
    """(cluster, cluster id, status the Cloud API should report, the bundle it should hold) for every
    changed cluster."""
    wanted: list[tuple[str, str, str, str]] = []
    for change in summary.changes:
        new_pem = change.new_pem or ""
        if change.action in ("create", "update") and change.new_id:
            wanted.append((change.cluster, change.new_id, "IS_SET", new_pem))
        elif change.action == "delete" and change.old_id:
            wanted.append((change.cluster, change.old_id, "NOT_SET", ""))
        elif change.action == "replace":
            if change.old_id and change.old_id != change.new_id:
                wanted.append((change.cluster, change.old_id, "NOT_SET", ""))
            if change.new_id:
                wanted.append((change.cluster, change.new_id, "IS_SET", new_pem))
    return wanted


def _observed(answer: ClientCaStatus, expected_pem: str, cluster: str = "", cluster_id: str = "") -> str:
    """The status, unless the bundle is not the planned one: Terraform's word is not taken for it (a
    provider that crashed after a DELETE answered 404 leaves the CA set and says nothing)."""
    status = read_status(cluster, cluster_id, answer)
    if status == "IS_SET" and bundle_sha256(answer.x509_pem_cert) != bundle_sha256(expected_pem):
        return "IS_SET with a bundle other than the planned one"
    return status


def confirm(summary: PlanSummary, adapters: Adapters) -> tuple[Confirmation, ...]:
    wanted = expected_after(summary)
    if not wanted:
        return ()
    try:
        client = adapters.cloud()
    except (CloudError, RoachcertError) as exc:
        return tuple(Confirmation(c, i, e, f"not confirmed: {exc}") for c, i, e, _pem in wanted)
    results = []
    for cluster, cluster_id, expected, pem in wanted:
        try:
            observed = _observed(client.get_client_ca(cluster_id), pem, cluster, cluster_id)
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
    return (
        f"  {item.cluster} ({item.cluster_id}): expected {item.expected}, the Cloud API reports {item.observed}: "
        f"run `roachcert plan {stack}` and apply again"
    )
