"""`renew`'s promises against a real OpenBao, through the CLI: a folder that cannot be used is never
"fresh" (re-issued, or named and exit 1), the sweep never deletes the live pair however `current` is
spelled, `--layout` switches a folder and leaves nothing of the old layout, and `--format json` keeps
stdout to the one summary even when `--exec` prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from roachcert.app import run
from roachcert.certs import keys, layouts
from roachcert.certs.layouts import Layout

pytestmark = pytest.mark.integration

SUMMARY_KEYS = {"stack", "renewed", "fresh", "failed", "exec_error", "certificates"}
CERT_KEYS = {"cluster", "user", "folder", "outcome", "not_after", "renew_at", "error"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "renew-json.md"


@pytest.fixture
def ensured(
    ensure_stack: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.postgresql/root.crt unless a test puts one
    stack = ensure_stack(issuers="ca-2026a, ca-2027a")
    assert run(["issue", str(stack), "frogs", "app"]) == 0
    capsys.readouterr()
    return stack


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "certs" / "teststack" / "frogs"


def usable_pair(folder: Path, user: str) -> bytes:
    """The certificate a reader finds, checked to be the key's and to name the user."""
    key = serialization.load_pem_private_key((folder / f"client.{user}.key").read_bytes(), None)
    assert isinstance(key, keys.PrivateKey)
    cert = (folder / f"client.{user}.crt").read_text()
    assert keys.certifies(cert, key)
    return cert.encode()


def renew_json(stack: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    code = run(["renew", str(stack), "frogs", "app", "--format", "json", *extra])
    summary: dict[str, object] = json.loads(capsys.readouterr().out)
    return code, summary


def only(summary: dict[str, object]) -> dict[str, object]:
    certificates = summary["certificates"]
    assert isinstance(certificates, list)
    [entry] = certificates
    assert isinstance(entry, dict)
    return entry


def test_a_key_restored_from_a_backup_is_not_fresh_it_is_reissued(
    ensured: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older_key = (folder / "client.app.key").read_bytes()
    assert run(["issue", str(ensured), "frogs", "app", "--force"]) == 0
    # The restore writes the older key over the name the app reads (a plain file, 0600).
    (folder / "client.app.key").unlink()
    (folder / "client.app.key").write_bytes(older_key)
    (folder / "client.app.key").chmod(0o600)
    capsys.readouterr()
    code, summary = renew_json(ensured, capsys)
    assert code == 0, summary
    entry = only(summary)
    assert entry["outcome"] == "renewed", entry
    assert "unusable: client.app.key is not the key of client.app.crt" in str(entry["reason"])
    # The summary only grew: every field it had is still there, `unusable` and `reason` are new.
    assert set(summary) == SUMMARY_KEYS | {"unusable"}
    assert set(entry) == CERT_KEYS | {"reason"}
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(), re.MULTILINE))
    assert documented == set(summary) | set(entry)
    assert summary["unusable"] == 0
    usable_pair(folder, "app")
    assert (folder / "client.app.key").is_symlink()  # a pair again
    code, summary = renew_json(ensured, capsys)
    assert (code, only(summary)["outcome"], only(summary)["reason"]) == (0, "fresh", None)


