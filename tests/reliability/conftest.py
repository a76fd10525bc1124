"""Fixtures of the reliability suite (faults, bad input, secrets, load); helpers live in faultkit.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultkit import Cli, SandboxStack
from hypothesis import settings

from roachcert_sandbox.manager import SandboxState

# CI runs the same examples every time: a new finding should come from a developer's run with
# HYPOTHESIS_PROFILE=explore, not turn main red at random.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
# `make fuzz`: many more random examples of the outside-input harness (test_outside_fuzz.py) and the rest.
settings.register_profile("fuzz", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a load test (tens of seconds); deselect with -m 'not slow'")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def fast_standin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in provider retries GETs after 0.05 s instead of the real 1 s (doubling)."""
    monkeypatch.setenv("ROACHCERT_STANDIN_RETRY_WAIT", "0.05")


@pytest.fixture
def one_cluster(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> SandboxStack:
    """A stack of one registered cluster whose CA exists in Vault (ca ensure done), not yet applied."""
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    stack.write()
    cli.ok("ca", "ensure", str(stack.path))
    return stack
