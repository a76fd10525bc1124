"""Every change report golden reached through the real pipeline (the CLI on the sandbox), in every format.

The goldens under tests/golden/pipeline/ are what `plan --format text|markdown|json` printed, with only the
varying parts replaced; UPDATE_GOLDEN=1 rewrites them. Each also proves the raw plan reached the reader."""

from __future__ import annotations

import pytest
from pipeline_kit import Scenario, report, scenario

pytestmark = pytest.mark.integration
__all__ = ["scenario"]  # the fixture, imported for the tests below


def _two(scenario: Scenario) -> None:
    scenario.add("flooping-frogs", users=("root", "app"))
    scenario.add("bouncing-bears", users=("app", "reporting"))


def test_create(scenario: Scenario) -> None:
    _two(scenario)
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    reports = report(scenario, "create")
    assert "2 to create" in reports["text"]


def test_ca_update(scenario: Scenario) -> None:
    _two(scenario)
    scenario.converge()
    scenario.clusters["bouncing-bears"].cas = ("client-ca", "legacy-ca")
    reports = report(scenario, "ca_update")
    assert "Legacy Partner Root CA" in reports["markdown"]


def test_delete(scenario: Scenario) -> None:
    _two(scenario)
    scenario.add("crafty-cranes", users=("etl",))
    scenario.converge()
    del scenario.clusters["crafty-cranes"]
    reports = report(scenario, "delete")
    assert "crafty-cranes" in reports["markdown"]


def test_id_change(scenario: Scenario) -> None:
    scenario.add("flooping-frogs", users=("root", "app"))
    scenario.converge()
    moved = scenario.add("moved-frogs")
    scenario.clusters["flooping-frogs"].cluster_id = moved
    del scenario.clusters["moved-frogs"]
    report(scenario, "id_change")


def test_rotation_grow(scenario: Scenario) -> None:
    _two(scenario)
    scenario.converge()
    scenario.issuers.append("ca-2026b")
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    reports = report(scenario, "rotation_grow")
    assert "2 to update" in reports["text"]


def test_rotation_shrink(scenario: Scenario) -> None:
    _two(scenario)
    scenario.issuers.append("ca-2026b")
    scenario.converge()
    scenario.issuers.remove("ca-2026a")
    report(scenario, "rotation_shrink")


def test_empty_stack(scenario: Scenario) -> None:
    _two(scenario)
    scenario.converge()
    scenario.clusters.clear()
    reports = report(scenario, "empty_stack")
    assert "2 to delete" in reports["text"]


def test_no_op(scenario: Scenario) -> None:
    _two(scenario)
    scenario.converge()
    report(scenario, "no_op", expect=0)