def test_a_certificate_whose_issuer_the_stack_dropped_is_reissued_and_certs_agrees(
    ensured: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An emergency rotation: the stack stops trusting ca-2027a (which signed the certificate on disk).
    ensured.write_text(ensured.read_text().replace("[ca-2026a, ca-2027a]", "[ca-2026a]"))
    assert run(["certs", str(ensured), "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["certificates"]
    assert row["unusable"] == "its issuer cockroach_client_ca/ca-2027a is no longer trusted by cluster frogs"
    before = usable_pair(folder, "app")
    assert run(["renew", str(ensured), "frogs", "app"]) == 0
    out = capsys.readouterr().out
    assert "renewed frogs/app (expires" in out
    assert "unusable: its issuer cockroach_client_ca/ca-2027a is no longer trusted by cluster frogs" in out
    assert usable_pair(folder, "app") != before
    assert run(["certs", str(ensured), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["certificates"]
    [on_disk] = [r for r in rows if r["on_disk"]]
    assert (on_disk["issuer"], on_disk["trusted"], on_disk["unusable"]) == (
        "cockroach_client_ca/ca-2026a",
        True,
        None,
    )


def test_a_certificate_of_another_user_is_reissued_or_named_with_exit_1(
    ensured: Path, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["issue", str(ensured), "frogs", "root"]) == 0
    crt = folder / "client.app.crt"
    # A plain copy of root's certificate where app's belongs: roachcert's to replace.
    crt.unlink()
    crt.write_bytes((folder / "client.root.crt").read_bytes())
    capsys.readouterr()
    code, summary = renew_json(ensured, capsys)
    assert code == 0
    assert only(summary)["reason"] == "unusable: client.app.crt is for CN='root', not 'app'"
    usable_pair(folder, "app")
    # A link someone pointed at root's pair: not roachcert's to replace; named, exit 1, untouched.
    crt.unlink()
    crt.symlink_to(".roachcert-pairs/root/current/client.crt")
    metrics = tmp_path / "roachcert.prom"
    assert run(["certs", str(ensured), "--metrics", str(metrics)]) == 0
    listing = capsys.readouterr().out
    assert "frogs/app" in listing
    assert "UNUSABLE: client.app.crt links outside .roachcert-pairs/app" in listing
    assert 'roachcert_client_cert_usable{stack="teststack",cluster="frogs",user="app"' in metrics.read_text()
    assert "} 0\n" in metrics.read_text()
    assert run(["renew", str(ensured), "frogs", "app"]) == 1
    out = capsys.readouterr().out
    assert f"UNUSABLE frogs/app: {folder}: client.app.crt links outside .roachcert-pairs/app" in out
    assert out.rstrip().endswith("0 renewed, 0 fresh, 0 failed, 1 unusable")
    assert os.readlink(crt) == ".roachcert-pairs/root/current/client.crt"
    code, summary = renew_json(ensured, capsys)
    assert (code, summary["unusable"], only(summary)["outcome"]) == (1, 1, "unusable")
    assert str(folder) in str(only(summary)["error"])


def test_an_unusable_folder_that_cannot_be_reissued_fails_naming_it(
    ensured: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = keys.key_pem(keys.new_key("ec", 256))
    (folder / "client.app.key").unlink()
    (folder / "client.app.key").write_text(stranger)
    (folder / "client.app.key").chmod(0o644)  # someone else's: never replaced
    code, summary = renew_json(ensured, capsys)
    entry = only(summary)
    assert (code, entry["outcome"]) == (1, "unusable"), entry
    assert str(entry["error"]).startswith(f"{folder}: client.app.key is not the key of client.app.crt")
    assert "wider than 0600" in str(entry["error"])
    assert (folder / "client.app.key").read_text() == stranger


@pytest.mark.parametrize("spelling", ["absolute", "dot-slash", "trailing-slash"])
def test_the_sweep_keeps_the_live_pair_however_current_is_spelled(
    ensured: Path,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spelling: str,
) -> None:
    pairs = folder / ".roachcert-pairs" / "app"
    current = pairs / "current"
    live = os.readlink(current)
    text = {"absolute": str(pairs / live), "dot-slash": f"./{live}", "trailing-slash": f"{live}/"}[spelling]
    current.unlink()
    current.symlink_to(text)  # what a restore or sync tool writes
    before = usable_pair(folder, "app")
    assert run(["renew", str(ensured), "frogs", "app"]) == 0
    assert "0 renewed, 1 fresh, 0 failed" in capsys.readouterr().out
    assert (pairs / live).is_dir()
    assert usable_pair(folder, "app") == before
    # A re-issue (here a layout switch) while Vault is unreachable: it fails, the pair the app uses stays.
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    assert run(["renew", str(ensured), "frogs", "app", "--layout", "jdbc"]) == 1
    assert "FAILED frogs/app" in capsys.readouterr().out
    assert usable_pair(folder, "app") == before
    assert [p.name for p in pairs.glob("gen-*")] == [live]


@pytest.mark.parametrize("leftover", ["no-current", "loop", "elsewhere"])
def test_the_sweep_removes_no_generation_while_current_is_unclear(
    ensured: Path,
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    leftover: str,
) -> None:
    pairs = folder / ".roachcert-pairs" / "app"
    current = pairs / "current"
    live = pairs / os.readlink(current)
    key_bytes = (live / "client.key").read_bytes()
    current.unlink()
    if leftover == "loop":
        current.symlink_to("current")
    elif leftover == "elsewhere":
        other = tmp_path / "restored-copy"
        shutil.copytree(live, other)
        current.symlink_to(other)
    vault_addr = os.environ["VAULT_ADDR"]
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")  # the re-issue fails: nothing replaces the pair
    assert run(["renew", str(ensured), "frogs", "app"]) == 1
    out = capsys.readouterr().out
    assert (live / "client.key").read_bytes() == key_bytes
    if leftover == "elsewhere":  # our links, through a `current` leading out: re-issued when Vault answers
        assert f"UNUSABLE frogs/app: {folder}: client.app.key links outside .roachcert-pairs/app" in out
        monkeypatch.setenv("VAULT_ADDR", vault_addr)
        assert run(["renew", str(ensured), "frogs", "app"]) == 0
        usable_pair(folder, "app")
        assert not live.exists()  # gone only once `current` resolved to the new generation
        assert (tmp_path / "restored-copy" / "client.key").read_bytes() == key_bytes


def test_layout_switches_as_one_pair_and_leaves_nothing_of_the_old_one(
    ensured: Path, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pk8, server_ca = folder / "client.app.pk8", folder / "ca.crt"
    code, summary = renew_json(ensured, capsys, "--layout", "jdbc")
    assert (code, only(summary)["outcome"], only(summary)["reason"]) == (0, "renewed", "layout libpq -> jdbc")
    from_der = serialization.load_der_private_key(pk8.read_bytes(), None)
    key = serialization.load_pem_private_key((folder / "client.app.key").read_bytes(), None)
    assert isinstance(from_der, keys.PrivateKey)
    assert isinstance(key, keys.PrivateKey)
    assert keys.public_der(from_der) == keys.public_der(key)
    assert layouts.detect(folder, "app") is Layout.jdbc
    # Asked again: nothing to switch, nothing due.
    assert only(renew_json(ensured, capsys, "--layout", "jdbc")[1])["outcome"] == "fresh"
    code, summary = renew_json(ensured, capsys, "--layout", "libpq")
    assert (code, only(summary)["reason"]) == (0, "layout jdbc -> libpq")
    assert not pk8.is_symlink()  # no dangling link for detect to misread
    assert not pk8.exists()
    usable_pair(folder, "app")
    # A plain renew keeps libpq now (it used to switch back to jdbc on the dangling link).
    assert only(renew_json(ensured, capsys)[1])["outcome"] == "fresh"
    assert not pk8.is_symlink()
    # cockroach needs the server CA to copy; without one it is a failure, not a re-issue every run.
    code, summary = renew_json(ensured, capsys, "--layout", "cockroach")
    assert (code, only(summary)["outcome"]) == (1, "failed")
    assert "root.crt does not exist" in str(only(summary)["error"])
    root = tmp_path / "home" / ".postgresql" / "root.crt"
    root.parent.mkdir(parents=True)
    root.write_text("server CA\n")
    code, summary = renew_json(ensured, capsys, "--layout", "cockroach")
    assert (code, only(summary)["reason"]) == (0, "layout libpq -> cockroach")
    assert server_ca.read_text() == "server CA\n"
    code, summary = renew_json(ensured, capsys, "--layout", "libpq")
    assert (code, only(summary)["reason"]) == (0, "layout cockroach -> libpq")
    assert not server_ca.exists()
    assert layouts.detect(folder, "app") is Layout.libpq


def test_json_stdout_is_one_document_when_exec_prints(ensured: Path, tmp_path: Path) -> None:
    command = f"{sys.executable} -c \"print('reloaded app'); import sys; print('warn', file=sys.stderr)\""
    argv = [sys.executable, "-m", "roachcert", "renew", str(ensured), "frogs", "--format", "json"]
    done = subprocess.run(
        [*argv, "--exec", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # root was due (never issued): --exec ran
    assert summary["renewed"] == 1
    assert "reloaded app" in done.stderr
    assert "warn" in done.stderr
    # Text output still shows the command's output where it always did.
    (tmp_path / "certs" / "teststack" / "frogs" / "client.root.crt").unlink()
    done = subprocess.run(
        [*argv[:-2], "--exec", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reloaded app\n")
