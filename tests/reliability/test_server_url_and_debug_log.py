"""Two things the real provider does that roachcert must absorb: it joins COCKROACH_SERVER verbatim (a
trailing slash sends `//api/...`), and under TF_LOG=DEBUG it logs `Authorization: Bearer <key>`.
Both run on whichever provider the sandbox has (the real one when installed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from faultkit import Cli, SandboxStack, clear_requests, emulator_requests, texts_under

from roachcert.plan_record import PLAN_FILE
from roachcert.spec import load_stack
from roachcert.terraform.for_stack import terraform_for
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


def test_a_trailing_slash_on_cockroach_server_still_plans_no_changes(
    sandbox: SandboxState, one_cluster: SandboxStack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(one_cluster.path)
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)
    monkeypatch.setenv("COCKROACH_SERVER", sandbox.emulator_url + "//")
    clear_requests(sandbox)
    done = cli.ok("plan", path)  # not exit 2 with every cluster planned as a create
    assert "0 to create" in done.out
    cli.ok("status", path)
    paths = [entry["path"] for entry in emulator_requests(sandbox)]
    assert paths
    assert all(p.startswith("/api/") for p in paths), paths


def test_tf_log_debug_never_puts_the_api_key_in_output_logs_plans_or_state(
    sandbox: SandboxState,
    one_cluster: SandboxStack,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TF_LOG", "DEBUG")
    path = str(one_cluster.path)
    cli.ok("plan", path, expect=2)
    cli.ok("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan.md"), expect=2)
    cli.ok("plan", path, "--format", "json", "--out", str(tmp_path / "plan.json"), expect=2)
    stack = load_stack(one_cluster.path)
    plan_json = terraform_for(stack, os.environ).show_text(one_cluster.workdir / PLAN_FILE)
    cli.ok("apply", path)
    cli.ok("plan", path)
    cli.ok("status", path)
    state = json.dumps(terraform_for(stack, os.environ).state_pull())
    key = os.environ["COCKROACH_API_KEY"]
    assert key not in plan_json
    assert key not in state
    for outcome in cli.outcomes:
        assert key not in outcome.text, f"roachcert {' '.join(outcome.args)} printed the API key"
    for file, text in texts_under(tmp_path):
        assert key not in text, f"{file} holds the API key"
    # The provider did log its requests, header and all (as the real one does), and roachcert masked
    # the key: without the dump this test would pass without ever meeting the header.
    seen = "\n".join([o.text for o in cli.outcomes] + [text for _, text in texts_under(tmp_path)])
    assert "Authorization: Bearer ***" in seen
