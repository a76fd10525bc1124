"""The process environment, as roachcert reads it: the one module that touches `os.environ`.

The CLI edge reads it once per run into the run's `Runtime` (a test gives a run a mapping of its own), and
every module that needs a variable is handed that mapping as an argument: no module looks the environment
up for itself, so one run never sees another's. The live `os.environ` is handed on as it is, so a variable
set while roachcert runs (a test's monkeypatch) is seen at once. The sandbox's servers and stand-in
provider are processes of their own and read their environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def process() -> Mapping[str, str]:
    """The process's own environment."""
    return os.environ
