"""`roachcert adopt`: import into state every declared cluster whose client CA is set but tracked by no
state, recording its hand-set CA first (guard_facts), so the next plan shows the update to what is declared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from roachcert import guard_facts, plan_seen
from roachcert.cloud.reads import CloudRead
from roachcert.errors import RoachcertError
from roachcert.paths import stack_dir
from roachcert.planning import PlanOptions, declared_pems, observed_reads, read_cloud
from roachcert.progress import StepProgress
from roachcert.rendering import quiet, render_into
from roachcert.spec import load_stack
from roachcert.stack_lock import stack_lock
from roachcert.terraform.for_stack import terraform_for
from roachcert.terraform.resources import RESOURCE_TYPE, address


@dataclass(frozen=True)
class Adoption:
    cluster: str
    read: CloudRead
    declared_pem: str
    imported: bool  # False: already in state, nothing to adopt
    hand_set: int = 0  # certificates it trusts that the stack does not declare: dropping them takes consent
    unseen: bool = False  # FAILED with no certificate, never set by roachcert: a hand-set CA may be unseen


def adopt_stack(path: Path, options: PlanOptions, progress: StepProgress = quiet) -> list[Adoption]:
    """`roachcert adopt`: import into state every declared cluster that trusts a CA no state tracks.
    Writes state only, nothing to any cluster; the next plan shows the update to what is declared."""
    if not options.cloud_read:
        raise RoachcertError("adopt reads the Cloud API; it cannot run with --no-cloud-read")
    stack = load_stack(path)
    workdir = stack_dir(stack.name, options.environ)
    with stack_lock(workdir, stack.name, options.lock_timeout, options.note):
        tf = terraform_for(stack, options.environ, want=options.engine, lock_timeout=options.lock_timeout)
        reads = read_cloud(stack, options, progress)
        _files, bundles = render_into(stack, workdir, progress, options.adapters)
        progress("terraform init")
        tf.init()
        state = tf.state_pull()
        tracked = {
            str(item.get("name"))
            for item in state.get("resources") or ()
            if isinstance(item, Mapping)
            and item.get("type") == RESOURCE_TYPE
            and item.get("mode") == "managed"
        }
        plan_seen.clear(workdir)  # imports change the state
        # Recorded before any import: an adopted cluster's hand-set CA keeps needing consent to drop,
        # through any number of plans, even if this run stops halfway.
        imports = [name for name, read in sorted(reads.items()) if read.has_ca and name not in tracked]
        observed = observed_reads(reads, bundles)
        untracked = [name for name in reads if name not in tracked]
        unseen = guard_facts.unseen_clusters(observed, untracked, guard_facts.load_set_by_us(workdir))
        facts = guard_facts.observe(workdir, declared_pems(bundles), observed, found=imports, unseen=unseen)
        # Tracked by state or imported now: roachcert manages their CA (what `status` tells drift by).
        managed = {
            read.cluster_id: name for name, read in reads.items() if name in tracked or name in imports
        }
        guard_facts.record_set_by_us(workdir, managed)
        found: list[Adoption] = []
        for name, read in sorted(reads.items()):
            if name in unseen:
                found.append(Adoption(name, read, bundles[name].pem, imported=False, unseen=True))
            if not read.has_ca:
                continue
            imported = name in imports
            if imported:
                progress(f"importing {name}")
                tf.import_resource(address(name), read.cluster_id)
            kept = len(facts[name].certs) if name in facts else 0
            found.append(Adoption(name, read, bundles[name].pem, imported, kept))
        return found
