"""Where roachcert keeps its working files: `.roachcert/` in the current folder (ROACHCERT_HOME overrides)."""

from __future__ import annotations

import os
from pathlib import Path

from roachcert.errors import RoachcertError
from roachcert.names import RULE, is_name

RESERVED = frozenset({"sandbox", "plugin-cache", "cli-config"})


def state_root() -> Path:
    return Path(os.environ.get("ROACHCERT_HOME") or Path.cwd() / ".roachcert")


def stack_dir(name: str) -> Path:
    """One Terraform root module, and one state, per stack: always a folder right under the state root."""
    if not is_name(name):
        raise RoachcertError(f"a stack cannot be named {name!r} ({RULE}); rename the file")
    if name in RESERVED:
        raise RoachcertError(
            f"a stack cannot be named {name!r}: roachcert keeps its own files there; rename the file"
        )
    folder = state_root() / name
    # Never followed out of the state root: a link planted there would send every write elsewhere.
    if folder.is_symlink():
        raise RoachcertError(
            f"{folder} is a symbolic link; roachcert writes only in a folder of its own there"
        )
    return folder


def sandbox_dir() -> Path:
    return state_root() / "sandbox"


def plugin_cache_dir() -> Path:
    return state_root() / "plugin-cache"
