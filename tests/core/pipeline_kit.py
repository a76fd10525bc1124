"""Report goldens reached through the real pipeline: a stack on the sandbox (real OpenBao, the engine, the
stand-in provider, the emulator) planned through the CLI in every format, compared with a golden after
replacing only what varies between runs (times, ports, ids, fingerprints, serials, PEM bodies, paths)."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

import report_cases as rc
from certs_helper import make_ca
from roachcert.app import run
from roachcert_sandbox.manager import SandboxState, register_cluster

FORMATS = ("text", "markdown", "json")
SUFFIX = {"text": "txt", "markdown": "md", "json": "json"}
RAW_WORDS = ("Terraform will perform the following actions", "OpenTofu will perform the following actions")

_VARYING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S), "<PEM>"),
    # A PEM body as Terraform prints it inside a heredoc or a JSON string (escaped newlines).
    (re.compile(r"(?m)^(\s*)[A-Za-z0-9+/]{40,}={0,2}$"), r"\1<base64>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\bpki_[0-9a-f]{8}\b"), "<mount>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"\b[0-9a-f]{16,63}\b"), "<hex>"),
    (re.compile(r"\b(?:[0-9a-f]{2}:){7,}[0-9a-f]{2}\b"), "<serial>"),
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}| UTC)?"),
        "<time>",
    ),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"in \d+ days?"), "in <n> days"),
)


_TABLE_ROW = re.compile(r"(?m)^(?:stack {2,}result|<tmp>\S* {2,}).*$")
_REFRESHES = re.compile(r"(?m)(?:^.*: Refreshing state\.\.\..*\n)+")


def _steady(text: str) -> str:
    """The engine refreshes resources in parallel: its "Refreshing state..." lines come in any order."""
    return _REFRESHES.sub(lambda found: "".join(sorted(found.group(0).splitlines(keepends=True))), text)


def normalise(text: str, tmp_path: Path) -> str:
    if text.startswith("{"):
        document = json.loads(text)
        for stack in document["stacks"]:
            for key in ("raw_plan", "raw_output"):
                if stack.get(key):
                    stack[key] = _steady(stack[key])
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    text = _steady(text).replace(str(tmp_path), "<tmp>")
    for pattern, placeholder in _VARYING:
        text = pattern.sub(placeholder, text)
    # The multi-stack summary's columns are as wide as the (temporary) paths in them.
    return _TABLE_ROW.sub(lambda row: re.sub(" {2,}", " ", row.group(0)), text)


STACK_HEAD = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Example Co client CA
    ttl: 8760h
    issuers: [{issuers}]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
  legacy-ca:
    pem_file: legacy-ca.pem
"""


@dataclass
class Cluster:
    cluster_id: str
    cas: tuple[str, ...] = ("client-ca",)
    users: tuple[str, ...] = ("app",)


