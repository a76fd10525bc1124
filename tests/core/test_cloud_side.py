"""Change safety on the Cloud side, on the sandbox (real OpenBao, the real engine, the provider, the
emulator under each reading of what the real API leaves open): a CA set by hand is adopted, a PENDING
read never passes for "in sync", and an edit made between plan and apply stops the apply."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from certs_helper import make_ca
from roachcert.app import run
from roachcert.terraform.workdir import PLAN_META
from roachcert_sandbox.manager import SandboxState, register_cluster

pytestmark = pytest.mark.integration

STACK = """\
version: 1
cas:
  declared: {{pem_file: declared.pem}}
clusters:
  frogs: {{id: {cluster_id}, ca: declared, host: frogs.example.crdb.io, users: [root, app]}}
"""


class Cloud:
    """The emulator as curl or the Console would use it, plus its admin knobs."""

    def __init__(self, sandbox: SandboxState) -> None:
        self.url = sandbox.emulator_url
        self.headers = {"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"}

    def set_by_hand(self, cluster_id: str, pem: str, method: str = "POST") -> None:
        response = requests.request(
            method,
            f"{self.url}/api/v1/clusters/{cluster_id}/client-ca-cert",
            json={"x509_pem_cert": pem},
            headers=self.headers,
            timeout=10,
        )
        response.raise_for_status()

    def read(self, cluster_id: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}/api/v1/clusters/{cluster_id}/client-ca-cert", headers=self.headers, timeout=10
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def settle(self, cluster_id: str) -> None:
        deadline = time.monotonic() + 10
        while self.read(cluster_id).get("status") == "PENDING":
            assert time.monotonic() < deadline, "the emulator stayed PENDING"
            time.sleep(0.05)

    def faults(self, **knobs: Any) -> None:
        requests.post(f"{self.url}/_admin/faults", json=knobs, timeout=10).raise_for_status()

    def provider_mutations(self) -> list[str]:
        log = requests.get(f"{self.url}/_admin/requests", timeout=10).json()
        return [entry["method"] for entry in log if entry["method"] in ("POST", "PATCH", "DELETE")]

    def clear_log(self) -> None:
        requests.delete(f"{self.url}/_admin/requests", timeout=10).raise_for_status()


@pytest.fixture
def cloud(sandbox: SandboxState) -> Iterator[Cloud]:
    emulator = Cloud(sandbox)
    yield emulator
    requests.delete(f"{sandbox.emulator_url}/_admin/faults", timeout=10).raise_for_status()
    emulator.faults(pending_seconds=0.2)


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = run(list(args))
        captured = self.capsys.readouterr()
        text = captured.out + captured.err
        assert "Traceback" not in text
        return code, text


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


class Frogs:
    """A stack whose one cluster, frogs, is registered with the emulator and trusts a PEM-file CA
    (declared.pem): the stack file, the cluster's id, the declared PEM, the CLI and the Cloud beside it."""

    def __init__(self, sandbox: SandboxState, tmp_path: Path, cli: Cli, cloud: Cloud) -> None:
        self.cli, self.cloud = cli, cloud
        self.cluster_id = str(uuid.uuid4())
        register_cluster(sandbox, self.cluster_id, "frogs")
        self.declared = make_ca("Declared client CA")[0]
        self.pem_file = tmp_path / "declared.pem"
        self.pem_file.write_text(self.declared, encoding="utf-8")
        self.path = tmp_path / "st.yaml"
        self.path.write_text(STACK.format(cluster_id=self.cluster_id), encoding="utf-8")
        self.workdir = tmp_path / ".roachcert" / "st"

    def __call__(self, command: str, *args: str) -> tuple[int, str]:
        """`roachcert COMMAND st.yaml ARGS`."""
        return self.cli(command, str(self.path), *args)

    def applied(self) -> None:
        """Planned and applied: the cluster trusts the declared bundle."""
        assert self("plan")[0] == 2
        assert self("apply")[0] == 0

    def set_by_hand(self, subject: str = "Set by curl", pem: str = "") -> str:
        """A CA set on the cluster outside roachcert (curl, the Console), settled; its PEM."""
        pem = pem or make_ca(subject)[0]
        self.cloud.set_by_hand(self.cluster_id, pem)
        self.cloud.settle(self.cluster_id)
        return pem

    def declare(self, *pems: str) -> None:
        """The stack's PEM file now holds these certificates."""
        self.pem_file.write_text("\n".join(pems), encoding="utf-8")

    def bundle(self) -> str:
        """What the cluster trusts now, as the Cloud API answers."""
        return str(self.cloud.read(self.cluster_id).get("x509_pem_cert") or "")

    def saved_plan(self) -> bool:
        return (self.workdir / PLAN_META).exists()


