"""Helpers of the reliability suite: a stack on the sandbox, the CLI with its output kept, the emulator's
fault knobs (always reset), and the checks every fault test ends with."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from roachcert.app import run
from roachcert_sandbox.errors import FOLDER
from roachcert_sandbox.manager import SandboxState, register_cluster

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Reliability client CA
    ttl: 2160h
    issuers: [{issuers}]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
clusters:
{clusters}"""

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# What must never reach a user after a fault: a Python traceback or the "bug" line of the CLI edge.
CRASH_MARKERS = ("Traceback (most recent call last)", "internal error", "--debug for the traceback")
SANDBOX_PENDING_SECONDS = 0.2  # what tests/conftest.py starts the session's sandbox with


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    """`roachcert ARGS` in this process, as `roachcert.app.run` does it; every output is kept."""

    capsys: pytest.CaptureFixture[str]
    outcomes: list[Outcome] = field(default_factory=list)

    def __call__(self, *args: str) -> Outcome:
        self.capsys.readouterr()
        code = run(list(args))
        captured = self.capsys.readouterr()
        outcome = Outcome(tuple(args), code, captured.out, captured.err)
        self.outcomes.append(outcome)
        return outcome

    def ok(self, *args: str, expect: int = 0) -> Outcome:
        outcome = self(*args)
        assert outcome.code == expect, f"roachcert {' '.join(args)} exited {outcome.code}:\n{outcome.text}"
        assert_no_crash(outcome)
        return outcome

    def fails(self, *args: str, code: int = 1) -> Outcome:
        """A command that must fail cleanly: the exit code, no traceback, and a message to read."""
        outcome = self(*args)
        assert outcome.code == code, f"roachcert {' '.join(args)} exited {outcome.code}:\n{outcome.text}"
        assert_no_crash(outcome)
        assert outcome.text.strip(), f"roachcert {' '.join(args)} failed without a word"
        return outcome


def assert_no_crash(outcome: Outcome) -> None:
    for marker in CRASH_MARKERS:
        assert marker not in outcome.text, f"roachcert {' '.join(outcome.args)} crashed:\n{outcome.text}"


class SandboxStack:
    """A stack file of N clusters on one fresh Vault mount, each cluster registered with the emulator."""

    def __init__(self, sandbox: SandboxState, folder: Path, name: str = "rel", users: int = 2) -> None:
        self.sandbox = sandbox
        self.path = folder / f"{name}.yaml"
        self.name = name
        self.mount = f"pki_{uuid.uuid4().hex[:10]}"
        self.issuers = ["ca-a"]
        self.users = ["root", "app", *[f"user{n}" for n in range(max(0, users - 2))]][:users]
        self.clusters: dict[str, str] = {}

    def add_clusters(self, count: int, prefix: str = "c", register: bool = True) -> None:
        for number in range(count):
            cluster_id = str(uuid.uuid4())
            if register:
                register_cluster(self.sandbox, cluster_id, f"{prefix}{number}")
            self.clusters[f"{prefix}{number}"] = cluster_id

    def write(self) -> Path:
        users = ", ".join(self.users)
        blocks = "".join(
            f"  {name}:\n    id: {cid}\n    ca: client-ca\n    host: {name}.example.crdb.io\n    users: [{users}]\n"
            for name, cid in self.clusters.items()
        )
        text = STACK.format(mount=self.mount, issuers=", ".join(self.issuers), clusters=blocks)
        self.path.write_text(text, encoding="utf-8")
        return self.path

    @property
    def workdir(self) -> Path:
        return self.path.parent / ".roachcert" / self.name

    def cloud(self, cluster_id: str) -> dict[str, Any]:
        return cloud_status(self.sandbox, cluster_id)

    def statuses(self) -> set[str]:
        return {str(self.cloud(cid)["status"]) for cid in self.clusters.values()}


