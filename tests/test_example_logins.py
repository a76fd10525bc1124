"""The CI example logs in to Vault only where a command needs it, with the shipped policy's role."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_plans_need_no_vault_login_and_apply_logs_in_with_the_plan_policy() -> None:
    text = (REPO / "examples" / "github-actions.yml").read_text()
    jobs = yaml.safe_load(text)["jobs"]
    for name in ("plan-pull-request", "plan"):
        uses = [step.get("uses", "") for step in jobs[name]["steps"]]
        assert not any(use.startswith("hashicorp/vault-action") for use in uses), name
    [login] = [s for s in jobs["apply"]["steps"] if s.get("uses", "").startswith("hashicorp/vault-action")]
    assert login["with"]["method"] == "jwt"
    role = login["with"]["role"]
    assert role == "roachcert-plan"
    assert (REPO / "examples" / "vault" / f"{role}.hcl").is_file()
    assert "COCKROACH_API_KEY" not in str(login)
    assert "CLUSTER_OPERATOR_WRITER" in text
