"""The product's core loop on the sandbox: real OpenBao, the real engine, the stand-in provider and API,
on both engines (Terraform and OpenTofu, chosen by the stack's `terraform.engine`)."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from roachcert.app import run
from roachcert_sandbox.errors import FOLDER
from roachcert_sandbox.manager import SandboxState, register_cluster

pytestmark = pytest.mark.integration

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Loop Test client CA
    ttl: 2160h
    issuers: [{issuers}]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
clusters:
{clusters}
"""


ENGINE_LINES = {"terraform": "Terraform v", "tofu": "OpenTofu v"}


def cluster_block(name: str, cluster_id: str) -> str:
    return f"  {name}:\n    id: {cluster_id}\n    ca: client-ca\n    host: {name}.example.crdb.io\n    users: [root, app]\n"


class Walk:
    def __init__(self, sandbox: SandboxState, tmp_path: Path, engine: str | None = None) -> None:
        self.sandbox = sandbox
        self.engine = engine
        self.path = tmp_path / "loop.yaml"
        self.mount = f"pki_{uuid.uuid4().hex[:8]}"
        self.issuers = ["ca-a"]
        self.clusters: dict[str, str] = {}

    def add_cluster(self, name: str) -> str:
        cluster_id = str(uuid.uuid4())
        register_cluster(self.sandbox, cluster_id, name)
        self.clusters[name] = cluster_id
        return cluster_id

    def write(self) -> None:
        blocks = "".join(cluster_block(n, i) for n, i in self.clusters.items()) or "  {}\n"
        text = STACK.format(mount=self.mount, issuers=", ".join(self.issuers), clusters=blocks)
        if not self.clusters:
            text = text.replace("clusters:\n  {}\n", "clusters: {}\n")
        if self.engine:
            text += f"terraform:\n  engine: {self.engine}\n"
        self.path.write_text(text)

    def cloud(self, cluster_id: str) -> dict[str, str]:
        response = requests.get(
            f"{self.sandbox.emulator_url}/api/v1/clusters/{cluster_id}/client-ca-cert",
            headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
            timeout=10,
        )
        response.raise_for_status()
        data: dict[str, str] = response.json()
        return data


