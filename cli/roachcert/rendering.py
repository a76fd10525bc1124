"""`render`: a stack's Terraform files from its CA bundles, written into .roachcert/STACK/.

The step every plan starts with (planning.py imports it from here), and all `roachcert render` runs: kept
apart from the plan's pipeline so that rendering loads no Terraform runner, report or fast-path code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from roachcert.adapters import Adapters
from roachcert.bundles import ClusterBundle, OnFirstRead, cluster_bundles
from roachcert.paths import stack_dir
from roachcert.plan_record import clear_plan_meta
from roachcert.progress import StepProgress
from roachcert.spec import Stack, load_stack
from roachcert.stack_lock import DEFAULT_TIMEOUT, Note, ignore_note, stack_lock
from roachcert.terraform.module import render_module
from roachcert.terraform.workdir import write_workdir
from roachcert.unmanaged import unmanaged_names, write_unmanaged


def quiet(_: str) -> None:
    return None


def render_into(
    stack: Stack,
    workdir: Path,
    progress: StepProgress,
    adapters: Adapters,
    adopt: Sequence[str] = (),
    bundles: Mapping[str, ClusterBundle] | None = None,
) -> tuple[dict[str, str], Mapping[str, ClusterBundle]]:
    if bundles is None:
        progress("reading CA bundles")
        bundles = cluster_bundles(
            stack, OnFirstRead(lambda: adapters.vault(stack))
        )  # PEM files only: no Vault
    progress("rendering")
    listed = unmanaged_names(workdir)
    forget_names = [name for name in listed if name not in stack.clusters]
    if len(forget_names) < len(listed):  # declared again: managed again, as `manage` would do
        write_unmanaged(workdir, forget_names)
    pems = {name: bundle.pem for name, bundle in bundles.items()}
    files = render_module(stack, pems, forget=forget_names, adopt=adopt)
    # A plan made before these files must never be applied against them.
    clear_plan_meta(workdir)
    write_workdir(workdir, files)
    return files, bundles


def render_stack(
    path: Path,
    environ: Mapping[str, str],
    adapters: Adapters,
    *,
    lock_timeout: float = DEFAULT_TIMEOUT,
    note: Note = ignore_note,
) -> tuple[Path, dict[str, str]]:
    """Render the stack into its folder under the run's ROACHCERT_HOME (`environ`), under its lock."""
    stack = load_stack(path)
    workdir = stack_dir(stack.name, environ)
    with stack_lock(workdir, stack.name, lock_timeout, note):
        files, _ = render_into(stack, workdir, quiet, adapters)
    return workdir, files
