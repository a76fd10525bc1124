"""Report goldens of what the Cloud side adds, reached through the real pipeline in every format: adoption,
PENDING, FAILED, an edit in the Console, a failed plan, several stacks at once, and the size-limited report."""

from __future__ import annotations

import json
import re
import time

import pytest
from pipeline_kit import Scenario, check_goldens, check_raw_plan, normalise, plan_reports, report, scenario

from certs_helper import make_ca
from report_cases import check_golden
from roachcert.github import COMMENT_LIMIT

pytestmark = pytest.mark.integration
__all__ = ["scenario"]  # the fixture, imported for the tests below


_RAW_HEAD = re.compile(
    r"<details><summary>Terraform plan output: the first [\d,]+ of [\d,]+ characters</summary>\n\n```text\n"
    r"(?P<head>.*?)\n```\n\n</details>",
    re.S,
)
_LOST = re.compile(r"lost [\d,]+ characters")


def _settle(scenario: Scenario, cluster_id: str) -> None:
    deadline = time.monotonic() + 10
    while scenario.cloud(cluster_id).get("status") == "PENDING":
        assert time.monotonic() < deadline, "the emulator stayed PENDING"
        time.sleep(0.05)


def test_adopted(scenario: Scenario) -> None:
    frogs = scenario.add("flooping-frogs", users=("root", "app"))
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    scenario.cloud(frogs, method="POST", pem=make_ca("Set by curl")[0])
    _settle(scenario, frogs)
    reports = report(scenario, "adopted")
    # The saved plan is the second run's: the report says so rather than show the first run's text.
    assert "Terraform plan output (the second plan, after adopting flooping-frogs)" in reports["markdown"]
    assert json.loads(reports["json"])["stacks"][0]["raw_plan_from"] == (
        "the second plan, after adopting flooping-frogs"
    )


def test_cloud_pending(scenario: Scenario) -> None:
    frogs = scenario.add("flooping-frogs")
    bears = scenario.add("bouncing-bears")
    scenario.converge()
    scenario.faults(stuck_pending=True)
    for cluster_id in (frogs, bears):
        scenario.cloud(cluster_id, method="PATCH", pem=make_ca("Someone else")[0])
    reports = report(scenario, "cloud_pending", expect=1)
    assert "PENDING" in reports["markdown"]


def test_cloud_failed(scenario: Scenario) -> None:
    scenario.add("bouncing-bears", users=("app", "reporting"))
    cranes = scenario.add("crafty-cranes", users=("etl",), cas=("legacy-ca",))
    scenario.converge()
    scenario.clusters["crafty-cranes"].cas = ("client-ca",)
    scenario.write()
    code, out, err = scenario.cli("plan", str(scenario.path))
    assert code == 2, out + err
    scenario.faults(end_failed=True)
    code, out, err = scenario.cli("apply", str(scenario.path), "--allow-replace-ca")
    assert code == 1, out + err
    _settle(scenario, cranes)
    scenario.faults(end_failed=False)
    reports = report(scenario, "cloud_failed")
    assert "status FAILED" in reports["text"]


def test_cloud_changed(scenario: Scenario) -> None:
    cranes = scenario.add("crafty-cranes", users=("etl",), cas=("legacy-ca",))
    scenario.converge()
    scenario.cloud(cranes, method="PATCH", pem=make_ca("Edited in the Console")[0])
    _settle(scenario, cranes)
    reports = report(scenario, "cloud_changed")
    assert "changed outside Terraform" in reports["markdown"]


def test_failed(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario.add("flooping-frogs")
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    monkeypatch.setenv("COCKROACH_API_KEY", "a-key-the-api-refuses")
    reports = report(scenario, "failed", expect=1)
    assert "a-key-the-api-refuses" not in "".join(reports.values())


def test_multi_stack(scenario: Scenario) -> None:
    folder = scenario.tmp_path / "stacks"
    folder.mkdir()
    scenario.add("flooping-frogs")
    scenario.converge()
    (folder / "prod.yaml").write_text(scenario.path.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "legacy-ca.pem").write_text(
        (scenario.tmp_path / "legacy-ca.pem").read_text(encoding="utf-8"), encoding="utf-8"
    )
    # prod's Terraform folder is the one converged above: the same stack name, the same working folder.
    staging = Scenario(
        scenario.sandbox, scenario.tmp_path, scenario.capsys, name="staging", mount=scenario.mount
    )
    staging.add("bouncing-bears")
    staging.write()
    (folder / "staging.yaml").write_text(staging.path.read_text(encoding="utf-8"), encoding="utf-8")
    reports = plan_reports([str(folder)], scenario, 2, "--full")
    check_raw_plan(reports, [scenario.workdir("prod"), scenario.workdir("staging")])
    check_goldens("multi_stack", reports, scenario.tmp_path)


def test_huge_report_fits_the_comment_limit(scenario: Scenario) -> None:
    for number in range(120):
        scenario.add(f"cluster-{number:03d}")
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    code, markdown, err = scenario.cli("plan", str(scenario.path), "--format", "markdown")
    assert code == 2, markdown + err
    assert len(markdown) <= COMMENT_LIMIT
    assert "Shortened to fit GitHub's" in markdown
    log = (scenario.workdir() / "roachcert-plan.log").read_text(encoding="utf-8")
    assert len(log) > COMMENT_LIMIT  # the whole plan stays in the log the report points to
    # How much raw plan fits depends on the length of the paths the report names: its head must be the
    # log's, and the golden holds the rest of the report.
    found = _RAW_HEAD.search(markdown)
    assert found is not None, markdown[-2000:]
    assert log.lstrip("\n").startswith(found.group("head").removesuffix("\n…").lstrip("\n"))
    shape = _RAW_HEAD.sub(
        "<details><summary>Terraform plan output: the first <n> characters</summary>\n<raw plan head>\n</details>",
        markdown,
    )
    check_golden("pipeline/huge.md", normalise(_LOST.sub("lost <n> characters", shape), scenario.tmp_path))


def test_cloud_not_read(scenario: Scenario) -> None:
    scenario.add("flooping-frogs", users=("root", "app"))
    scenario.add("bouncing-bears", cas=("client-ca", "legacy-ca"))
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    reports = plan_reports([str(scenario.path), "--no-cloud-read"], scenario, 2)
    check_raw_plan(reports, [scenario.workdir()])
    check_goldens("cloud_not_read", reports, scenario.tmp_path)
    assert reports["text"].startswith("WARNING: Cloud not read")
    assert json.loads(reports["json"])["stacks"][0]["cloud_read"] is False


def test_hand_set(scenario: Scenario) -> None:
    cranes = scenario.add("crafty-cranes", users=("etl",))
    scenario.write()
    scenario.ok("ca", "ensure", str(scenario.path))
    scenario.cloud(
        cranes, method="POST", pem=(scenario.tmp_path / "legacy-ca.pem").read_text(encoding="utf-8")
    )
    _settle(scenario, cranes)
    scenario.ok("adopt", str(scenario.path))  # in state now: the plan is a plain update that drops it
    reports = report(scenario, "hand_set")
    assert "Set by hand" in reports["markdown"]