@dataclass
class Scenario:
    """One stack file on the sandbox, written from what the test declares, and the CLI as a user runs it."""

    sandbox: SandboxState
    tmp_path: Path
    capsys: pytest.CaptureFixture[str]
    name: str = "prod"
    issuers: list[str] = field(default_factory=lambda: ["ca-2026a"])
    clusters: dict[str, Cluster] = field(default_factory=dict)
    mount: str = field(default_factory=lambda: f"pki_{uuid.uuid4().hex[:8]}")

    def __post_init__(self) -> None:
        legacy = self.tmp_path / "legacy-ca.pem"
        if not legacy.exists():
            legacy.write_text(make_ca("Legacy Partner Root CA")[0], encoding="utf-8")

    @property
    def path(self) -> Path:
        return self.tmp_path / f"{self.name}.yaml"

    def add(
        self, name: str, *, cas: tuple[str, ...] = ("client-ca",), users: tuple[str, ...] = ("app",)
    ) -> str:
        cluster_id = str(uuid.uuid4())
        register_cluster(self.sandbox, cluster_id, name)
        self.clusters[name] = Cluster(cluster_id, cas, users)
        return cluster_id

    def write(self) -> None:
        text = STACK_HEAD.format(mount=self.mount, issuers=", ".join(self.issuers))
        if not self.clusters:
            text += "clusters: {}\n"
        else:
            text += "clusters:\n"
            for name, cluster in self.clusters.items():
                ca = cluster.cas[0] if len(cluster.cas) == 1 else f"[{', '.join(cluster.cas)}]"
                text += (
                    f"  {name}:\n    id: {cluster.cluster_id}\n    ca: {ca}\n"
                    f"    host: {name}.example.crdb.io\n    users: [{', '.join(cluster.users)}]\n"
                )
        self.path.write_text(text, encoding="utf-8")

    def cli(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(list(args))
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return code, captured.out, captured.err

    def ok(self, *args: str) -> None:
        code, out, err = self.cli(*args)
        assert code == 0, out + err

    def converge(self) -> None:
        """ca ensure, plan and apply: the cluster side now holds what the stack declares."""
        self.write()
        self.ok("ca", "ensure", str(self.path))
        code, out, err = self.cli("plan", str(self.path))
        assert code in (0, 2), out + err
        if code == 2:
            self.ok("apply", str(self.path), "--allow-destroy")

    def cloud(self, cluster_id: str, *, method: str = "GET", pem: str | None = None) -> dict[str, Any]:
        response = requests.request(
            method,
            f"{self.sandbox.emulator_url}/api/v1/clusters/{cluster_id}/client-ca-cert",
            json=None if pem is None else {"x509_pem_cert": pem},
            headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
            timeout=10,
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json() if response.text.strip() else {}
        return data

    def faults(self, **knobs: Any) -> None:
        requests.post(f"{self.sandbox.emulator_url}/_admin/faults", json=knobs, timeout=10).raise_for_status()

    def workdir(self, name: str | None = None) -> Path:
        return self.tmp_path / ".roachcert" / (name or self.name)


@pytest.fixture
def scenario(sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Scenario]:
    made = Scenario(sandbox, tmp_path, capsys)
    yield made
    requests.delete(f"{sandbox.emulator_url}/_admin/faults", timeout=10).raise_for_status()
    made.faults(pending_seconds=0.2)


def plan_reports(targets: list[str], scenario: Scenario, expect: int, *extra: str) -> dict[str, str]:
    """`plan --format F EXTRA` for each format, as a user runs it: every run exits `expect`. Give
    `--full` where each run must be Terraform's (a no-change plan is otherwise answered by the fast path
    from the second run on)."""
    reports: dict[str, str] = {}
    for chosen in FORMATS:
        code, out, err = scenario.cli("plan", *targets, "--format", chosen, *extra)
        assert code == expect, f"plan --format {chosen}: exit {code}\n{out}{err}"
        reports[chosen] = out
    return reports


def check_raw_plan(reports: dict[str, str], workdirs: list[Path]) -> None:
    """Every plan that ran shows Terraform's own words: in the plan log, the markdown and the JSON."""
    document = json.loads(reports["json"])
    planned = [stack for stack in document["stacks"] if stack["status"] != "failed"]
    if planned:
        assert "<summary>Terraform plan output" in reports["markdown"], "markdown lost the raw plan"
    for stack, workdir in zip(document["stacks"], workdirs, strict=True):
        if stack["status"] == "failed":
            continue
        log = (workdir / "roachcert-plan.log").read_text(encoding="utf-8")
        raw = stack["raw_plan"]
        assert raw, f"{stack['stack']}: the JSON report has no raw plan"
        assert raw in log, f"{stack['stack']}: the plan log does not hold the reported plan"
        if stack["status"] == "changes":
            assert any(words in raw for words in RAW_WORDS), raw
            assert any(words in reports["markdown"] for words in RAW_WORDS), "markdown lost the raw plan"


def check_goldens(name: str, reports: dict[str, str], tmp_path: Path) -> None:
    for chosen, text in reports.items():
        rc.check_golden(f"pipeline/{name}.{SUFFIX[chosen]}", normalise(text, tmp_path))


def report(scenario: Scenario, golden: str, expect: int = 2) -> dict[str, str]:
    """Write the stack, plan it in every format, check the raw plan reached the reader and the goldens."""
    scenario.write()
    reports = plan_reports([str(scenario.path)], scenario, expect, "--full")
    check_raw_plan(reports, [scenario.workdir()])
    check_goldens(golden, reports, scenario.tmp_path)
    return reports