def cloud_status(sandbox: SandboxState, cluster_id: str) -> dict[str, Any]:
    """The cluster's client CA as the emulator answers it now (a GET with the sandbox's key)."""
    response = requests.get(
        f"{sandbox.emulator_url}/api/v1/clusters/{cluster_id}/client-ca-cert",
        headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
        timeout=10,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def wait_settled(sandbox: SandboxState, cluster_ids: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    for cluster_id in cluster_ids:
        while cloud_status(sandbox, cluster_id)["status"] == "PENDING":
            assert time.monotonic() < deadline, f"{cluster_id} stayed PENDING"
            time.sleep(0.05)


@contextlib.contextmanager
def faults(sandbox: SandboxState, **knobs: Any) -> Iterator[None]:
    """Arm the emulator's fault knobs for the block; they are reset however it ends (the emulator is
    shared by the whole session)."""
    url = f"{sandbox.emulator_url}/_admin/faults"
    try:
        requests.post(url, json=knobs, timeout=10).raise_for_status()
        yield
    finally:
        requests.delete(url, timeout=10).raise_for_status()
        if "pending_seconds" in knobs:
            requests.post(url, json={"pending_seconds": SANDBOX_PENDING_SECONDS}, timeout=10)


def emulator_requests(sandbox: SandboxState) -> list[dict[str, Any]]:
    response = requests.get(f"{sandbox.emulator_url}/_admin/requests", timeout=10)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()
    return data


def clear_requests(sandbox: SandboxState) -> None:
    requests.delete(f"{sandbox.emulator_url}/_admin/requests", timeout=10).raise_for_status()


def only_line(outcome_text: str) -> str:
    """The one non-blank line of a command's output (roachcert's errors are one line)."""
    lines = [line for line in outcome_text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{outcome_text}"
    return lines[0]


def texts_under(root: Path) -> list[tuple[Path, str]]:
    """Every file roachcert (or Terraform, or the provider) left under `root`, as text, but for the sandbox's
    own (its credentials, by design) and the provider binaries under .terraform."""
    return [
        (path, path.read_bytes().decode("utf-8", "replace"))
        for path in sorted(root.rglob("*"))
        if path.is_file() and not {FOLDER, ".terraform"} & set(path.relative_to(root).parts)
    ]


def assert_no_partial_files(folder: Path) -> None:
    """No temporary file left behind, a readable state, and no private key without its certificate."""
    roachcert = folder / ".roachcert"
    if roachcert.exists():
        leftovers = [p for p in roachcert.rglob("*") if p.name.endswith(".tmp") and FOLDER not in p.parts]
        assert not leftovers, f"temporary files left behind: {leftovers}"
        for state in roachcert.glob("*/terraform.tfstate"):
            json.loads(state.read_text(encoding="utf-8"))  # whole, never half-written
    for key in folder.rglob("client.*.key"):
        cert = key.with_name(key.name.removesuffix(".key") + ".crt")
        assert cert.is_file(), f"{key} was written without its certificate"
        assert (key.stat().st_mode & 0o777) == 0o600, f"{key} is not 0600"


def converge(cli: Cli, stack: SandboxStack, *, allow_destroy: bool = False) -> None:
    """A re-run of plan + apply reaches the declared state: the next plan has no changes and every
    cluster's CA is set."""
    path = str(stack.path)
    first = cli(*("plan", path))
    assert first.code in (0, 2), first.text
    assert_no_crash(first)
    if first.code == 2:
        cli.ok("apply", path, *(["--allow-destroy"] if allow_destroy else []))
    cli.ok("plan", path)
    wait_settled(stack.sandbox, list(stack.clusters.values()))
    assert stack.statuses() == {"IS_SET"}


def background(
    stack: SandboxStack, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """`roachcert ARGS` in a process of its own (its own session), as a second terminal would run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "roachcert", *args],
        cwd=stack.path.parent,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(
    what: str, condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    if not running_until(what, condition, proc, timeout):
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")


def running_until(
    what: str, condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60.0
) -> bool:
    """True once `condition` holds; False when `proc` ended first (a run with little left to do may)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            return condition()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return True


def finish(proc: subprocess.Popen[str], timeout: float = 120.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not finish within {timeout}s:\n{out}\n{err}") from None
    return proc.returncode, out, err


@dataclass(frozen=True)
class PausedEngine:
    """The real engine behind a wrapper that stops before one Terraform command (`plan`, `apply`)
    until released: "an engine slowed between check and apply", as long as the test wants."""

    path: Path
    entered: Path  # appears when the command is reached
    release: Path  # create it to let the command run

    @classmethod
    def make(cls, folder: Path, command: str, *, after: bool = False) -> PausedEngine:
        """`after`: the command runs first and the pause comes once it ended, before roachcert hears of
        it ("the engine said done, then the cluster changed")."""
        real = os.environ["ROACHCERT_TERRAFORM"]
        folder.mkdir(parents=True, exist_ok=True)
        entered, release, path = folder / "entered", folder / "release", folder / "engine"
        pause = f"  : > '{entered}'\n  while [ ! -e '{release}' ]; do sleep 0.05; done\n"
        if after:
            body = f'if [ "$1" = {command} ]; then\n  \'{real}\' "$@"; code=$?\n{pause}  exit $code\nfi\n'
        else:
            body = f'if [ "$1" = {command} ]; then\n{pause}fi\n'
        path.write_text(f"#!/bin/sh\n{body}exec '{real}' \"$@\"\n", encoding="utf-8")
        path.chmod(0o755)
        return cls(path, entered, release)

    @property
    def env(self) -> dict[str, str]:
        return {"ROACHCERT_TERRAFORM": str(self.path)}

    def go(self) -> None:
        self.release.touch()