@pytest.fixture
def frogs(sandbox: SandboxState, tmp_path: Path, cli: Cli, cloud: Cloud) -> Frogs:
    return Frogs(sandbox, tmp_path, cli, cloud)


@pytest.fixture
def by_hand(frogs: Frogs) -> str:
    """frogs, before roachcert ever applied it, trusts a CA set by curl (CN=Set by curl): its PEM."""
    return frogs.set_by_hand()


# 1. adopt --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("post_when_set", ["accept", "409", "400"])
def test_a_hand_set_ca_is_imported_and_dropping_it_takes_consent(
    frogs: Frogs, cloud: Cloud, post_when_set: str
) -> None:
    cloud.faults(post_when_set=post_when_set)  # however the real API answers a POST over a set CA
    by_hand = frogs.set_by_hand()  # the product doc's procedure, before roachcert
    code, text = frogs("plan")
    assert code == 2, text
    assert "0 to create, 1 to update, 0 to replace, 0 to delete, 0 to forget, 1 to adopt" in text, text
    assert "<= frogs (" in text
    assert "1 certificate(s) it trusts now would no longer be trusted" in text, text
    code, text = frogs("apply")
    assert code == 1, text
    assert "adopting would drop 1 CA certificate(s)" in text, text
    assert "CN=Set by curl" in text, text
    assert "--allow-replace-ca" in text
    assert frogs.bundle().strip() == by_hand.strip()
    cloud.clear_log()
    code, text = frogs("apply", "--allow-replace-ca")
    assert code == 0, text
    assert cloud.provider_mutations() == ["PATCH"]  # imported, then updated: never a POST over it
    assert frogs.bundle().strip() == frogs.declared.strip()
    assert frogs("plan")[0] == 0


def test_a_cluster_that_already_trusts_the_declared_bundle_is_imported_only(
    frogs: Frogs, cloud: Cloud
) -> None:
    frogs.set_by_hand(pem=frogs.declared)
    code, text = frogs("plan")
    assert code == 2, text
    assert "already trusts the declared bundle; import only" in text, text
    cloud.clear_log()
    code, text = frogs("apply")
    assert code == 0, text
    assert cloud.provider_mutations() == []
    assert frogs("plan")[0] == 0


def test_without_cloud_reads_the_plan_shows_a_plain_create(frogs: Frogs, by_hand: str) -> None:
    code, text = frogs("plan", "--no-cloud-read")
    assert code == 2, text
    assert "1 to create" in text
    assert "to adopt" not in text


# 2. PENDING and FAILED ---------------------------------------------------------------------------------
@pytest.mark.parametrize("pending_cert", ["blank", "echo_old"])
def test_a_pending_cluster_stops_the_plan_or_is_waited_for(
    frogs: Frogs, cloud: Cloud, pending_cert: str
) -> None:
    frogs.applied()
    cloud.faults(stuck_pending=True, pending_cert=pending_cert)
    cloud.set_by_hand(frogs.cluster_id, make_ca("Someone else")[0], method="PATCH")
    code, text = frogs("plan")
    assert code == 1, text
    assert "have a client CA change in progress (PENDING)" in text, text
    assert f"  frogs ({frogs.cluster_id}): PENDING" in text
    assert "--wait-pending" in text
    assert not frogs.saved_plan()
    # Waiting: the change settles meanwhile, and the plan is built on what it settled to.
    threading.Timer(1.0, lambda: cloud.faults(stuck_pending=False)).start()
    code, text = frogs("plan", "--wait-pending", "30s")
    assert code == 2, text
    assert "1 to update" in text, text


