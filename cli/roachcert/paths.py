"""Where roachcert keeps its working files: `.roachcert/` in the current folder (ROACHCERT_HOME overrides)."""

from __future__ import annotations

import os
from pathlib import Path

from roachcert.errors import RoachcertError

RESERVED = frozenset({"sandbox", "plugin-cache", "cli-config"})


def state_root() -> Path:
    return Path(os.environ.get("ROACHCERT_HOME") or Path.cwd() / ".roachcert")


def stack_dir(name: str) -> Path:
    """One Terraform root module, and one state, per stack."""
    if name in RESERVED:
        raise RoachcertError(
            f"a stack cannot be named {name!r}: roachcert keeps its own files there; rename the file"
        )
    return state_root() / name


def sandbox_dir() -> Path:
    return state_root() / "sandbox"


def plugin_cache_dir() -> Path:
    return state_root() / "plugin-cache"