def test_create_update_remove_move_and_drift(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    walk = Walk(sandbox, tmp_path, engine)
    frogs = walk.add_cluster("frogs")
    dingos = walk.add_cluster("dingos")
    walk.write()
    stack = str(walk.path)
    outputs: list[str] = []

    def cli(*args: str) -> int:
        code = run(list(args))
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        return code

    assert cli("ca", "ensure", stack) == 0
    # create
    assert cli("plan", stack) == 2
    assert "2 to create" in outputs[-1]
    assert f"Plan saved ({ENGINE_LINES[engine]}" in outputs[-1]  # the report names the engine
    assert cli("apply", stack) == 0
    assert walk.cloud(frogs)["status"] == "IS_SET"
    assert walk.cloud(dingos)["status"] == "IS_SET"
    # no-op
    assert cli("plan", stack) == 0
    # a new issuer: each bundle grows to two certificates
    walk.issuers.append("ca-b")
    walk.write()
    assert cli("ca", "ensure", stack) == 0
    assert cli("plan", stack) == 2
    assert "2 to update" in outputs[-1]
    assert cli("apply", stack) == 0
    assert walk.cloud(frogs)["x509_pem_cert"].count("BEGIN CERTIFICATE") == 2
    # removal is deletion: refused, then allowed
    del walk.clusters["dingos"]
    walk.write()
    assert cli("plan", stack) == 2
    assert "clients of dingos can no longer authenticate with certificates" in outputs[-1]
    assert cli("apply", stack) == 1
    assert "--allow-destroy" in outputs[-1]
    assert "dingos" in outputs[-1]
    assert walk.cloud(dingos)["status"] == "IS_SET"
    assert cli("apply", stack, "--allow-destroy") == 0
    assert walk.cloud(dingos)["status"] == "NOT_SET"
    # an id change: delete from the old cluster, create on the new one, gated like a deletion
    moved = walk.add_cluster("frogs")
    walk.write()
    assert cli("plan", stack) == 2
    assert frogs in outputs[-1]
    assert moved in outputs[-1]
    assert cli("apply", stack) == 1
    assert cli("apply", stack, "--allow-destroy") == 0
    assert walk.cloud(frogs)["status"] == "NOT_SET"
    assert walk.cloud(moved)["status"] == "IS_SET"
    assert cli("plan", stack) == 0
    # an out-of-band delete shows up in the next plan
    requests.delete(
        f"{sandbox.emulator_url}/api/v1/clusters/{moved}/client-ca-cert",
        headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
        timeout=10,
    ).raise_for_status()
    for _ in range(50):
        if walk.cloud(moved)["status"] != "PENDING":
            break
        time.sleep(0.05)
    assert cli("plan", stack) == 2
    assert "1 to update" in outputs[-1]
    # after the walk: no private key, Vault token or API key in any file or output
    assert_no_secrets(tmp_path / ".roachcert", outputs)


def assert_no_secrets(root: Path, outputs: list[str]) -> None:
    needles = [os.environ["VAULT_TOKEN"], os.environ["COCKROACH_API_KEY"]]
    key = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
    texts = list(outputs)
    for path in root.rglob("*"):
        if path.is_file() and FOLDER not in path.parts and ".terraform" not in path.parts:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for text in texts:
        assert not key.search(text)
        for needle in needles:
            assert needle not in text


def test_stale_plan_and_wrong_fingerprint_are_refused(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    walk = Walk(sandbox, tmp_path, engine)
    walk.add_cluster("solo")
    walk.write()
    stack = str(walk.path)
    assert run(["ca", "ensure", stack]) == 0
    assert run(["plan", stack]) == 2
    assert run(["apply", stack, "--expect-fingerprint", "0" * 64]) == 1
    assert "fingerprint" in capsys.readouterr().err
    walk.path.write_text(walk.path.read_text() + "# edited after the plan\n")
    assert run(["apply", stack]) == 1
    assert "stale" in capsys.readouterr().err
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0


def test_an_emptied_stack_is_flagged_and_gated(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    walk = Walk(sandbox, tmp_path)
    only = walk.add_cluster("only")
    walk.write()
    stack = str(walk.path)
    assert run(["ca", "ensure", stack]) == 0
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0
    walk.clusters.clear()
    walk.write()
    capsys.readouterr()
    assert run(["plan", stack]) == 2
    assert "declares no clusters" in capsys.readouterr().out
    assert run(["apply", stack]) == 1
    assert "no clusters" in capsys.readouterr().err
    assert walk.cloud(only)["status"] == "IS_SET"


def _unmanaged(sandbox: SandboxState, tmp_path: Path) -> tuple[Walk, str, dict[str, str]]:
    """Clusters keep and gone applied, then gone removed from the stack and unmanaged."""
    walk = Walk(sandbox, tmp_path)
    ids = {name: walk.add_cluster(name) for name in ("keep", "gone")}
    walk.write()
    stack = str(walk.path)
    assert run(["ca", "ensure", stack]) == 0
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0
    del walk.clusters["gone"]
    walk.write()
    assert run(["unmanage", stack, "gone"]) == 0
    return walk, stack, ids


def _planned_removal_of_gone(walk: Walk, capsys: pytest.CaptureFixture[str]) -> None:
    """gone removed from the stack once more: a delete, whatever was unmanaged before."""
    del walk.clusters["gone"]
    walk.write()
    capsys.readouterr()
    assert run(["plan", str(walk.path)]) == 2
    summary = capsys.readouterr().out
    assert "1 to delete" in summary, summary
    assert "0 to forget" in summary, summary


def test_unmanage_forgets_without_deleting(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    walk, stack, ids = _unmanaged(sandbox, tmp_path)
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0  # no deletion: no --allow-destroy needed
    assert walk.cloud(ids["gone"])["status"] == "IS_SET"
    assert walk.cloud(ids["keep"])["status"] == "IS_SET"
    assert run(["plan", stack]) == 0


def test_a_forgotten_name_declared_again_and_removed_again_is_deleted_not_forgotten(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    walk, stack, ids = _unmanaged(sandbox, tmp_path)
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0
    # Declared again (the next plan adopts the CA it still trusts), then removed again: a deletion now.
    walk.clusters["gone"] = ids["gone"]
    walk.write()
    assert run(["plan", stack]) == 2
    assert run(["apply", stack]) == 0
    _planned_removal_of_gone(walk, capsys)
    assert run(["apply", stack]) == 1  # a deletion needs --allow-destroy
    assert "--allow-destroy" in capsys.readouterr().err


def test_an_unmanaged_name_declared_again_is_managed_again_and_deleted_when_removed(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    walk, stack, ids = _unmanaged(sandbox, tmp_path)
    walk.clusters["gone"] = ids["gone"]  # declared again instead of `roachcert manage`
    walk.write()
    assert run(["plan", stack]) == 0  # in state and declared: nothing to do, and managed again
    _planned_removal_of_gone(walk, capsys)
