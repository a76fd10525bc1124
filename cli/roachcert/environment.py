"""The process environment, as roachcert reads it: the one module that touches `os.environ`.

Every other module asks here (or takes an `environ` mapping from its caller), so one place shows that
the environment is read, and a test of the rule keeps it so. The mapping is the live one: a variable set
while roachcert runs (a test's monkeypatch) is seen at once. The sandbox's servers and stand-in provider
are processes of their own and read their environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def current() -> Mapping[str, str]:
    """The whole environment (what Terraform, Vault settings and the Cloud client start from)."""
    return os.environ


def get(name: str, default: str = "") -> str:
    """One variable; `default` when it is unset."""
    return os.environ.get(name, default)
