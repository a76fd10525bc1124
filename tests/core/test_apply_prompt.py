"""`apply` without a saved plan, at a terminal: it plans, shows the plan and asks on the run's own streams
(the Runtime's stdin and stderr), and applies only on a yes."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.app import run
from roachcert.runtime import Runtime
from roachcert_sandbox.manager import SandboxState, register_cluster

pytestmark = pytest.mark.integration

STACK = """\
version: 1
cas:
  declared: {{pem_file: declared.pem}}
clusters:
  frogs: {{id: {cluster_id}, ca: declared, host: frogs.example.crdb.io, users: [app]}}
"""


class Terminal(io.StringIO):
    """What a person types, on a stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _stack(sandbox: SandboxState, tmp_path: Path) -> Path:
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    (tmp_path / "declared.pem").write_text(make_ca("Declared client CA")[0], encoding="utf-8")
    path = tmp_path / "st.yaml"
    path.write_text(STACK.format(cluster_id=cluster_id), encoding="utf-8")
    return path


def _apply(path: Path, typed: str | None) -> tuple[int, str, str]:
    stdin = io.StringIO() if typed is None else Terminal(typed)
    runtime = Runtime(stdout=io.StringIO(), stderr=io.StringIO(), stdin=stdin)
    code = run(["apply", str(path)], runtime)
    assert isinstance(runtime.stdout, io.StringIO)
    assert isinstance(runtime.stderr, io.StringIO)
    return code, runtime.stdout.getvalue(), runtime.stderr.getvalue()


@pytest.mark.parametrize("typed", ["n\n", "", "yes please\n"])
def test_anything_but_yes_applies_nothing(sandbox: SandboxState, tmp_path: Path, typed: str) -> None:
    path = _stack(sandbox, tmp_path)
    code, out, err = _apply(path, typed)
    assert code == 1
    assert "Apply this plan? [y/N]: " in err
    assert "frogs" in err  # the plan was shown before the question
    assert "not applied" in err
    assert "applied (" not in out


@pytest.mark.parametrize("typed", ["n\n", ""], ids=["no", "end-of-file"])
def test_a_plan_declined_at_the_question_is_not_applied_later_without_one(
    sandbox: SandboxState, tmp_path: Path, typed: str
) -> None:
    # Left saved, the declined plan would look reviewed: the next `apply` (here in CI, no terminal) would
    # apply it without asking. It is dropped; that apply asks for a plan first.
    path = _stack(sandbox, tmp_path)
    code, _out, err = _apply(path, typed)
    assert code == 1
    assert "not applied" in err
    code, out, err = _apply(path, None)
    assert code == 1, out
    assert "applied (" not in out
    assert "--auto-approve" in err


class CtrlC(Terminal):
    def readline(self, size: int | None = -1, /) -> str:
        raise KeyboardInterrupt


def test_ctrl_c_at_the_question_is_a_no_that_leaves_no_plan(sandbox: SandboxState, tmp_path: Path) -> None:
    path = _stack(sandbox, tmp_path)
    runtime = Runtime(stdout=io.StringIO(), stderr=io.StringIO(), stdin=CtrlC())
    assert run(["apply", str(path)], runtime) == 130
    code, out, err = _apply(path, None)
    assert code == 1, out
    assert "--auto-approve" in err


def test_yes_applies_what_was_shown(sandbox: SandboxState, tmp_path: Path) -> None:
    path = _stack(sandbox, tmp_path)
    code, out, err = _apply(path, "y\n")
    assert code == 0, err
    assert "Apply this plan? [y/N]: " in err
    assert "st: applied (1 created" in out


def test_no_terminal_no_question(sandbox: SandboxState, tmp_path: Path) -> None:
    path = _stack(sandbox, tmp_path)
    code, _out, err = _apply(path, None)
    assert code == 1
    assert "Apply this plan?" not in err
    assert "--auto-approve" in err