def test_no_changes_carries_the_status_the_cloud_api_gave_and_invents_none(frogs: Frogs) -> None:
    from roachcert.adapters import real
    from roachcert.planning import PlanOptions, plan_stack

    frogs.applied()
    read = plan_stack(frogs.path, PlanOptions(os.environ, real(os.environ)))
    assert read.returncode == 0
    assert [(c.cluster, c.status) for c in read.summary.changes] == [("frogs", "IS_SET")]
    assert read.cloud["frogs"].status == "IS_SET"
    assert read.cloud["frogs"].cluster_id == frogs.cluster_id
    unread = plan_stack(frogs.path, PlanOptions(os.environ, real(os.environ), cloud_read=False))
    assert unread.returncode == 0
    assert [(c.cluster, c.status) for c in unread.summary.changes] == [("frogs", None)]
    assert unread.cloud == {}


# 3. Cloud-side edits between plan and apply --------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "not_set_fields"), [("PATCH", "present"), ("DELETE", "present"), ("DELETE", "omitted")]
)
def test_an_edit_on_the_cloud_side_after_the_plan_stops_the_apply(
    frogs: Frogs, cloud: Cloud, method: str, not_set_fields: str
) -> None:
    cluster_id = frogs.cluster_id
    cloud.faults(not_set_fields=not_set_fields)  # a NOT_SET read may carry its fields or omit them
    frogs.applied()
    frogs.declare(frogs.declared, make_ca("Second")[0])
    code, text = frogs("plan")
    assert code == 2, text
    fingerprint = json.loads((frogs.workdir / PLAN_META).read_text())["fingerprint"]
    edited = make_ca("Edited in the Console")[0]
    if method == "PATCH":
        cloud.set_by_hand(cluster_id, edited, method="PATCH")
    else:
        requests.delete(
            f"{cloud.url}/api/v1/clusters/{cluster_id}/client-ca-cert", headers=cloud.headers, timeout=10
        ).raise_for_status()
    cloud.settle(cluster_id)
    before = frogs.bundle()
    cloud.clear_log()
    code, text = frogs("apply", "--expect-fingerprint", fingerprint)
    assert code == 1, text
    assert "changed on the Cloud side since the plan was made" in text, text
    assert f"  frogs ({cluster_id}): now " in text
    assert cloud.provider_mutations() == []
    assert frogs.bundle() == before
    # Planned again, the new plan shows what the Console did, and applies.
    frogs.applied()
    assert frogs.bundle().count("BEGIN CERTIFICATE") == 2


# bad answers at plan time ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "refused the API key (HTTP 401)"), (403, "CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER")],
)
def test_a_cloud_api_that_refuses_the_read_stops_the_plan_in_one_line(
    frogs: Frogs, cloud: Cloud, status: int, expected: str
) -> None:
    cloud.faults(fail_next=1, fail_status=status, fail_method="GET")
    code, text = frogs("plan")
    assert code == 1, text
    line = _one_line(text)
    assert f"frogs ({frogs.cluster_id}): cannot read its client CA" in line
    assert expected in line
    assert not frogs.saved_plan()


