"""What a command body takes from its run: the runtime (output with masking at the sink) and the
adapters it opens, the real ones unless the run was given others (a test's fakes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roachcert.runtime import Runtime, current

if TYPE_CHECKING:
    from roachcert.adapters import Adapters


def runtime() -> Runtime:
    return current()


def adapters() -> Adapters:
    from roachcert.adapters import (
        REAL,  # the adapters import hvac and requests: only a command that runs needs them
    )

    return current().adapters or REAL
