"""`renew` against a real OpenBao: only certificates past the threshold change, always as a pair;
--exec runs without a shell; concurrent runs on one folder renew once; bad input is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from roachcert.app import run
from roachcert.certs import keys, renewal
from roachcert.certs.issue import default_out
from roachcert.pem import cert_info
from roachcert.spec import load_stack
from roachcert.vault.adapter import open_vault

pytestmark = pytest.mark.integration


@pytest.fixture
def ensured(ensure_stack: Callable[..., Path]) -> Path:
    return ensure_stack()


def pair(folder: Path, user: str) -> tuple[bytes, bytes]:
    """The key and certificate a reader finds, checked to belong together."""
    key_bytes = (folder / f"client.{user}.key").read_bytes()
    cert_bytes = (folder / f"client.{user}.crt").read_bytes()
    key = serialization.load_pem_private_key(key_bytes, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert keys.certifies(cert_bytes.decode(), key)
    return key_bytes, cert_bytes


def test_renewal_loop_changes_files_only_past_two_thirds(ensured: Path) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    stack = load_stack(ensured)
    folder = default_out(stack, "frogs")
    first = pair(folder, "root")
    issued = cert_info(first[1].decode())
    lifetime = issued.not_after - issued.not_before
    vault = open_vault(stack, os.environ)
    seen: list[str] = []
    for fraction in (0.1, 0.5, 0.66, 0.67, 0.9):
        moment = issued.not_before + lifetime * fraction
        [result] = renewal.renew(
            stack, [("frogs", "root")], lambda _c: folder, vault, now=lambda m=moment: m, environ=os.environ
        )
        seen.append(result.outcome)
        after = pair(folder, "root")
        assert (after == first) == (result.outcome == "fresh")
        first = after
        issued = cert_info(after[1].decode())
        lifetime = issued.not_after - issued.not_before
        if result.outcome == "renewed":
            break
    assert seen == ["fresh", "fresh", "fresh", "renewed"]


def test_before_overrides_the_threshold(ensured: Path) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    stack = load_stack(ensured)
    folder = default_out(stack, "frogs")
    info = cert_info((folder / "client.root.crt").read_text())
    vault = open_vault(stack, os.environ)
    one = [("frogs", "root")]

    def outcome(at: datetime) -> str:
        renewed = renewal.renew(
            stack,
            one,
            lambda _c: folder,
            vault,
            before=timedelta(hours=12),
            now=lambda: at,
            environ=os.environ,
        )
        return renewed[0].outcome

    assert outcome(info.not_after - timedelta(hours=13)) == "fresh"
    assert outcome(info.not_after - timedelta(hours=11)) == "renewed"


def test_cli_renews_the_missing_leaves_the_fresh_and_runs_exec_without_a_shell(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    folder = tmp_path / "certs" / "teststack" / "frogs"
    before = pair(folder, "root")
    capsys.readouterr()
    marker, pwned = tmp_path / "reloaded", tmp_path / "pwned"
    script = (
        "import os, sys; open(sys.argv[1], 'w').write(sys.argv[2] + '|' + os.environ['ROACHCERT_RENEWED'])"
    )
    command = f"{sys.executable} -c \"{script}\" {marker} '$(touch {pwned}); `touch {pwned}`'"
    assert run(["renew", str(ensured), "frogs", "--exec", command, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["renewed"], summary["fresh"], summary["failed"]) == (1, 1, 0)
    outcomes = {c["user"]: c["outcome"] for c in summary["certificates"]}
    assert outcomes == {"root": "fresh", "app": "renewed"}
    assert pair(folder, "root") == before
    pair(folder, "app")
    assert marker.read_text() == f"$(touch {pwned}); `touch {pwned}`|frogs/app"
    assert not pwned.exists()
    # Nothing due: --exec does not run.
    marker.unlink()
    assert run(["renew", str(ensured), "frogs", "--exec", command]) == 0
    assert "0 renewed, 2 fresh, 0 failed" in capsys.readouterr().out
    assert not marker.exists()


def test_concurrent_runs_on_one_folder_renew_once(ensured: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "roachcert", "renew", str(ensured), "--all", "--format", "json"]
    runs = [
        subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
        )
        for _ in range(3)
    ]
    answers = [proc.communicate(timeout=120) for proc in runs]
    assert [proc.returncode for proc in runs] == [0, 0, 0], [err for _out, err in answers]
    summaries = [json.loads(out) for out, _err in answers]
    # frogs/root, frogs/app and dingos/app: each renewed by exactly one of the runs, fresh for the others.
    renewed = Counter(
        (c["cluster"], c["user"]) for s in summaries for c in s["certificates"] if c["outcome"] == "renewed"
    )
    assert renewed == {("frogs", "root"): 1, ("frogs", "app"): 1, ("dingos", "app"): 1}
    assert all(s["fresh"] + s["renewed"] == 3 for s in summaries)
    root = tmp_path / "certs" / "teststack"
    for cluster, user in (("frogs", "root"), ("frogs", "app"), ("dingos", "app")):
        pair(root / cluster, user)
        [generation] = (root / cluster / ".roachcert-pairs" / user).glob("gen-*")
        assert generation.is_dir()


def test_bad_input_is_one_line_and_changes_nothing(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    folder = tmp_path / "certs" / "teststack" / "frogs"
    before = pair(folder, "root")
    capsys.readouterr()
    cases = {
        ("--before", "48h"): "not shorter than role client's max_ttl 48h",
        ("--before", "soon"): "--before: 'soon' is not a duration",
        ("--jitter", "-1"): "--jitter: '-1' is not a duration",
        ("--exec", ""): "--exec is empty",
        ("--exec", "reload 'unclosed"): "No closing quotation",
    }
    for extra, message in cases.items():
        assert run(["renew", str(ensured), "frogs", *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err, err
        assert "\n" not in err, err
    assert run(["renew", str(ensured), "toads"]) == 1
    assert "no cluster 'toads'" in capsys.readouterr().err
    assert pair(folder, "root") == before


def test_an_unknown_layout_or_a_folder_that_cannot_be_written_is_one_line(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["renew", str(ensured), "frogs", "--layout", "pkcs12"]) == 1
    err = capsys.readouterr().err.strip()
    assert "'pkcs12' is not one of 'libpq', 'cockroach', 'jdbc'" in err, err
    assert "Traceback" not in err
    # A path under a regular file (root ignores permission bits, so no chmod would do).
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    for command in (["issue", str(ensured), "frogs", "root"], ["renew", str(ensured), "frogs", "root"]):
        assert run([*command, "--out", str(blocker / "certs")]) == 1
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert "Traceback" not in text
        assert str(blocker) in text, text
        [line] = [line for line in text.splitlines() if str(blocker) in line]
        assert "Not a directory" in line, text
    assert blocker.read_text() == "a file, not a folder\n"
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_key_readable_by_others_is_not_replaced(
    ensured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "certs" / "teststack" / "frogs"
    folder.mkdir(parents=True)
    key = folder / "client.app.key"
    key.write_text("someone's key\n")
    key.chmod(0o644)
    assert run(["renew", str(ensured), "frogs", "app"]) == 1
    out = capsys.readouterr().out
    assert "FAILED frogs/app:" in out
    assert "mode 0644, wider than 0600" in out
    assert key.read_text() == "someone's key\n"


def test_expiry_fields_are_timezone_aware(ensured: Path) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    stack = load_stack(ensured)
    folder = default_out(stack, "frogs")
    [result] = renewal.renew(
        stack, [("frogs", "root")], lambda _c: folder, open_vault(stack, os.environ), environ=os.environ
    )
    assert result.outcome == "fresh"
    assert result.renew_at is not None
    assert result.renew_at > datetime.now(UTC)