def test_adopt_imports_into_state_and_writes_nothing_to_the_cluster(frogs: Frogs, cloud: Cloud) -> None:
    by_hand = frogs.set_by_hand("Set in the Console")
    cloud.clear_log()
    code, text = frogs("adopt")
    assert code == 0, text
    assert (
        f"frogs ({frogs.cluster_id}): adopted; trusts 1 certificate(s) now, the stack declares 1" in text
    ), text
    assert "1 cluster(s) adopted; nothing was written to any cluster" in text
    assert cloud.provider_mutations() == []
    assert frogs.bundle().strip() == by_hand.strip()
    # Now tracked: the plan is a plain update (no import), and a second adopt finds nothing to do.
    code, text = frogs("plan")
    assert code == 2, text
    assert "1 to update" in text
    assert "to adopt" not in text
    code, text = frogs("adopt")
    assert code == 0, text
    assert "already in state" in text
    assert "0 cluster(s) adopted" in text
    assert frogs.declared.strip() not in frogs.bundle()


@pytest.mark.parametrize("failed_cert", ["blank", "echo_old"])
def test_a_failed_cluster_is_its_own_state_in_every_report_and_in_status(
    frogs: Frogs, cloud: Cloud, failed_cert: str
) -> None:
    cluster_id = frogs.cluster_id
    frogs.applied()
    frogs.declare(frogs.declared, make_ca("Second")[0])
    assert frogs("plan")[0] == 2
    cloud.faults(end_failed=True, failed_cert=failed_cert)
    code, text = frogs("apply")
    assert code == 1, text
    cloud.settle(cluster_id)
    assert cloud.read(cluster_id)["status"] == "FAILED"
    cloud.faults(end_failed=False)
    code, text = frogs("plan")
    assert code == 2, text
    assert f"~ frogs ({cluster_id}) [status FAILED]" in text, text
    assert (
        "warning: frogs: the last change of the CA failed on the cluster (status FAILED); check the Cloud Console"
        in text
    )
    code, markdown = frogs("plan", "--format", "markdown")
    assert code == 2, markdown
    assert (
        "`frogs`: the last change of the CA failed on the cluster (status FAILED); check the Cloud Console"
        in markdown
    )
    code, document = frogs("plan", "--format", "json")
    assert code == 2, document
    [report] = json.loads(document)["stacks"]
    assert [(a["kind"], a["clusters"]) for a in report["warnings"] if "FAILED" in a["message"]] == [
        ("status", ["frogs"])
    ]
    code, status = frogs("status")
    assert code == 2, status
    assert "FAILED" in status
    assert "plan and apply the stack again" in status
    # What to do works: applying the plan sets the declared bundle again.
    assert frogs("apply")[0] == 0
    assert frogs.bundle().count("BEGIN CERTIFICATE") == 2
    assert frogs("plan")[0] == 0


# 4. guard facts: what plan, adopt, apply and status all know --------------------------------------------
HAND_SET = ".roachcert-hand-set.json"


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_adopt_then_plans_then_apply_asks_the_same_consent_as_a_plan_that_adopts(
    frogs: Frogs, cloud: Cloud, by_hand: str
) -> None:
    code, adopted = frogs("adopt")
    assert code == 0, adopted
    code, status = frogs("status", "--format", "json")
    assert code == 2, status
    [row] = json.loads(status)["clusters"]
    assert [cert["subject"] for cert in row["hand_set"]] == ["CN=Set by curl"]
    # Any number of plans: each is a plain update.
    plans = [frogs("plan") for _ in range(2)]
    assert [code for code, _ in plans] == [2, 2], plans
    code, document = frogs("plan", "--format", "json")
    assert code == 2, document
    cloud.clear_log()
    code, text = frogs("apply")
    assert code == 1, text
    assert "adopting would drop 1 CA certificate(s)" in text, text
    assert "CN=Set by curl" in text
    assert "--allow-replace-ca" in text
    assert cloud.provider_mutations() == []
    assert frogs.bundle().strip() == by_hand.strip()
    # What adopt and each plan said before: dropping it takes consent.
    assert "`apply` drops them only with --allow-replace-ca" in adopted, adopted
    for _, text in plans:
        assert "to adopt" not in text
        assert "set outside roachcert that the stack does not declare (CN=Set by curl)" in text, text
    [report] = json.loads(document)["stacks"]
    warned = [
        (w["kind"], w["severity"], w["clusters"]) for w in report["warnings"] if w["kind"] == "hand_set_ca"
    ]
    assert warned == [("hand_set_ca", "caution", ["frogs"])]
    code, text = frogs("apply", "--allow-replace-ca")
    assert code == 0, text
    assert cloud.provider_mutations() == ["PATCH"]
    assert frogs.bundle().strip() == frogs.declared.strip()
    assert not (frogs.workdir / HAND_SET).exists()  # consent given: the record ends
    assert frogs("plan")[0] == 0


