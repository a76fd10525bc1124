"""`roachcert certs` against a real OpenBao: delivered and on-disk certificates, which one is on disk,
whether the cluster still trusts the issuer, and the Prometheus textfile gauges."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roachcert.app import run

pytestmark = pytest.mark.integration

GAUGE = re.compile(r"^(roachcert_[a-z_]+)\{([^}]*)\} (-?\d+)$")


@pytest.fixture
def ensured(ensure_stack: Callable[..., Path]) -> Path:
    return ensure_stack(issuers="ca-2026a, ca-2027a")


def listed(stack: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    assert run(["certs", str(stack), "--format", "json", *extra]) == 0
    answer = json.loads(capsys.readouterr().out)
    rows: list[dict[str, object]] = answer["certificates"]
    return rows


def test_certs_lists_delivered_and_on_disk_with_trust(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert listed(ensured, capsys) == []
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    assert run(["issue", str(ensured), "frogs", "root", "--force"]) == 0
    assert run(["issue", str(ensured), "dingos", "app"]) == 0
    capsys.readouterr()
    metrics = tmp_path / "textfile" / "roachcert.prom"
    metrics.parent.mkdir()
    rows = listed(ensured, capsys, "--metrics", str(metrics))
    assert [(r["cluster"], r["user"], r["on_disk"]) for r in rows] == [
        ("dingos", "app", True),
        ("frogs", "root", False),  # replaced by --force
        ("frogs", "root", True),
    ]
    assert {r["issuer"] for r in rows} == {"cockroach_client_ca/ca-2027a"}
    assert all(r["trusted"] is True for r in rows)
    assert len({r["serial"] for r in rows}) == 3
    gauges = [GAUGE.match(line) for line in metrics.read_text().splitlines() if not line.startswith("#")]
    assert all(gauges), metrics.read_text()
    names = [m.group(1) for m in gauges if m]
    assert names.count("roachcert_client_cert_expiry_timestamp_seconds") == 2  # the two on disk
    assert names.count("roachcert_client_cert_soonest_expiry_seconds") == 2  # one per cluster
    soonest = [int(m.group(3)) for m in gauges if m and m.group(1).endswith("soonest_expiry_seconds")]
    assert all(47 * 3600 < s <= 48 * 3600 for s in soonest)
    expiry = [int(m.group(3)) for m in gauges if m and m.group(1).endswith("timestamp_seconds")]
    assert all(e > datetime.now(UTC).timestamp() for e in expiry)
    # The stack stops trusting the issuer that signed them: `certs` says so.
    ensured.write_text(ensured.read_text().replace("[ca-2026a, ca-2027a]", "[ca-2026a]"))
    rows = listed(ensured, capsys)
    assert all(r["trusted"] is False for r in rows)
    assert run(["certs", str(ensured)]) == 0
    text = capsys.readouterr().out
    assert text.count("NOT TRUSTED") == 3
    assert "PRIVATE KEY" not in text


def test_certs_finds_files_the_inventory_lacks(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["issue", str(ensured), "frogs", "app", "--out", "elsewhere/frogs"]) == 0
    (tmp_path / ".roachcert" / "teststack" / "roachcert-delivered.jsonl").unlink()
    capsys.readouterr()
    rows = listed(ensured, capsys, "--out", "elsewhere")
    assert [(r["cluster"], r["user"], r["on_disk"], r["trusted"]) for r in rows] == [
        ("frogs", "app", True, None)
    ]
