"""Which clusters a stack no longer manages (`unmanage`) and taking one back (`manage`).

`unmanage` accepts only a cluster Terraform's state holds and the stack no longer declares: a typo, a name
never applied, or a name that is not one would otherwise be recorded and break every later plan.
`manage` removes an entry again (any entry, so a bad one recorded by an older roachcert can go too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roachcert.errors import RoachcertError
from roachcert.escape import quoted
from roachcert.names import RULE, is_name
from roachcert.spec import Stack
from roachcert.terraform.resources import RESOURCE_TYPE


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