def test_a_stack_that_declares_the_hand_set_ca_ends_the_record(frogs: Frogs, by_hand: str) -> None:
    assert frogs("adopt")[0] == 0
    frogs.declare(frogs.declared, by_hand)
    code, text = frogs("plan")
    assert code == 2, text
    assert "set outside roachcert" not in text, text
    assert not (frogs.workdir / HAND_SET).exists()
    code, text = frogs("apply")
    assert code == 0, text
    assert frogs.bundle().count("BEGIN CERTIFICATE") == 2


def test_removing_an_adopted_cluster_from_the_stack_drops_its_hand_set_ca_only_with_consent(
    frogs: Frogs, by_hand: str
) -> None:
    assert frogs("adopt")[0] == 0
    frogs.path.write_text(
        "version: 1\ncas:\n  declared: {pem_file: declared.pem}\nclusters: {}\n", encoding="utf-8"
    )
    code, text = frogs("plan")
    assert code == 2, text
    assert "1 to delete" in text, text
    code, text = frogs("apply", "--allow-destroy")
    assert code == 1, text
    assert "adopting would drop 1 CA certificate(s)" in text, text
    assert frogs.bundle().strip() == by_hand.strip()
    code, text = frogs("apply", "--allow-destroy", "--allow-replace-ca")
    assert code == 0, text
    assert not (frogs.workdir / HAND_SET).exists()


def test_a_hand_set_record_outlives_a_plan_without_cloud_reads(frogs: Frogs, by_hand: str) -> None:
    assert frogs("adopt")[0] == 0
    assert frogs("plan", "--no-cloud-read")[0] == 2
    code, text = frogs("apply", "--allow-unread-cloud")
    assert code == 1, text
    assert "adopting would drop 1 CA certificate(s)" in text, text
    assert frogs.bundle().strip() == by_hand.strip()


def test_a_plan_without_cloud_reads_says_so_everywhere_and_apply_refuses_it_unless_allowed(
    frogs: Frogs, cloud: Cloud
) -> None:
    code, markdown = frogs("plan", "--no-cloud-read", "--format", "markdown")
    assert code == 2, markdown
    heading = next(line for line in markdown.splitlines() if line.startswith("### "))
    assert heading.endswith("· ⚠️ Cloud not read"), heading
    assert "> **Cloud not read: this plan was made with --no-cloud-read" in markdown, markdown
    code, document = frogs("plan", "--no-cloud-read", "--format", "json")
    assert code == 2, document
    [report] = json.loads(document)["stacks"]
    assert report["cloud_read"] is False
    assert report["warnings"][0]["kind"] == "cloud_not_read"
    assert report["warnings"][0]["message"].startswith("Cloud not read")
    code, text = frogs("plan", "--no-cloud-read")
    assert code == 2, text
    assert text.splitlines()[0].startswith("WARNING: Cloud not read"), text
    cloud.clear_log()
    code, text = frogs("apply")
    assert code == 1, text
    line = _one_line(text)
    assert "plan again without --no-cloud-read" in line, line
    assert "--allow-unread-cloud" in line
    assert cloud.provider_mutations() == []
    code, text = frogs("apply", "--allow-unread-cloud")
    assert code == 0, text
    assert frogs.bundle().strip() == frogs.declared.strip()
    # A plan that reads says nothing of the kind.
    code, document = frogs("plan", "--format", "json")
    assert code == 0, document
    assert json.loads(document)["stacks"][0]["cloud_read"] is True


