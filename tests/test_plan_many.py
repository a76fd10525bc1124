"""plan_many: every stack's StackPlan or StackFailure, in the order given, the name from the file."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from roachcert.adapters import real
from roachcert.plan_pool import plan_many
from roachcert.planning import PlanOptions, StackFailure

BAD = Path(__file__).parent / "bad_stacks"


def test_failures_are_data_in_the_order_given(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROACHCERT_HOME", str(tmp_path / ".roachcert"))
    # An engine that cannot run: the plan stops before any remote read, with a problem of its own.
    monkeypatch.setenv("ROACHCERT_TERRAFORM", str(tmp_path / "no-engine"))
    spec = tmp_path / "bad-id.yaml"
    shutil.copy(BAD / "bad_uuid.yaml", spec)
    good = tmp_path / "example.yml"
    shutil.copy(repo_root / "stacks" / "example.yaml", good)
    outcomes = plan_many(
        [good, spec],
        PlanOptions(os.environ, real(os.environ), cloud_read=False),
        workers=2,
        err=io.StringIO(),
    )
    engine, located = outcomes
    assert isinstance(engine, StackFailure)
    assert isinstance(located, StackFailure)
    assert (engine.stack, engine.path, engine.located) == ("example", good, False)
    assert engine.problems == (f"ROACHCERT_TERRAFORM={tmp_path / 'no-engine'} is not an executable file",)
    assert engine.error == f"example: {engine.problem}"  # the terminal line names the stack
    assert (located.stack, located.path, located.located) == ("bad-id", spec, True)
    assert all(problem.startswith(f"{spec}:") for problem in located.problems)
    assert located.error == located.problem  # it names its own file:line: no prefix
