"""The process environment, as roachcert reads it: the one module that touches `os.environ`.

Every other module asks here, so one place shows that the environment is read, and a test of the rule
keeps it so. By default the mapping is the live `os.environ` (a variable set while roachcert runs, a
test's monkeypatch, is seen at once); the CLI edge may run a command under another mapping (`using`),
as a test does to give one run an environment of its own. The sandbox's servers and stand-in provider
are processes of their own and read their environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

_override: list[Mapping[str, str]] = []


def current() -> Mapping[str, str]:
    """The whole environment (what Terraform, Vault settings and the Cloud client start from)."""
    return _override[-1] if _override else os.environ


def get(name: str, default: str = "") -> str:
    """One variable; `default` when it is unset."""
    return current().get(name, default)


def process() -> Mapping[str, str]:
    """The process's own environment, whatever a run is given."""
    return os.environ


@contextmanager
def using(environ: Mapping[str, str]) -> Iterator[None]:
    """Read `environ` instead of the process's environment until the block ends (one run of a command)."""
    _override.append(environ)
    try:
        yield
    finally:
        _override.pop()