def test_a_plan_without_cloud_reads_is_never_applied_over_a_hand_set_ca_unseen(
    frogs: Frogs, cloud: Cloud, by_hand: str
) -> None:
    assert frogs("plan", "--no-cloud-read")[0] == 2
    cloud.clear_log()
    code, text = frogs("apply")
    assert code == 1, text
    assert "plan again without --no-cloud-read" in _one_line(text)
    assert cloud.provider_mutations() == []
    assert frogs.bundle().strip() == by_hand.strip()


@pytest.mark.parametrize("command", ["plan", "adopt"])
def test_an_unknown_status_stops_plan_and_adopt_in_one_line(
    frogs: Frogs, cloud: Cloud, by_hand: str, command: str
) -> None:
    cloud.faults(answer_status="RESTORING")
    cloud.clear_log()
    code, text = frogs(command)
    assert code == 1, text
    line = _one_line(text)
    assert (
        f"frogs ({frogs.cluster_id}): the Cloud API answered an unknown client CA status 'RESTORING'" in line
    )
    assert cloud.provider_mutations() == []
    assert not frogs.saved_plan()
    # `status` reads it the same way: that cluster's row is an error, exit 1.
    code, text = frogs("status")
    assert code == 1, text
    assert "unknown client CA status 'RESTORING'" in text, text


def test_an_unknown_status_at_apply_s_re_read_stops_the_apply_in_one_line(frogs: Frogs, cloud: Cloud) -> None:
    assert frogs("plan")[0] == 2
    cloud.faults(answer_status="RESTORING")
    cloud.clear_log()
    code, text = frogs("apply")
    assert code == 1, text
    line = _one_line(text)
    assert (
        f"frogs ({frogs.cluster_id}): the Cloud API answered an unknown client CA status 'RESTORING'" in line
    )
    assert cloud.provider_mutations() == []


# 5. clusters roachcert never set --------------------------------------------------------------------------
SET_BY_US = ".roachcert-set-by-us.json"


def _fail_by_hand(frogs: Frogs) -> None:
    """A CA set by curl, then a change by curl that fails: FAILED, the certificate blank (the API may blank
    it) while the first CA is still in force."""
    frogs.set_by_hand()
    frogs.cloud.faults(end_failed=True, failed_cert="blank")
    frogs.cloud.set_by_hand(frogs.cluster_id, make_ca("Changed by curl")[0], method="PATCH")
    frogs.cloud.settle(frogs.cluster_id)
    frogs.cloud.faults(end_failed=False)
    assert frogs.cloud.read(frogs.cluster_id) == {"status": "FAILED", "x509_pem_cert": ""}


