"""The shipped renew examples (systemd, Kubernetes) use only options `renew` has, and no secrets in argv."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from roachcert.app import run
from roachcert.spec import JwtAuth
from roachcert.vault import logins

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def renew_options(capsys: pytest.CaptureFixture[str]) -> set[str]:
    assert run(["renew", "--help"]) == 0
    return set(re.findall(r"--[a-z][a-z-]+", capsys.readouterr().out))


def test_systemd_unit_runs_renew_with_known_options(capsys: pytest.CaptureFixture[str]) -> None:
    unit = (EXAMPLES / "systemd" / "roachcert-renew.service").read_text().replace("\\\n", " ")
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    assert exec_start is not None
    argv = shlex.split(exec_start.group(1))
    assert argv[1] == "renew"
    assert {a for a in argv if a.startswith("--")} <= renew_options(capsys)
    assert "EnvironmentFile=" in unit
    assert not any("TOKEN" in a for a in argv)
    timer = (EXAMPLES / "systemd" / "roachcert-renew.timer").read_text()
    assert "OnUnitActiveSec=" in timer


def test_cronjob_runs_renew_with_known_options(capsys: pytest.CaptureFixture[str]) -> None:
    job = yaml.safe_load((EXAMPLES / "kubernetes" / "roachcert-renew-cronjob.yaml").read_text())
    assert job["kind"] == "CronJob"
    [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "renew"
    assert {a for a in args if a.startswith("--")} <= renew_options(capsys)
    assert not any("TOKEN" in a for a in args)


def test_cronjob_logs_in_with_its_service_account_token_and_stores_no_vault_secret() -> None:
    job = yaml.safe_load((EXAMPLES / "kubernetes" / "roachcert-renew-cronjob.yaml").read_text())
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert "envFrom" not in container
    env = {item["name"]: item["value"] for item in container["env"]}
    assert not {"VAULT_TOKEN", "VAULT_SECRET_ID", "VAULT_ROLE_ID"} & set(env)
    auth = logins.auth_from_env(env)
    assert isinstance(auth, JwtAuth)
    assert auth.token_file is not None
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    projected = volumes[mounts[str(auth.token_file.parent)]]["projected"]["sources"]
    [token] = [source["serviceAccountToken"] for source in projected]
    assert token["path"] == auth.token_file.name
    assert token["audience"] == "vault"
    assert token["expirationSeconds"] <= 3600
    assert (
        f"bound_audiences={token['audience']}"
        in (EXAMPLES / "kubernetes" / "roachcert-renew-cronjob.yaml").read_text()
    )
    account = yaml.safe_load((EXAMPLES / "kubernetes" / "roachcert-serviceaccount.yaml").read_text())
    assert account["kind"] == "ServiceAccount"
    assert pod["serviceAccountName"] == account["metadata"]["name"]
