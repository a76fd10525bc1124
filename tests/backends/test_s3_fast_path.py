"""The no-change fast path on a remote backend (S3 on the sandbox's SeaweedFS): the state's identity comes
from `state pull` (lineage, serial, content), so another runner's write to the shared state makes the next
plan run Terraform, which then sees what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_s3_backend import Runner, S3Stack, s3_stack

pytestmark = pytest.mark.integration
__all__ = ["s3_stack"]  # the fixture, imported for the test below

VERIFIED = "verified without Terraform: files, state and 1 Cloud reads unchanged"


def test_another_runners_state_write_makes_terraform_plan(s3_stack: S3Stack, tmp_path: Path) -> None:
    first, second = s3_stack.runner(tmp_path, "a"), s3_stack.runner(tmp_path, "b")

    def cli(runner: Runner, *args: str, expect: int = 0) -> str:
        code, output = runner.run(*args)
        assert code == expect, output
        return output

    stack = str(first.stack)
    cli(first, "ca", "ensure", stack)
    cli(first, "plan", stack, expect=2)
    cli(first, "apply", stack)
    assert VERIFIED not in cli(first, "plan", stack)  # the first plan after an apply is Terraform's
    assert VERIFIED in cli(first, "plan", stack)  # answered from the record: state pulled, not planned
    # Runner B stops managing the cluster: the shared state loses its resource, the cluster keeps its CA.
    cli(second, "plan", str(second.stack))
    text = second.stack.read_text()
    second.stack.write_text(
        text[: text.index("clusters:")] + "clusters: {}\n" + text[text.index("terraform:") :]
    )
    cli(second, "unmanage", str(second.stack), "frogs")
    cli(second, "plan", str(second.stack), expect=2)
    cli(second, "apply", str(second.stack))
    # A's files and the Cloud side are as recorded; the state is not: Terraform plans, and adopts.
    out = cli(first, "plan", stack, expect=2)
    assert VERIFIED not in out
    assert "adopt" in out.lower(), out
