"""The sandbox's one error, and where it keeps its state."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from roachcert import environment
from roachcert.errors import RoachcertError
from roachcert.paths import state_root

# Under .roachcert/ (ROACHCERT_HOME), beside the stacks' folders, with a name no stack can take (a stack's
# name starts with a letter or "_"): the product reserves nothing for the sandbox, and ROACHCERT_HOME,
# `make clean` and .gitignore cover it with the rest.
FOLDER = ".sandbox"
# Where releases before this one kept it; a stack may be named `sandbox` now.
OLD_FOLDER = "sandbox"


class SandboxError(RoachcertError):
    """A local sandbox server could not be started or reached."""


def sandbox_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`.roachcert/.sandbox/` under the state root of `environ`: a `roachcert sandbox` command passes its
    run's; None (a test, the bench) is the process's."""
    return state_root(environment.process() if environ is None else environ) / FOLDER
