"""Choosing the engine: the stack's `terraform.engine`, `--engine` over it, a plan applied only by the
engine that made it, and OpenTofu's state and plan encryption (TF_ENCRYPTION) masked and no defence
against a replayed old plan, which roachcert's staleness checks still refuse."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from engine_choice import require_engine
from roachcert.app import run
from roachcert.errors import TerraformError
from roachcert.plan_record import PLAN_FILE
from roachcert.terraform.engine import resolve_engine
from roachcert.terraform.workdir import PLAN_META
from roachcert_sandbox.errors import FOLDER
from roachcert_sandbox.manager import SandboxState, register_cluster

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: engine choice test client CA
    ttl: 2160h
    issuers: [ca-a]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
clusters:
  frogs:
    id: {cluster_id}
    ca: client-ca
    host: frogs.example.crdb.io
    users: [app]
{terraform}"""

PASSPHRASE = f"tofu-passphrase-{uuid.uuid4().hex}"
ENCRYPTION = f"""
key_provider "pbkdf2" "main" {{
  passphrase = "{PASSPHRASE}"
}}
method "aes_gcm" "main" {{
  keys = key_provider.pbkdf2.main
}}
state {{
  method   = method.aes_gcm.main
  enforced = true
}}
plan {{
  method   = method.aes_gcm.main
  enforced = true
}}
"""


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_tofu_comes_from_roachcert_tofu_then_path_and_terraform_never_picks_it(tmp_path: Path) -> None:
    tofu = executable(tmp_path / "bin" / "tofu")
    chosen = executable(tmp_path / "opt" / "tofu-1.11")
    env = {"PATH": str(tmp_path / "bin")}
    assert resolve_engine(env, want="tofu").path == tofu
    assert resolve_engine(env, want="tofu").tool == "tofu"
    assert resolve_engine({**env, "ROACHCERT_TOFU": str(chosen)}, want="tofu").path == chosen
    # Asked for terraform, a tofu on PATH is not it: the embedded engine is.
    picked = resolve_engine(env, want="terraform")
    assert picked.source == "embedded"
    assert picked.tool == "terraform"
    with pytest.raises(TerraformError, match=r"^ROACHCERT_TOFU=/nowhere/tofu is not an executable file$"):
        resolve_engine({**env, "ROACHCERT_TOFU": "/nowhere/tofu"}, want="tofu")


def test_a_bad_engine_flag_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack = tmp_path / "s.yaml"
    stack.write_text("version: 1\n")
    assert run(["plan", str(stack), "--engine", "pulumi"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["roachcert: --engine pulumi: use terraform or tofu"]


def write_stack(sandbox: SandboxState, tmp_path: Path, terraform: str = "") -> str:
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    path = tmp_path / "choice.yaml"
    path.write_text(
        STACK.format(mount=f"pki_{uuid.uuid4().hex[:8]}", cluster_id=cluster_id, terraform=terraform)
    )
    return str(path)


def test_the_engine_flag_wins_and_apply_runs_only_the_engine_that_planned(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_engine("tofu")
    stack = write_stack(sandbox, tmp_path, "terraform:\n  engine: terraform\n")
    assert run(["ca", "ensure", stack]) == 0
    capsys.readouterr()
    assert run(["plan", stack, "--engine", "tofu"]) == 2
    assert "Plan saved (OpenTofu v1.11.6 (tofu beside roachcert))" in capsys.readouterr().out
    # The stack says terraform: a Terraform apply of OpenTofu's plan file is refused before it runs.
    assert run(["apply", stack]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "was made with OpenTofu v1.11.6, but this apply would run Terraform v" in err[0]
    assert run(["apply", stack, "--engine", "tofu"]) == 0


def test_encrypted_state_and_plan_hide_the_passphrase_and_an_old_plan_replayed_is_refused(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_engine("tofu")
    monkeypatch.setenv("TF_ENCRYPTION", ENCRYPTION)
    stack = write_stack(sandbox, tmp_path, "terraform:\n  engine: tofu\n")
    workdir = tmp_path / ".roachcert" / "choice"
    outputs: list[str] = []

    def cli(*args: str) -> int:
        code = run(list(args))
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        return code

    assert cli("ca", "ensure", stack) == 0
    # Without roachcert's Cloud-side read, which would refuse the replay below before Terraform sees it
    # (tests/core/test_cloud_side.py): here the engine's own stale check under encryption is tested.
    assert cli("plan", stack, "--verbose", "--no-cloud-read") == 2
    plan_bytes = (workdir / PLAN_FILE).read_bytes()
    assert not plan_bytes.startswith(b"PK")  # not the zip a plain plan is: OpenTofu encrypted it
    old = tmp_path / "old-plan"
    old.mkdir()
    for name in (PLAN_FILE, PLAN_META):
        shutil.copy2(workdir / name, old / name)
    assert cli("apply", stack, "--verbose", "--allow-unread-cloud") == 0
    state = (workdir / "terraform.tfstate").read_text()
    assert "encrypted_data" in state
    assert "BEGIN CERTIFICATE" not in state
    # Replaying the old plan (its review record too, so every hash matches): the state moved on.
    for name in (PLAN_FILE, PLAN_META):
        shutil.copy2(old / name, workdir / name)
    assert cli("apply", stack, "--allow-unread-cloud") == 1
    assert "the saved plan is stale" in outputs[-1]
    assert "run `roachcert plan` again" in outputs[-1]
    assert cli("plan", stack) == 0
    for text in outputs:
        assert PASSPHRASE not in text
    for path in (tmp_path / ".roachcert").rglob("*"):
        if path.is_file() and FOLDER not in path.parts:
            assert PASSPHRASE.encode() not in path.read_bytes(), path
    assert os.environ["TF_ENCRYPTION"] == ENCRYPTION


def test_both_engines_give_the_same_report_but_for_the_engine_line(
    sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    require_engine("tofu")
    stack = write_stack(sandbox, tmp_path)
    assert run(["ca", "ensure", stack]) == 0
    reports: dict[str, dict[str, object]] = {}
    markdown: dict[str, str] = {}
    for engine in ("terraform", "tofu"):
        capsys.readouterr()
        assert run(["plan", stack, "--engine", engine, "--format", "json"]) == 2
        [document] = json.loads(capsys.readouterr().out)["stacks"]
        reports[engine] = document
        assert run(["plan", stack, "--engine", engine, "--format", "markdown"]) == 2
        markdown[engine] = capsys.readouterr().out
    assert str(reports["terraform"]["engine"]).startswith("Terraform v")
    assert reports["tofu"]["engine"] == "OpenTofu v1.11.6 (tofu beside roachcert)"
    assert "OpenTofu v1.11.6 (tofu beside roachcert)" in markdown["tofu"]
    # Each report carries its own engine's words for the plan.
    assert "OpenTofu will perform the following actions" in str(reports["tofu"]["raw_plan"])
    assert "Terraform will perform the following actions" in str(reports["terraform"]["raw_plan"])
    for document in reports.values():
        document.pop("engine")
        document.pop("planned_at")
        document.pop("raw_plan")
    assert reports["terraform"] == reports["tofu"]  # the same changes, warnings and fingerprint