def test_a_failed_blank_cluster_roachcert_never_set_takes_consent_on_every_path(
    frogs: Frogs, cloud: Cloud
) -> None:
    _fail_by_hand(frogs)
    unseen = "the Cloud API answers FAILED with no certificate, and roachcert never set this cluster's CA"
    # adopt: nothing to import, and it says what may be in force.
    code, adopted = frogs("adopt")
    assert code == 0, adopted
    assert f"frogs ({frogs.cluster_id}): nothing to import; {unseen}" in adopted, adopted
    assert "--allow-replace-ca" in adopted
    # Every plan format says it.
    code, text = frogs("plan")
    assert code == 2, text
    assert "1 to create" in text, text
    assert f"warning: frogs: {unseen}" in text, text
    code, markdown = frogs("plan", "--format", "markdown")
    assert code == 2, markdown
    assert f"**Set by hand** `frogs`: {unseen}" in markdown, markdown
    code, document = frogs("plan", "--format", "json")
    assert code == 2, document
    [report] = json.loads(document)["stacks"]
    [warned] = [w for w in report["warnings"] if w["kind"] == "hand_set_ca"]
    assert (warned["severity"], warned["clusters"], warned["users"]) == (
        "caution",
        ["frogs"],
        ["root", "app"],
    )
    assert unseen in warned["message"]
    # status: FAILED, with what may be in force.
    code, status = frogs("status")
    assert code == 2, status
    assert unseen in status, status
    code, status = frogs("status", "--format", "json")
    [row] = json.loads(status)["clusters"]
    assert (row["state"], row["hand_set"][0]["unseen"], row["hand_set"][0]["sha256"]) == ("failed", True, "")
    # apply: refused in one line per cluster, nothing sent; consent sets the declared bundle.
    cloud.clear_log()
    code, text = frogs("apply")
    assert code == 1, text
    assert "1 cluster(s) may trust a CA set outside roachcert that the Cloud API does not show" in text, text
    assert f"  frogs: {unseen}" in text
    # A runner without the plan's hand-set record (CI sharing the state) refuses too: apply's own re-read.
    record = frogs.workdir / HAND_SET
    kept = record.read_bytes()
    record.unlink()
    code, text = frogs("apply")
    assert code == 1, text
    assert f"  frogs: {unseen}" in text
    record.write_bytes(kept)
    assert cloud.provider_mutations() == []
    code, text = frogs("apply", "--allow-replace-ca")
    assert code == 0, text
    assert cloud.provider_mutations() == ["POST"]
    assert frogs.bundle().strip() == frogs.declared.strip()
    assert not record.exists()  # consent given: the record ends
    assert frogs("plan")[0] == 0


def test_roachcert_s_own_failed_first_create_plans_a_plain_retry(frogs: Frogs, cloud: Cloud) -> None:
    assert frogs("plan")[0] == 2
    cloud.faults(end_failed=True, failed_cert="blank")
    code, text = frogs("apply")
    assert code == 1, text
    cloud.settle(frogs.cluster_id)
    cloud.faults(end_failed=False)
    assert cloud.read(frogs.cluster_id) == {"status": "FAILED", "x509_pem_cert": ""}
    # Recorded before Terraform ran: the create was roachcert's, so this is a retry, no consent asked.
    assert frogs.cluster_id in json.loads((frogs.workdir / SET_BY_US).read_text())["clusters"]
    code, adopted = frogs("adopt")
    assert code == 0, adopted
    assert "nothing to import" not in adopted, adopted
    code, text = frogs("plan")
    assert code == 2, text
    assert "1 to create" in text, text
    assert "set outside roachcert" not in text, text
    code, status = frogs("status")
    assert code == 2, status
    assert "the last change failed on the cluster: plan and apply the stack again" in status, status
    code, text = frogs("apply")
    assert code == 0, text
    assert frogs.bundle().strip() == frogs.declared.strip()


def test_status_tells_a_ca_never_set_from_one_removed_out_of_band(frogs: Frogs, cloud: Cloud) -> None:
    cluster_id = frogs.cluster_id
    code, text = frogs("status")
    assert code == 2, text
    assert re.search(rf"frogs +{cluster_id}  not set yet\n", text), text
    assert "removed out of band" not in text
    code, document = frogs("status", "--format", "json")
    [row] = json.loads(document)["clusters"]
    assert (row["state"], row["label"]) == ("not_set_yet", "not set yet")
    assert json.loads(document)["counts"]["not_set_yet"] == 1
    frogs.applied()
    cloud.set_by_hand(cluster_id, "", method="DELETE")  # removed by curl
    cloud.settle(cluster_id)
    code, text = frogs("status")
    assert code == 2, text
    assert re.search(rf"frogs +{cluster_id}  drift: CA removed out of band\n", text), text
    # Without roachcert's record, the local state still says it set the CA.
    record = frogs.workdir / SET_BY_US
    record.unlink()
    assert "drift: CA removed out of band" in frogs("status")[1]
    # And any plan records what state tracks (what a remote backend's status relies on).
    assert frogs("plan")[0] == 2
    assert json.loads(record.read_text())["clusters"] == {cluster_id: "frogs"}
