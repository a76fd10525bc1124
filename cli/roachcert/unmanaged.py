"""Which clusters a stack no longer manages (`unmanage`) and taking one back (`manage`).

`unmanage` accepts only a cluster Terraform's state holds and the stack no longer declares: a typo, a name
never applied, or a name that is not one would otherwise be recorded and break every later plan.
`manage` removes an entry again (any entry, so a bad one recorded by an older roachcert can go too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from roachcert.errors import RoachcertError
from roachcert.escape import quoted
from roachcert.files import ensure_dir, write_atomic
from roachcert.names import RULE, is_name
from roachcert.paths import stack_dir
from roachcert.plan_record import clear_plan_meta
from roachcert.spec import Stack
from roachcert.stack_lock import DEFAULT_TIMEOUT, Note, ignore_note, stack_lock
from roachcert.terraform.resources import RESOURCE_TYPE

# The file keeps its first name: folders planned by older releases hold their list in it.
UNMANAGED_FILE = "roachcert-forget.json"


def state_clusters(state: Mapping[str, Any]) -> set[str]:
    """The clusters whose client CA resource the state holds."""
    resources = state.get("resources")
    if not isinstance(resources, list):
        return set()
    return {
        str(item.get("name"))
        for item in resources
        if isinstance(item, dict) and item.get("type") == RESOURCE_TYPE and item.get("mode") == "managed"
    }


def check_unmanage(stack: Stack, cluster: str, workdir: Path, state: Mapping[str, Any] | None) -> None:
    """Refuse, in one line, a cluster `unmanage` must not record. `state` is None when there is none here."""
    if not is_name(cluster):
        raise RoachcertError(f"{quoted(cluster)} is not a cluster name ({RULE})")
    if state is None:
        raise RoachcertError(
            f"stack {stack.name} has no Terraform state in {workdir} yet: run `roachcert plan {stack.source}` "
            f"first, so unmanage can see whether {cluster} is in it"
        )
    held = state_clusters(state)
    if cluster not in held:
        listed = ", ".join(sorted(held - set(stack.clusters))) or "none"
        raise RoachcertError(
            f"{cluster} is not in the Terraform state of stack {stack.name}: nothing to unmanage "
            f"(in the state, not in the stack: {listed})"
        )


def without(names: list[str], stack: Stack, cluster: str) -> list[str]:
    """The forget list after `manage CLUSTER`; refused when CLUSTER is not on it."""
    if cluster not in names:
        listed = ", ".join(quoted(name) for name in names) or "none"
        raise RoachcertError(
            f"{quoted(cluster)} is not unmanaged in stack {stack.name} (unmanaged: {listed}); nothing to take back"
        )
    return [name for name in names if name != cluster]


def forget_text(names: list[str]) -> str:
    return json.dumps(sorted(set(names))) + "\n"


def unmanaged_names(workdir: Path) -> list[str]:
    try:
        names = json.loads((workdir / UNMANAGED_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [str(name) for name in names] if isinstance(names, list) else []


def unmanage(
    stack: Stack,
    cluster: str,
    environ: Mapping[str, str],
    *,
    lock_timeout: float = DEFAULT_TIMEOUT,
    note: Note = ignore_note,
) -> None:
    """`unmanage`: the next plan forgets the cluster's resource without deleting its CA."""
    if cluster in stack.clusters:
        raise RoachcertError(
            f"{cluster} is still declared in {stack.source}: remove it from the stack first, then unmanage it"
        )
    workdir = stack_dir(stack.name, environ)
    check_unmanage(stack, cluster, workdir, _state_here(stack, workdir, environ))
    ensure_dir(workdir, 0o777)
    with stack_lock(workdir, stack.name, lock_timeout, note):
        write_atomic(workdir / UNMANAGED_FILE, forget_text([*unmanaged_names(workdir), cluster]))


def _state_here(stack: Stack, workdir: Path, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The stack's state, when a plan or apply has initialised its folder here; None otherwise."""
    if not (workdir / ".terraform").is_dir():
        return None
    from roachcert.terraform.for_stack import terraform_for  # lazy: `render` reads the list, runs no engine

    return terraform_for(stack, environ).state_pull()


def manage(
    stack: Stack,
    cluster: str,
    environ: Mapping[str, str],
    *,
    lock_timeout: float = DEFAULT_TIMEOUT,
    note: Note = ignore_note,
) -> None:
    """`manage`: take back a cluster `unmanage` recorded; the saved plan (made with it forgotten) is dropped.
    Under the stack's lock, as `unmanage`: a plan or apply running now never sees half of it."""
    workdir = stack_dir(stack.name, environ)
    if not workdir.is_dir():  # never planned here: nothing recorded, and no folder to make to say so
        without([], stack, cluster)
    with stack_lock(workdir, stack.name, lock_timeout, note):
        names = without(unmanaged_names(workdir), stack, cluster)
        clear_plan_meta(workdir)
        write_unmanaged(workdir, names)


def drop_unmanaged(workdir: Path, done: Sequence[str], note: Note = ignore_note) -> None:
    """After an apply, the names its plan forgot leave the list (a plan already dropped those the stack
    declares again): a cluster of such a name declared and removed later is planned as a delete, as
    any other, not forgotten again unseen. The apply has happened: a list not written is a note."""
    names = unmanaged_names(workdir)
    left = [name for name in names if name not in done]
    if len(left) < len(names):
        try:
            write_unmanaged(workdir, left)
        except (OSError, RoachcertError) as exc:
            note(
                f"note: could not update {workdir / UNMANAGED_FILE} ({exc}); `roachcert manage` takes a name off it"
            )


def write_unmanaged(workdir: Path, names: list[str]) -> None:
    if names:
        write_atomic(workdir / UNMANAGED_FILE, forget_text(names))
    else:
        (workdir / UNMANAGED_FILE).unlink(missing_ok=True)
