"""`plan`: for one stack, load → bundles (read-only Vault) → render → write → init → plan → show → summary;
for many, `plan_pool.plan_many` runs those on a thread pool; `adoption` imports what a cluster trusts.
Rendering and writing the files is `rendering`, which `roachcert render` runs without the rest.

What `apply` needs to refuse a stale plan is saved beside the plan file (plan_record.PlanMeta). About
400 lines on purpose: the one pipeline of a stack's plan, its outcome types and the fast path's check,
read top to bottom in the order they run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from roachcert import guard_facts, interrupts, plan_seen
from roachcert.adapters import Adapters
from roachcert.bundles import ClusterBundle
from roachcert.cloud.reads import CloudRead, bundle_sha256, pending_message, read_clusters
from roachcert.errors import GuardError
from roachcert.files import write_atomic
from roachcert.mask import Sink
from roachcert.paths import stack_dir
from roachcert.plan_record import (
    PLAN_FILE,
    PLAN_LOG,
    PlanMeta,
    clear_plan_meta,
    cloud_fingerprints,
    file_sha256,
    load_plan_meta,
    save_plan_meta,
    spec_hash,
    with_cloud,
)
from roachcert.plan_summary import PlanSummary
from roachcert.progress import StepProgress
from roachcert.rendering import quiet, render_into
from roachcert.reports.model import StackReport, sources_from_bundles
from roachcert.spec import Stack, load_stack
from roachcert.stack_lock import DEFAULT_TIMEOUT, Note, ignore_note, stack_lock
from roachcert.terraform.for_stack import engine_line, terraform_for
from roachcert.terraform.plan_json import summarise, unchanged
from roachcert.terraform.runner import Terraform
from roachcert.terraform.workdir import files_hash


@dataclass(frozen=True)
class PlanOptions:
    """What a plan takes from its run: the run's environment (the engine's, the mask's, ROACHCERT_HOME)
    and adapters, a note writer, and the flags."""

    environ: Mapping[str, str]
    adapters: Adapters  # how Vault and the Cloud API are opened
    lock_timeout: float = DEFAULT_TIMEOUT
    cloud_read: bool = True  # read each cluster's CA from the Cloud API (adoption, PENDING, edits)
    wait_pending: float = 0.0  # seconds to wait for PENDING clusters to settle before stopping
    engine: str | None = None  # terraform or tofu (--engine); None: the stack's terraform.engine
    note: Note = ignore_note  # a stale lock taken over, said to the run's stderr
    full: bool = False  # --full: run Terraform even when the no-change record vouches for the stack


@dataclass(frozen=True)
class StackPlan:
    stack: Stack
    workdir: Path
    summary: PlanSummary
    returncode: int  # Terraform's -detailed-exitcode: 0 no changes, 2 changes
    plan_text: str  # Terraform's own plan output, masked
    engine: str  # the engine's version line
    bundles: Mapping[str, ClusterBundle]
    path: Path  # the stack file as given
    cloud: Mapping[str, CloudRead] = field(default_factory=dict)  # empty with --no-cloud-read
    plan_source: str = ""  # which run `plan_text` is from when there were two (adoption)
    cloud_read: bool = True  # False: planned with --no-cloud-read, which every report says
    hand_set: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cluster → hand-set CAs it drops
    unseen_ca: tuple[str, ...] = ()  # clusters where it replaces a CA that may be set by hand, unseen
    verified: str = ""  # set when the no-change fast path answered without Terraform (plan_seen)

    def report(self, now: datetime) -> StackReport:
        stack = self.stack
        return StackReport(
            stack=stack.name,
            summary=self.summary,
            now=now,
            engine=self.engine,
            provider_version=stack.terraform.provider_version,
            raw_plan=self.plan_text,
            raw_plan_source=self.plan_source,
            log=str(self.workdir / PLAN_LOG),
            sources=sources_from_bundles(self.bundles.values()),
            users={name: cluster.users for name, cluster in stack.clusters.items()},
            duplicates={name: b.duplicates for name, b in self.bundles.items() if b.duplicates},
            path=str(self.path),
            source=str(stack.source) if stack.source is not None else stack.name,
            saved=self.returncode == 2,
            cloud_read=self.cloud_read,
            hand_set=self.hand_set,
            unseen_ca=self.unseen_ca,
            verified=self.verified,
        )


@dataclass(frozen=True)
class StackFailure:
    """A stack whose plan stopped: its name (from the file: the stack may not have loaded), its file, and
    why, without the name prefix (what the JSON report's `error` says)."""

    stack: str
    path: Path
    problems: tuple[str, ...]
    located: bool = False  # the problems name their own file:line (spec errors)
    cloud_read: bool = True  # False: planned with --no-cloud-read

    @property
    def problem(self) -> str:
        return "\n".join(self.problems)

    @property
    def error(self) -> str:
        """The problem for the terminal: prefixed with the stack name unless it names its file."""
        return self.problem if self.located else f"{self.stack}: {self.problem}"

    def report(self, now: datetime) -> StackReport:
        summary = PlanSummary(error=self.problem or "the plan failed", stack=self.stack)
        return StackReport(
            stack=self.stack, summary=summary, now=now, path=str(self.path), cloud_read=self.cloud_read
        )


PlanOutcome = StackPlan | StackFailure


def stack_reports(outcomes: Sequence[PlanOutcome], now: datetime | None = None) -> list[StackReport]:
    """The report of every stack's plan, all as of one moment."""
    moment = now or datetime.now(UTC)
    return [outcome.report(moment) for outcome in outcomes]


def read_cloud(stack: Stack, options: PlanOptions, progress: StepProgress = quiet) -> dict[str, CloudRead]:
    """Each declared cluster's client CA as the Cloud API answers now; PENDING ones are waited for up to
    --wait-pending, then stop the plan. {} with --no-cloud-read."""
    if not options.cloud_read or not stack.clusters:
        return {}
    progress("reading the clusters' CAs from the Cloud API")
    client = options.adapters.cloud()
    ids = {name: cluster.id for name, cluster in stack.clusters.items()}
    reads = read_clusters(ids, client.get_client_ca)
    deadline = time.monotonic() + options.wait_pending
    while True:
        pending = [read for read in reads.values() if read.status == "PENDING"]
        if not pending:
            return reads
        if time.monotonic() >= deadline:
            raise GuardError(pending_message(stack.name, pending, options.wait_pending))
        progress(f"waiting for {len(pending)} PENDING cluster(s)")
        interrupts.check()
        time.sleep(min(_PENDING_POLL, max(0.0, deadline - time.monotonic())))
        reads.update(read_clusters({r.cluster: r.cluster_id for r in pending}, client.get_client_ca))


_PENDING_POLL = 2.0


def _to_adopt(summary: PlanSummary, reads: Mapping[str, CloudRead]) -> list[str]:
    """Planned creates on clusters that already trust a CA: Terraform would POST over a CA nobody
    reviewed (and cannot tell what the cluster trusts now); import it instead."""
    return sorted(
        change.cluster
        for change in summary.of("create")
        if change.cluster in reads
        and reads[change.cluster].has_ca
        and bundle_sha256(reads[change.cluster].pem)
    )


def plan_stack(
    path: Path, options: PlanOptions, *, out: Sink | None = None, progress: StepProgress = quiet
) -> StackPlan:
    """Plan under the stack's lock; an interrupt leaves no plan record (nothing `apply` could use)."""
    stack = load_stack(path)
    workdir = stack_dir(stack.name, options.environ)
    interrupts.check()
    with stack_lock(workdir, stack.name, options.lock_timeout, options.note):
        try:
            return _plan_locked(stack, workdir, out, progress, options)
        except KeyboardInterrupt:
            clear_plan_meta(workdir)
            plan_seen.clear(workdir)
            with contextlib.suppress(OSError):
                (workdir / PLAN_FILE).unlink()
            raise


def discard_declined(plan: StackPlan, options: PlanOptions) -> None:
    """Drop the plan `apply` made and showed when the question was not answered yes: left saved, the
    next `apply` would take it as reviewed and apply it without asking. A plan another run saved since
    (another fingerprint) is left alone."""
    with stack_lock(plan.workdir, plan.stack.name, options.lock_timeout, options.note):
        meta = load_plan_meta(plan.workdir)
        if meta is not None and meta.fingerprint == plan.summary.fingerprint:
            clear_plan_meta(plan.workdir)
            with contextlib.suppress(OSError):
                (plan.workdir / meta.plan_file).unlink()


def _plan_locked(
    stack: Stack, workdir: Path, out: Sink | None, progress: StepProgress, options: PlanOptions
) -> StackPlan:
    # A missing engine is named before any remote read.
    tf = terraform_for(stack, options.environ, out, want=options.engine, lock_timeout=options.lock_timeout)
    reads = read_cloud(stack, options, progress)
    files, bundles = render_into(stack, workdir, progress, options.adapters)
    engine = engine_line(tf)
    if not options.full and _seen_again(stack, tf, reads, bundles, engine, progress):
        return _verified_plan(stack, workdir, files, bundles, reads, engine)
    plan_seen.clear(workdir)  # whatever this plan shows, the record no longer vouches for the stack
    progress("terraform init")
    tf.init()
    plan_file = workdir / PLAN_FILE
    before = plan_seen.observe(stack, tf, reads, declared_pems(bundles), engine)
    code, summary, plan_text = _terraform_plan(tf, stack, plan_file, bundles, reads, progress)
    log = plan_text
    adopt = _to_adopt(summary, reads)
    if adopt:  # rare: only then does a second plan cost a second run
        progress(f"adopting {len(adopt)} cluster(s)")
        files, _ = render_into(stack, workdir, progress, options.adapters, adopt, bundles)
        code, summary, plan_text = _terraform_plan(tf, stack, plan_file, bundles, reads, progress)
        plan_source = f"the second plan, after adopting {', '.join(sorted(adopt))}"
        log = f"# the first plan\n{log}\n# {plan_source} (the plan saved)\n{plan_text}"
    else:
        plan_source = ""
    write_atomic(workdir / PLAN_LOG, log)
    observed = observed_reads(reads, bundles)
    creates = [change.cluster for change in summary.of("create")]
    unseen = guard_facts.unseen_clusters(observed, creates, guard_facts.load_set_by_us(workdir))
    guard_facts.record_set_by_us(workdir, guard_facts.tracked(summary))
    facts = guard_facts.observe(workdir, declared_pems(bundles), observed, found=adopt, unseen=unseen)
    hand_set, unseen_ca = _hand_set_drops(summary, facts)
    summary = with_cloud(summary, cloud_fingerprints(reads))
    if code == 0 and not adopt and before is not None:
        # Recorded only when nothing Terraform depends on moved while it planned.
        after = plan_seen.observe(stack, tf, reads, declared_pems(bundles), engine)
        if after == before:
            plan_seen.save(workdir, before)
    save_plan_meta(
        workdir,
        PlanMeta(
            plan_file=PLAN_FILE,
            fingerprint=summary.fingerprint,
            files_hash=files_hash(files),
            has_changes=code == 2,
            engine=engine,
            spec_hash=spec_hash(stack),
            plan_sha256=file_sha256(plan_file) if code == 2 else "",
            cloud=cloud_fingerprints(reads),
            cloud_read=options.cloud_read,
        ),
    )
    interrupts.check()  # a signal during the last step: the caller clears what was just saved
    assert stack.source is not None  # load_stack records the file it read
    return StackPlan(
        stack,
        workdir,
        summary,
        code,
        plan_text,
        engine,
        bundles,
        path=stack.source,
        cloud=reads,
        plan_source=plan_source,
        cloud_read=options.cloud_read,
        hand_set=hand_set,
        unseen_ca=unseen_ca,
    )


def _seen_again(
    stack: Stack,
    tf: Terraform,
    reads: Mapping[str, CloudRead],
    bundles: Mapping[str, ClusterBundle],
    engine: str,
    progress: StepProgress,
) -> bool:
    """Whether the last full no-change plan's record matches everything Terraform would see now."""
    recorded = plan_seen.load(tf.workdir)
    if recorded is None:
        return False
    progress("checking the no-change record")
    return plan_seen.observe(stack, tf, reads, declared_pems(bundles), engine) == recorded


def _verified_plan(
    stack: Stack,
    workdir: Path,
    files: Mapping[str, str],
    bundles: Mapping[str, ClusterBundle],
    reads: Mapping[str, CloudRead],
    engine: str,
) -> StackPlan:
    """No changes, proven without Terraform: the summary a no-change `terraform plan` gives, and a
    no-change record for `apply` (no plan file: there is nothing to apply)."""
    verified = plan_seen.verified_line(len(reads))
    statuses = {name: read.status for name, read in reads.items()}
    summary = with_cloud(unchanged(stack, declared_pems(bundles), statuses), cloud_fingerprints(reads))
    write_atomic(workdir / PLAN_LOG, f"# {verified}: terraform plan did not run\n")
    with contextlib.suppress(OSError):
        (workdir / PLAN_FILE).unlink()
    save_plan_meta(
        workdir,
        PlanMeta(
            plan_file=PLAN_FILE,
            fingerprint=summary.fingerprint,
            files_hash=files_hash(files),
            has_changes=False,
            engine=engine,
            spec_hash=spec_hash(stack),
            cloud=cloud_fingerprints(reads),
            cloud_read=True,
        ),
    )
    interrupts.check()
    assert stack.source is not None  # load_stack records the file it read
    return StackPlan(
        stack,
        workdir,
        summary,
        0,
        "",
        engine,
        bundles,
        path=stack.source,
        cloud=reads,
        verified=verified,
    )


def declared_pems(bundles: Mapping[str, ClusterBundle]) -> dict[str, str]:
    return {name: bundle.pem for name, bundle in bundles.items()}


def observed_reads(
    reads: Mapping[str, CloudRead], bundles: Mapping[str, ClusterBundle]
) -> list[guard_facts.Observed]:
    return [
        guard_facts.Observed(name, read.cluster_id, read.status, read.pem, bundles[name].pem)
        for name, read in sorted(reads.items())
        if name in bundles
    ]


def _hand_set_drops(
    summary: PlanSummary, facts: Mapping[str, guard_facts.HandSet]
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """What `apply` asks consent for: cluster → subjects of the hand-set CAs this plan takes off it, and
    the clusters where it replaces a CA that may be set by hand but that the Cloud API does not show."""
    found: dict[str, tuple[str, ...]] = {}
    unseen: list[str] = []
    for fact, cert in guard_facts.drops(summary, guard_facts.in_plan(summary, facts)):
        if cert.unseen:
            unseen.append(fact.cluster)
        else:
            found[fact.cluster] = (*found.get(fact.cluster, ()), cert.subject)
    return found, tuple(unseen)


def _terraform_plan(
    tf: Terraform,
    stack: Stack,
    plan_file: Path,
    bundles: Mapping[str, ClusterBundle],
    reads: Mapping[str, CloudRead],
    progress: StepProgress,
) -> tuple[int, PlanSummary, str]:
    """Terraform's return code, the summary of its plan, and the plan's own text (never another run's)."""
    progress("terraform plan")
    run = tf.plan(plan_file)
    if run.returncode == 0:
        statuses = {name: read.status for name, read in reads.items()}
        pems = {name: bundle.pem for name, bundle in bundles.items()}
        return run.returncode, unchanged(stack, pems, statuses), run.output
    progress("reading the plan")
    return run.returncode, summarise(tf.show_json(plan_file), stack), run.output
