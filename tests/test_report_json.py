from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import report_cases as rc
from certs_helper import key_pem, new_key
from hash_seeds import outputs
from roachcert.mask import Masker
from roachcert.plan_summary import PlanSummary
from roachcert.reports.json_doc import SCHEMA_VERSION, render_json

SCHEMA_DOC = Path(__file__).resolve().parent.parent / "docs" / "plan-json-schema.md"
GOLDEN_CASES = sorted(name for name in rc.CASES if name != "huge")  # huge is checked by shape, not by bytes


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_json_matches_golden(name: str) -> None:
    rc.check_golden(f"{name}.json", render_json(rc.CASES[name]()))


def test_document_has_schema_version_and_one_entry_per_stack() -> None:
    document = json.loads(render_json(rc.case_multi_stack()))
    assert document["schema_version"] == SCHEMA_VERSION == 1
    assert [stack["stack"] for stack in document["stacks"]] == ["staging", "prod"]
    assert [stack["status"] for stack in document["stacks"]] == ["changes", "no_changes"]


def test_certificates_carry_metadata_and_their_state() -> None:
    stack = json.loads(render_json(rc.case_ca_update()))["stacks"][0]
    bears = next(change for change in stack["changes"] if change["cluster"] == "bouncing-bears")
    states = {cert["cn"]: (cert["state"], cert["source"]) for cert in bears["certificates"]}
    assert states == {
        "Example Co client CA 2026a": ("kept", "client-ca/ca-2026a"),
        "Legacy Partner Root CA": ("added", "legacy-ca/legacy-ca.pem"),
        "Old Contractor CA": ("removed", "contractor-ca/contractor.pem"),
    }
    assert bears["bundle"] == {"before": 2, "after": 2}
    assert all(re.fullmatch(r"[0-9a-f]{64}", cert["sha256"]) for cert in bears["certificates"])
    assert "BEGIN CERTIFICATE" not in json.dumps(stack)


def test_id_change_is_a_replacement_with_both_ids() -> None:
    change = json.loads(render_json(rc.case_id_change()))["stacks"][0]["changes"][0]
    assert (change["action"], change["old_id"], change["new_id"], change["id_changes"]) == (
        "replace",
        "2186fbdb-598c-4797-a463-aaaee865903e",
        rc.NEW_FROGS_ID,
        True,
    )


def test_failed_plan_has_status_error_and_no_fingerprint() -> None:
    stack = json.loads(render_json(rc.case_failed()))["stacks"][0]
    assert stack["status"] == "failed"
    assert stack["fingerprint"] is None
    assert "Unable to find authentication token" in stack["error"]
    assert "Initializing provider plugins" in stack["raw_output"]


def test_huge_stack_lists_every_changed_cluster() -> None:
    stack = json.loads(render_json(rc.case_huge()))["stacks"][0]
    assert stack["counts"] == {
        "create": 10,
        "update": 985,
        "replace": 0,
        "delete": 5,
        "forget": 0,
        "unchanged": 0,
    }
    assert len(stack["changes"]) == 1000


def test_output_is_the_same_under_different_hash_seeds() -> None:
    json_doc, markdown = (
        outputs(
            f"""
            import sys
            import report_cases as rc
            from roachcert.reports.{module} import {function}
            sys.stdout.write({function}(rc.case_ca_update() + rc.case_rotation_shrink()))
            """
        )
        for module, function in (("json_doc", "render_json"), ("markdown", "render_markdown"))
    )
    assert json_doc[0] == json_doc[1]
    assert markdown[0] == markdown[1]


def test_secrets_and_private_keys_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", 'hvs.SECRET"with\\quotes')
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_githubtokengithubtoken")
    key = key_pem(new_key())
    raw = f'token hvs.SECRET"with\\quotes ghs_githubtokengithubtoken\n{key}'
    summary = PlanSummary(error=f"boom {raw}", raw=raw, stack="prod")
    failed = replace(rc.case_failed()[0], summary=summary, raw_plan=raw, engine="ghs_githubtokengithubtoken")
    text = render_json([failed], mask=Masker(os.environ))
    document = json.loads(text)
    assert "ghs_githubtokengithubtoken" not in text
    assert 'hvs.SECRET"with\\quotes' not in json.dumps(document, ensure_ascii=False)
    assert "hvs.SECRET" not in text
    assert "PRIVATE KEY-----" not in text.replace("-----PRIVATE KEY REDACTED-----", "")


def _documented_fields() -> set[str]:
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, re.MULTILINE))


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


def test_every_field_is_documented() -> None:
    documented = _documented_fields()
    used: set[str] = set()
    for name in rc.CASES:
        used |= _keys(json.loads(render_json(rc.CASES[name]())))
    used -= {"before", "after"}  # the two counts of `bundle`, described in its row
    assert used - documented == set()
    assert documented - used == set()
