"""roachcert's own folders when they cannot be used: a file where `.roachcert/STACK` (or `.roachcert`, or a
parent) should be a folder, a folder removed from under the process, a read-only mount, a local state path that
is a folder, a template named like Terraform's state. Each is one line naming the folder (or file) and the
reason, exit 1, for render, plan and unmanage; nothing is written outside `.roachcert/STACK/`."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import Cli, SandboxStack, only_line

from roachcert_sandbox import manager
from roachcert_sandbox.errors import sandbox_dir
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> SandboxStack:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    stack.write()
    cli.ok("ca", "ensure", str(stack.path))
    return stack


COMMANDS = {
    "render": lambda path: ["render", path],
    "plan": lambda path: ["plan", path],
    "unmanage": lambda path: ["unmanage", path, "gone"],
}


def _listing(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", ["stack-folder-is-a-file", "roachcert-is-a-file", "home-under-a-file"])
def test_a_file_in_place_of_our_folder_is_one_line(
    stack: SandboxStack, cli: Cli, command: str, case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / ".roachcert"
    if case == "stack-folder-is-a-file":
        root.mkdir()
        blocker = stack.workdir
    elif case == "roachcert-is-a-file":
        blocker = root
    else:
        blocker = tmp_path / "regular-file"
        monkeypatch.setenv("ROACHCERT_HOME", str(blocker / "state"))
    blocker.write_text("not a folder\n", encoding="utf-8")
    before = _listing(tmp_path)
    outcome = cli.fails(*COMMANDS[command](str(stack.path)))
    line = only_line(outcome.err)
    assert str(blocker) in line
    assert "not a folder" in line
    assert _listing(tmp_path) == before
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_link_in_place_of_our_folder_is_never_followed(
    stack: SandboxStack, cli: Cli, command: str, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".roachcert").mkdir()
    stack.workdir.symlink_to(elsewhere)
    line = only_line(cli.fails(*COMMANDS[command](str(stack.path))).err)
    assert f"{stack.workdir} is a symbolic link" in line
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_removed_current_folder_is_one_line(
    stack: SandboxStack, cli: Cli, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    outcome = cli.fails(*COMMANDS[command](str(stack.path)))
    assert "current folder no longer exists" in only_line(outcome.err)


@contextlib.contextmanager
def read_only_mount(folder: Path) -> Iterator[None]:
    """`folder` bind-mounted read-only onto itself (root ignores chmod, not a read-only mount)."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) for a read-only bind mount")
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, check=False)
    if bound.returncode != 0:
        pytest.skip(f"mount --bind failed here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


@pytest.mark.parametrize("command", ["plan", "render"])  # unmanage: test_unmanage.py, on an applied stack
@pytest.mark.parametrize("existing", [False, True])
def test_a_read_only_folder_is_one_line(
    stack: SandboxStack, cli: Cli, command: str, existing: bool, tmp_path: Path
) -> None:
    root = tmp_path / ".roachcert"
    (stack.workdir if existing else root).mkdir(parents=True)
    with read_only_mount(root):
        outcome = cli.fails(*COMMANDS[command](str(stack.path)))
    line = only_line(outcome.err)
    assert str(root) in line
    assert "Read-only file system" in line


def test_a_local_state_path_that_is_a_folder_is_named_as_such(stack: SandboxStack, cli: Cli) -> None:
    text = stack.path.read_text(encoding="utf-8")
    stack.path.write_text(
        text + "terraform:\n  backend:\n    type: local\n    config:\n      path: state-dir\n"
    )
    (stack.workdir / "state-dir").mkdir(parents=True)
    for _ in range(2):  # the same on every run
        line = only_line(cli.fails("plan", str(stack.path)).err)
        assert "state-dir" in line
        assert "is a folder" in line
        assert "lock" not in line.lower()


def test_a_template_named_like_terraforms_state_is_refused(
    stack: SandboxStack, cli: Cli, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "terraform.tfstate.tf.j2").write_text("# hijack\n", encoding="utf-8")
    text = stack.path.read_text(encoding="utf-8")
    stack.path.write_text(text + "terraform:\n  templates: templates\n", encoding="utf-8")
    for command in ("render", "plan"):
        line = only_line(cli.fails(command, str(stack.path)).err)
        assert "terraform.tfstate.tf.j2" in line
    assert not (stack.workdir / "terraform.tfstate.tf").exists()


def test_a_stack_may_be_named_sandbox(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> None:
    """The sandbox keeps its files in `.roachcert/.sandbox/`, a name no stack can take, so the product
    reserves nothing for it: a stack named `sandbox` plans and applies beside the sandbox's own folder."""
    own = tmp_path / ".roachcert" / ".sandbox"
    assert sandbox_dir() == own
    own.mkdir(parents=True)  # as `sandbox up` does, then its first file
    token = manager.vault_token()
    stack = SandboxStack(sandbox, tmp_path, name="sandbox")
    stack.add_clusters(1)
    stack.write()
    cli.ok("ca", "ensure", str(stack.path))
    cli.ok("plan", str(stack.path), expect=2)
    cli.ok("apply", str(stack.path))
    assert cli.ok("plan", str(stack.path)).code == 0
    assert stack.workdir == tmp_path / ".roachcert" / "sandbox"
    assert (stack.workdir / "terraform.tfstate").is_file()
    assert {path.name for path in own.iterdir()} == {"vault-token"}
    assert (own / "vault-token").read_text().strip() == token
    assert not list(stack.workdir.glob("vault-token"))
    # roachcert's own folders beside the stacks' stay refused.
    taken = SandboxStack(sandbox, tmp_path, name="plugin-cache")
    taken.add_clusters(1, register=False)
    taken.write()
    line = only_line(cli.fails("plan", str(taken.path)).err)
    assert "cannot be named 'plugin-cache'" in line, line
