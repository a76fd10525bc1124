"""Rotation through plan/apply on the sandbox, on both engines: the bundle grows, dropping an issuer early
is refused by apply itself, and shrinks once every user is re-issued."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_core_loop import Walk

from roachcert.app import run
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


def test_apply_refuses_dropping_an_issuer_until_users_are_reissued(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    walk = Walk(sandbox, tmp_path, engine)
    walk.add_cluster("frogs")
    walk.write()
    stack = str(walk.path)
    certs = str(tmp_path / "certs")
    assert run(["ca", "ensure", stack]) == 0
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0
    assert run(["issue", stack, "--all", "--out", certs]) == 0
    # (1) trust old + new
    walk.issuers.append("ca-b")
    walk.write()
    assert run(["ca", "ensure", stack]) == 0
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0
    # (3) too early: root and app still hold certificates only ca-a signed
    walk.issuers.remove("ca-a")
    walk.write()
    capsys.readouterr()
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 1
    refusal = capsys.readouterr().err
    assert "frogs/root" in refusal
    assert "frogs/app" in refusal
    assert "--allow-early-rotation" in refusal
    # (2) re-issue every user from the new issuer, then the drop goes through
    assert run(["issue", stack, "--all", "--out", certs, "--force"]) == 0
    assert run(["apply", stack]) == 0
    assert run(["plan", stack]) == 0
