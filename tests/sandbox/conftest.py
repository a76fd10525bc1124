"""Fixtures for the Cloud API emulator and the stand-in provider driven by the real (embedded) engine."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from certs_helper import make_ca
from provider_choice import active_provider
from roachcert_sandbox import providers
from roachcert_sandbox.emulator import RunningEmulator, start_emulator
from roachcert_sandbox.mirror import MirrorInfo, write_cli_config

ENGINE = Path(sys.executable).parent / "roachcert-terraform"
PENDING_SECONDS = 0.2


@pytest.fixture
def api_key() -> str:
    return "crl-test-" + secrets.token_urlsafe(16)


@pytest.fixture
def emulator(tmp_path: Path, api_key: str) -> Iterator[RunningEmulator]:
    running = start_emulator(tmp_path / "emulator-state.json", api_key, pending_seconds=PENDING_SECONDS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def new_cluster(emulator: RunningEmulator) -> Callable[..., str]:
    """Register a cluster (a fresh lowercase UUID) and return its id."""

    def register(plan: str = "DEDICATED") -> str:
        cluster_id = str(uuid.uuid4())
        emulator.register_cluster(cluster_id, f"cluster-{cluster_id[:8]}", plan)
        return cluster_id

    return register


@pytest.fixture
def ca_pem() -> Callable[[str], str]:
    """A fresh CA certificate in PEM; its key stays in memory."""

    def make(cn: str = "Test client CA") -> str:
        return make_ca(cn)[0]

    return make


@dataclass
class Terraform:
    """Runs the embedded engine in one working folder with the mirror and emulator wired in."""

    workdir: Path
    env: dict[str, str]
    history: list[list[str]] = field(default_factory=list)

    def write_config(self, resources: dict[str, tuple[str, str]]) -> None:
        """resources: NAME -> (cluster id, PEM text); the PEM goes through a file, as roachcert renders it."""
        blocks = [
            "terraform {\n  required_providers {\n"
            '    cockroach = { source = "cockroachdb/cockroach", version = "1.22.0" }\n  }\n}\n'
        ]
        for name, (cluster_id, pem) in sorted(resources.items()):
            (self.workdir / f"{name}.pem").write_text(pem, encoding="utf-8")
            blocks.append(
                f'resource "cockroach_client_ca_cert" "{name}" {{\n'
                f'  id            = "{cluster_id}"\n'
                f'  x509_pem_cert = file("${{path.module}}/{name}.pem")\n}}\n'
            )
        (self.workdir / "main.tf").write_text("\n".join(blocks), encoding="utf-8")

    def run(self, *args: str, expect: int | None = 0, **extra_env: str) -> subprocess.CompletedProcess[str]:
        argv = [str(ENGINE), *args]
        self.history.append(argv)
        env = {**os.environ, **self.env, **extra_env}
        done = subprocess.run(argv, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=240)
        if expect is not None and done.returncode != expect:
            raise AssertionError(
                f"terraform {' '.join(args)} exited {done.returncode}, expected {expect}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done

    def init(self) -> subprocess.CompletedProcess[str]:
        return self.run("init", "-input=false", "-no-color")

    def start(self, cluster_id: str, pem: str, *, apply: bool = True) -> None:
        """One resource, `main`, trusting `pem` on the cluster: configured, initialised and applied."""
        self.write_config({"main": (cluster_id, pem)})
        self.init()
        if apply:
            self.apply()

    def apply(self, expect: int = 0, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", expect=expect, **extra_env)

    def plan_exit_code(self) -> int:
        """0 no changes, 2 changes (plan -detailed-exitcode)."""
        done = self.run(
            "plan", "-detailed-exitcode", "-input=false", "-no-color", "-out=tf.plan", expect=None
        )
        assert done.returncode in (0, 2), done.stdout + done.stderr
        return done.returncode

    def planned_actions(self) -> dict[str, list[str]]:
        self.plan_exit_code()
        shown = json.loads(self.run("show", "-json", "tf.plan").stdout)
        return {rc["address"]: rc["change"]["actions"] for rc in shown.get("resource_changes", [])}

    def state(self) -> dict[str, dict[str, Any]]:
        shown = json.loads(self.run("show", "-json").stdout)
        resources = shown.get("values", {}).get("root_module", {}).get("resources", [])
        return {r["address"]: r["values"] for r in resources}


@pytest.fixture(scope="session")
def provider_mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[MirrorInfo, Path]:
    """The mirror of the provider the tests run (conftest.test_provider: real when installed)."""
    root = tmp_path_factory.mktemp("mirror")
    kind = "real" if active_provider() == "real" else "standin"
    info = providers.install(kind, root).mirror
    return info, write_cli_config(root / "terraform.rc", info.root)


@pytest.fixture
def terraform(
    tmp_path: Path, emulator: RunningEmulator, api_key: str, provider_mirror: tuple[MirrorInfo, Path]
) -> Terraform:
    if not ENGINE.is_file():
        pytest.skip("the embedded engine is not installed (pip install 'roachcert[engine]')")
    info, cli_config = provider_mirror
    workdir = tmp_path / "stack"
    workdir.mkdir()
    env = {
        **info.env,
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "COCKROACH_SERVER": emulator.url,
        "COCKROACH_API_KEY": api_key,
        # Fast GET retries for the fault tests; the poll timeout stays at the real 10 minutes.
        "ROACHCERT_STANDIN_RETRY_WAIT": "0.05",
    }
    return Terraform(workdir=workdir, env=env)
