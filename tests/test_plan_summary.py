"""summarise/format_text over plan JSON the real engine produced (tests/terraform/plan-*.json, made by
tests/terraform/regen_samples.py with the stand-in provider)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from roachcert.plan_summary import PlanSummary, format_text
from roachcert.spec.models import Stack
from roachcert.terraform.engine import Engine
from roachcert.terraform.plan_json import summarise
from roachcert.terraform.runner import Terraform

SAMPLES = Path(__file__).resolve().parent / "terraform"
EMBEDDED = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "roachcert-terraform"
FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"
DINGOS = "5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10"
MOVED = "11111111-2222-4333-8444-555555555555"
NEWBIE = "99999999-8888-4777-8666-555555555555"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"plan-{name}.json").read_text())
    return data


def actions(summary: PlanSummary) -> list[tuple[str, str]]:
    return [(change.cluster, change.action) for change in summary.changes if change.action != "no-op"]


def test_create() -> None:
    summary = summarise(sample("create"))
    assert summary.error is None
    assert actions(summary) == [("dingos", "create"), ("frogs", "create")]
    assert summary.counts["create"] == 2
    assert summary.has_changes
    assert summary.deletions == ()
    frogs = summary.changes[1]
    assert (frogs.old_id, frogs.new_id, frogs.old_pem) == (None, FROGS, None)
    assert frogs.new_pem is not None
    assert frogs.new_pem.count("BEGIN CERTIFICATE") == 2
    text = format_text(summary)
    assert "2 to create" in text
    assert "+ frogs (2186fbdb-598c-4797-a463-aaaee865903e): trust 2 CA certificate(s)" in text
    assert "DELETE" not in text


def test_noop() -> None:
    summary = summarise(sample("noop"))
    assert not summary.has_changes
    assert [change.action for change in summary.changes] == ["no-op", "no-op"]
    assert summary.changes[0].status == "IS_SET"
    assert "No changes" in format_text(summary)


def test_update() -> None:
    summary = summarise(sample("update"))
    [update] = summary.of("update")
    assert (update.cluster, update.old_id, update.new_id) == ("dingos", DINGOS, DINGOS)
    assert update.old_pem != update.new_pem
    assert not update.id_changed_in_place
    assert summary.deletions == ()
    assert (
        "~ dingos (5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10): CA bundle of 1 -> 2 certificate(s)"
        in format_text(summary)
    )


def test_replace_on_id_change() -> None:
    summary = summarise(sample("replace-id"))
    [replace] = summary.of("replace")
    assert (replace.cluster, replace.old_id, replace.new_id) == ("frogs", FROGS, MOVED)
    assert replace.reason == "replace_by_triggers"
    assert summary.deletions == (replace,)
    assert summary.trigger_changes == ("terraform_data.frogs_id",)
    assert summary.counts == {"delete": 0, "replace": 1, "create": 0, "update": 0, "forget": 0, "no-op": 1}
    text = format_text(summary)
    assert text.index("DELETE") < text.index("REPLACE")
    assert f"the CA is deleted from {FROGS}" in text
    assert "clients of frogs can no longer authenticate with certificates" in text


def test_in_place_id_change_is_flagged() -> None:
    summary = summarise(sample("inplace-id"))
    [moved] = summary.in_place_id_changes
    assert (moved.action, moved.old_id, moved.new_id) == ("update", MOVED, FROGS)
    assert "leave the CA set on the old cluster" in format_text(summary)


def test_trigger_only_is_a_change_but_no_cluster_change() -> None:
    summary = summarise(sample("trigger-only"))
    assert summary.has_changes
    assert actions(summary) == []
    assert "Bookkeeping only" in format_text(summary)


def test_mixed_deletions_first() -> None:
    summary = summarise(sample("mixed"))
    assert actions(summary) == [("dingos", "update"), ("frogs", "delete"), ("newbie", "create")]
    [delete] = summary.deletions
    assert (delete.cluster, delete.old_id, delete.new_id) == ("frogs", MOVED, None)
    text = format_text(summary)
    assert text.splitlines()[0].endswith("1 to create, 1 to update, 0 to replace, 1 to delete, 0 to forget")
    assert text.index("DELETE") < text.index("CREATE") < text.index("UPDATE")
    assert "clients of frogs can no longer authenticate with certificates" in text


def test_forget() -> None:
    summary = summarise(sample("forget"))
    assert actions(summary) == [("dingos", "forget")]
    assert summary.deletions == ()
    assert "its CA is left in place" in format_text(summary)


def test_empty_stack() -> None:
    summary = summarise(sample("empty"))
    assert summary.empty_stack
    assert [(c.cluster, c.action) for c in summary.deletions] == [("newbie", "delete")]
    stack = Stack.model_validate({"version": 1, "name": "demo"})
    with_stack = summarise(sample("empty"), stack)
    assert with_stack.empty_stack
    assert with_stack.stack == "demo"
    assert format_text(with_stack).startswith("stack demo:")
    assert "WARNING: the stack declares no clusters" in format_text(with_stack)
    assert not summarise(sample("create")).empty_stack


def test_fingerprint_ignores_volatile_fields_and_order() -> None:
    plan = sample("mixed")
    base = summarise(plan).fingerprint
    moved = copy.deepcopy(plan)
    moved["timestamp"] = "2030-01-01T00:00:00Z"
    moved["terraform_version"] = "9.9.9"
    moved["resource_changes"].reverse()
    assert summarise(moved).fingerprint == base
    other = copy.deepcopy(plan)
    other["resource_changes"][0]["change"]["actions"] = ["no-op"]
    assert summarise(other).fingerprint != base
    assert len({summarise(sample(name)).fingerprint for name in ("create", "update", "mixed", "empty")}) == 4


@pytest.mark.parametrize(
    "plan",
    [
        {
            "resource_changes": [
                {"type": "cockroach_client_ca_cert", "address": "x", "change": {"actions": ["odd"]}}
            ]
        },
        {"resource_changes": [{"type": "cockroach_client_ca_cert", "change": {"actions": ["create"]}}]},
        {"resource_changes": 5},
    ],
)
def test_unreadable_plan_is_data(plan: dict[str, Any]) -> None:
    summary = summarise(plan)
    assert summary.error is not None
    assert summary.raw
    assert "raw plan output" in format_text(summary)


@pytest.mark.skipif(not EMBEDDED.is_file(), reason="the embedded engine is not installed")
@pytest.mark.integration
def test_fingerprint_stable_across_real_plans(tmp_path: Path) -> None:
    folder = tmp_path / ".roachcert" / "demo"
    folder.mkdir(parents=True)
    (folder / "main.tf").write_text('resource "terraform_data" "a" {\n  input = "x"\n}\n')
    tf = Terraform(folder, Engine(EMBEDDED, "ROACHCERT_TERRAFORM"), os.environ)
    tf.init()
    tf.plan("p.tfplan")
    tf.apply("p.tfplan")
    (folder / "main.tf").write_text('resource "terraform_data" "a" {\n  input = "y"\n}\n')
    prints = []
    for _ in range(2):
        assert tf.plan("p.tfplan").returncode == 2
        prints.append(summarise(tf.show_json("p.tfplan")))
    assert prints[0].fingerprint == prints[1].fingerprint
    assert prints[0].other_changes == ("terraform_data.a",)
