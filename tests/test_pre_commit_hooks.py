"""The pre-commit hooks in .pre-commit-hooks.yaml, run by the real `pre-commit` (PyPI) against a temporary
repository of stacks. Offline: the tested hook is `roachcert-validate-system` (the roachcert on PATH); the
`language: python` one builds a hook environment from PyPI, which a test here may not reach."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
BROKEN = "version: 1\nclusters:\n  frogs:\n    id: 2186FBDB-598c-4797-a463-aaaee865903e\n"


def hooks(repo_root: Path) -> dict[str, dict[str, object]]:
    listed = yaml.safe_load((repo_root / ".pre-commit-hooks.yaml").read_text())
    return {hook["id"]: hook for hook in listed}


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.email=t@example.test",
            "-c",
            "user.name=t",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def hook_repo(repo_root: Path, tmp_path: Path) -> Path:
    """A repository holding this checkout's .pre-commit-hooks.yaml as committed (try-repo reads commits)."""
    folder = tmp_path / "hooks"
    folder.mkdir()
    shutil.copy(repo_root / ".pre-commit-hooks.yaml", folder)
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-qm", "hooks")
    return folder


def try_repo(hook_repo: Path, stacks_repo: Path, repo_root: Path) -> subprocess.CompletedProcess[str]:
    if not PRE_COMMIT.is_file():
        pytest.fail("pre-commit is not installed beside this Python: run `make setup` (the dev extra)")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(repo_root / "cli"),  # the venv's `roachcert` runs this checkout's code
        "PRE_COMMIT_HOME": str(stacks_repo.parent / "pre-commit-home"),
        "PIP_NO_INDEX": "1",  # nothing may be downloaded
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [
            str(PRE_COMMIT),
            "try-repo",
            str(hook_repo),
            "roachcert-validate-system",
            "--all-files",
            "--color",
            "never",
        ],
        cwd=stacks_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_hooks_check_stack_files_only(repo_root: Path) -> None:
    found = hooks(repo_root)
    assert set(found) == {"roachcert-validate", "roachcert-validate-system"}
    assert {hook["language"] for hook in found.values()} == {"python", "system"}
    for hook in found.values():
        assert hook["entry"] == "roachcert validate"
        pattern = re.compile(str(hook["files"]))
        assert pattern.search("stacks/prod.yaml")
        assert pattern.search("stacks/eu/prod.yml")
        assert not pattern.search("examples/kubernetes/cronjob.yaml")
        assert not pattern.search(".github/workflows/roachcert.yml")


def test_try_repo_passes_a_valid_stack_and_stops_a_broken_one_at_its_line(
    repo_root: Path, hook_repo: Path, tmp_path: Path
) -> None:
    stacks = tmp_path / "infra"
    (stacks / "stacks").mkdir(parents=True)
    shutil.copy(repo_root / "stacks" / "example.yaml", stacks / "stacks" / "prod.yaml")
    (stacks / "README.md").write_text("not a stack: {{ left alone\n")
    git(stacks, "init", "-q")
    git(stacks, "add", ".")

    passed = try_repo(hook_repo, stacks, repo_root)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"roachcert validate \(roachcert on PATH\)\.+Passed", passed.stdout), passed.stdout

    (stacks / "stacks" / "broken.yml").write_text(BROKEN)
    git(stacks, "add", ".")
    failed = try_repo(hook_repo, stacks, repo_root)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"roachcert validate \(roachcert on PATH\)\.+Failed", failed.stdout), failed.stdout
    assert "stacks/broken.yml:4: clusters.frogs.id: '2186FBDB-" in failed.stdout
    assert "stacks/prod.yaml: ok" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
