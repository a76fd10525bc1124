"""`unmanage` records only a cluster that the stack's Terraform state holds and the stack no longer declares;
`manage` takes one back. A name that is not one, never applied, or still declared is one line, exit 1, and
nothing is recorded, so later plans keep working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faultkit import Cli, SandboxStack, only_line
from test_own_folders import read_only_mount

from roachcert.unmanaged import UNMANAGED_FILE
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


@pytest.fixture
def applied(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> SandboxStack:
    """c0 and c1 applied; then c1 is removed from the stack file (still in the state)."""
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(2)
    stack.write()
    path = str(stack.path)
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)
    del stack.clusters["c1"]
    stack.write()
    return stack


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("old cluster", "is not a cluster name"),
        ("", "is not a cluster name"),
        ("c1\n", "is not a cluster name"),
        ("never", "is not in the Terraform state of stack rel"),
        ("c0", "is still declared"),
    ],
)
def test_unmanage_refuses_what_it_must_not_record(
    applied: SandboxStack, cli: Cli, name: str, said: str
) -> None:
    path = str(applied.path)
    line = only_line(cli.fails("unmanage", path, name).err)
    assert said in line
    assert not (applied.workdir / UNMANAGED_FILE).exists()
    cli.ok("plan", path, expect=2)  # plans still work: c1's deletion is planned, as before


def test_unmanage_needs_a_state_to_look_at(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    stack.write()
    line = only_line(cli.fails("unmanage", str(stack.path), "gone").err)
    assert "no Terraform state" in line
    assert f"roachcert plan {stack.path}" in line


def test_manage_takes_an_unmanaged_cluster_back(applied: SandboxStack, cli: Cli) -> None:
    path = str(applied.path)
    cli.ok("unmanage", path, "c1")
    assert json.loads((applied.workdir / UNMANAGED_FILE).read_text()) == ["c1"]
    cli.ok("manage", path, "c1")
    assert not (applied.workdir / UNMANAGED_FILE).exists()
    plan = cli.ok("plan", path, expect=2)
    assert "c1" in plan.out  # managed again: removed from the stack, so its CA would be deleted
    assert "allow-destroy" in cli.fails("apply", path).err
    assert "not unmanaged" in only_line(cli.fails("manage", path, "c1").err)
    cli.ok("unmanage", path, "c1")
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)  # forgotten, not deleted
    assert applied.cloud(next(iter(applied.clusters.values())))["status"] == "IS_SET"


def test_manage_drops_a_plan_made_while_the_cluster_was_unmanaged(applied: SandboxStack, cli: Cli) -> None:
    path = str(applied.path)
    cli.ok("unmanage", path, "c1")
    cli.ok("plan", path, expect=2)
    cli.ok("manage", path, "c1")
    assert "no saved plan" in cli.fails("apply", path).err


def test_manage_removes_a_bad_entry_an_older_roachcert_recorded(applied: SandboxStack, cli: Cli) -> None:
    path = str(applied.path)
    (applied.workdir / UNMANAGED_FILE).write_text(json.dumps(["old cluster"]) + "\n")
    line = only_line(cli.fails("plan", path).err)
    assert "roachcert manage" in line
    cli.ok("manage", path, "old cluster")
    cli.ok("plan", path, expect=2)


def test_unmanage_on_a_read_only_folder_is_one_line(applied: SandboxStack, cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / ".roachcert"
    with read_only_mount(root):
        outcome = cli.fails("unmanage", str(applied.path), "c1")
    line = only_line(outcome.err)
    assert str(root) in line
    assert "Read-only file system" in line
