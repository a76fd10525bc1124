"""The one rule for every name that becomes a path or an HCL identifier: stacks (from their file names),
CAs, clusters, forgotten clusters and backend argument names.

`fullmatch`, not `match` with `$`: Python's `$` also matches before a final newline, so `"name\\n"` would pass.
"""

from __future__ import annotations

import re
from pathlib import Path

from roachcert.errors import SpecError

# The same rule as the stack file's NAME_RE (pydantic checks that one with an end-anchored engine).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
# Terraform argument names (backend settings): no length cap of ours.
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
STACK_SUFFIXES = (".yaml", ".yml")
RULE = "a letter or _ first, then letters, digits, _ or -, at most 63 characters"
# Folders of roachcert's own beside the stacks' under .roachcert/ (a folder of another tool's there takes a name
# that is no stack name, like the sandbox's `.sandbox`).
RESERVED = frozenset({"plugin-cache", "cli-config", "cluster-ca"})


def is_name(value: str) -> bool:
    return NAME.fullmatch(value) is not None


def is_ident(value: str) -> bool:
    return IDENT.fullmatch(value) is not None


def raw_stack_name(path: Path) -> str:
    """The file name without `.yaml`/`.yml`, unchecked (for messages about a file that failed)."""
    name = path.name
    for suffix in STACK_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def stack_name(path: Path) -> str:
    """A stack's name is its file name without `.yaml`; it names `.roachcert/NAME/`, so it must be a name."""
    name = raw_stack_name(path)
    if not is_name(name):
        raise SpecError(
            [
                f"{_shown(path)}: the file name gives the stack name {name!r}, which cannot name a working "
                f"folder ({RULE}); rename the file, like stacks/prod-eu.yaml"
            ]
        )
    if name in RESERVED:
        raise SpecError(
            [
                f"{_shown(path)}: a stack cannot be named {name!r}: roachcert keeps its own files there; rename the file"
            ]
        )
    return name


def _shown(path: Path) -> str:
    return ascii(str(path))[1:-1] if not str(path).isprintable() else str(path)
