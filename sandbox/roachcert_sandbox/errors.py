"""The sandbox's one error, and where it keeps its state."""

from __future__ import annotations

from pathlib import Path

from roachcert import environment
from roachcert.errors import RoachcertError
from roachcert.paths import state_root


class SandboxError(RoachcertError):
    """A local sandbox server could not be started or reached."""


def sandbox_dir() -> Path:
    """`.roachcert/sandbox/` (a stack may not take the name: names.RESERVED)."""
    return state_root(environment.process()) / "sandbox"
