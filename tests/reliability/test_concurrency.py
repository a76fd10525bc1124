"""roachcert under concurrency and partial failure: real concurrent processes and real failures on the
sandbox. Each test names the defect it guards against: nothing applied that was not checked, no
half-delivered credentials, no unseen plan saved."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from faultkit import (
    Cli,
    PausedEngine,
    SandboxStack,
    assert_no_partial_files,
    background,
    converge,
    finish,
    only_line,
    running_until,
    wait_for,
)

from roachcert.terraform.workdir import PLAN_META
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


def _applied(cli: Cli, stack: SandboxStack) -> str:
    path = str(stack.write())
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)
    return path


def _pairs_match(folder: Path, users: list[str]) -> None:
    """Every user's key is the private half of the certificate beside it."""
    for user in users:
        key = serialization.load_pem_private_key((folder / f"client.{user}.key").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((folder / f"client.{user}.crt").read_bytes())
        mine = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        theirs = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert mine == theirs, f"{user}: key and certificate come from different issuances"


def _no_leftovers(folder: Path) -> None:
    """Nothing that holds key material outside the current pair: no temporary file, no unswitched
    generation."""
    for slot in (folder / ".roachcert-pairs").glob("*"):
        current = (slot / "current").readlink().name if (slot / "current").is_symlink() else ""
        extra = [p.name for p in slot.iterdir() if p.name not in ("current", current)]
        assert not extra, f"{slot}: left behind {extra}"
    stray = [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not stray, f"temporary files left in {folder}: {stray}"


# 1. apply applies exactly what it checked ------------------------------------------------------------
def test_apply_runs_the_plan_it_checked_although_a_plan_and_a_rewrite_come_in_between(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(2)
    path = _applied(cli, stack)
    stack.issuers.append("ca-b")
    stack.write()
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)  # grows both bundles: the reviewed plan
    engine = PausedEngine.make(tmp_path / "engine", "apply")
    apply = background(stack, "apply", path, env=engine.env)
    leaving = stack.clusters["c1"]
    try:
        wait_for("terraform apply", engine.entered.exists, apply)
        # A plan of an edited stack (a cluster removed: a deletion) cannot replace the checked plan...
        del stack.clusters["c1"]
        stack.write()
        refused = only_line(cli.fails("plan", path, "--lock-timeout", "0s").text)
        assert f"stack {stack.name} is locked by pid {apply.pid}" in refused
        # ...and bytes written over the plan file by hand do not reach Terraform either.
        plan_file = json.loads((stack.workdir / PLAN_META).read_text(encoding="utf-8"))["plan_file"]
        (stack.workdir / plan_file).write_bytes(b"not the reviewed plan")
    finally:
        engine.go()
        code, out, err = finish(apply)
    assert code == 0, out + err
    assert "applied (0 created, 2 updated, 0 replaced, 0 deleted)" in out, out
    # Both clusters now trust both issuers: the checked plan, not a deletion of c1.
    for cluster_id in (stack.clusters["c0"], leaving):
        assert _bundle_size(stack, cluster_id) == 2
    # The edited stack's deletion is planned now, and guarded as ever.
    cli.ok("plan", path, expect=2)
    assert "--allow-destroy" in cli.fails("apply", path).text
    assert _bundle_size(stack, leaving) == 2


def test_a_plan_file_changed_after_plan_is_refused(sandbox: SandboxState, tmp_path: Path, cli: Cli) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    stack.write()
    path = str(stack.path)
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    plan_file = json.loads((stack.workdir / PLAN_META).read_text(encoding="utf-8"))["plan_file"]
    with (stack.workdir / plan_file).open("ab") as handle:
        handle.write(b"\0")
    line = only_line(cli.fails("apply", path).text)
    assert "changed after `roachcert plan` wrote it" in line
    assert stack.statuses() == {"NOT_SET"}


def _bundle_size(stack: SandboxStack, cluster_id: str) -> int:
    return str(stack.cloud(cluster_id).get("x509_pem_cert") or "").count("-----BEGIN CERTIFICATE-----")


# 2. a re-issue that failed does not count as delivered -------------------------------------------------
def test_a_reissue_that_was_not_delivered_keeps_users_on_the_old_issuer(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    path = _applied(cli, stack)
    certs = tmp_path / "certs"
    cli.ok("issue", path, "--all", "--out", str(certs))
    stack.issuers.append("ca-b")
    stack.write()
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    cli.ok("apply", path)
    # Vault issues from ca-b, but the pairs cannot be written: a regular file where their folder goes.
    pairs = certs / "c0" / ".roachcert-pairs"
    moved = certs / "pairs-aside"
    pairs.rename(moved)
    pairs.write_text("in the way\n", encoding="utf-8")
    failed = cli.fails("issue", path, "--all", "--out", str(certs), "--force")
    assert "0 issued, 2 failed" in failed.out, failed.text
    pairs.unlink()
    moved.rename(pairs)
    status = cli.ok("rotate", "status", path).out
    assert "2 user(s)' newest certificate from an old issuer (app, root)" in status, status
    assert "root's last re-issue was not delivered: cannot create the folder" in status, status
    stack.issuers.remove("ca-a")
    stack.write()
    cli.ok("plan", path, expect=2)
    refused = cli.fails("apply", path).text
    assert "refusing to drop issuer" in refused, refused
    assert "c0/root: newest certificate" in refused, refused
    assert "(delivered) comes from " in refused, refused
    _pairs_match(certs / "c0", stack.users)


# 3. concurrent re-issues into one folder keep every pair whole -----------------------------------------
def test_concurrent_reissues_into_one_folder_never_mix_pairs(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    stack = SandboxStack(sandbox, tmp_path, users=6)
    stack.add_clusters(1)
    path = _applied(cli, stack)
    certs = tmp_path / "certs"
    cli.ok("issue", path, "--all", "--out", str(certs))
    runs = [
        background(stack, "issue", path, "--all", "--out", str(certs), "--force", "--lock-timeout", "120s")
        for _ in range(3)
    ]
    results = [finish(run) for run in runs]
    for code, out, err in results:
        assert code == 0, out + err
        assert "Traceback" not in err
    _pairs_match(certs / "c0", stack.users)
    _no_leftovers(certs / "c0")
    assert_no_partial_files(tmp_path)


def test_a_reissue_that_cannot_wait_for_the_folder_names_its_holder(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    stack = SandboxStack(sandbox, tmp_path, users=40)
    stack.add_clusters(1)
    path = _applied(cli, stack)
    certs = tmp_path / "certs"
    first = background(stack, "issue", path, "--all", "--out", str(certs), "-j", "1")
    wait_for("the folder lock", (certs / "c0" / ".roachcert-folder.lock.holder.json").exists, first)
    second = cli.fails("issue", path, "--all", "--out", str(certs), "--force", "--lock-timeout", "0s")
    code, out, err = finish(first)
    assert code == 0, out + err
    line = only_line(second.text)
    assert f"the folder {certs / 'c0'} is locked by pid {first.pid}" in line, line
    _pairs_match(certs / "c0", stack.users)


# 4. interrupted issue: no half-delivered credentials, no key material left in temporary files ----------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_issue_leaves_whole_pairs_and_a_rerun_completes_them(
    sandbox: SandboxState, tmp_path: Path, cli: Cli, signum: signal.Signals
) -> None:
    stack = SandboxStack(sandbox, tmp_path, users=30)
    stack.add_clusters(1)
    path = _applied(cli, stack)
    certs = tmp_path / "certs"
    folder = certs / "c0"
    holder = folder / ".roachcert-folder.lock.holder.json"
    codes = set()
    for moment in range(6):  # a spread of moments: once the run holds the folder, after 0, 3, 6, ... pairs
        force = ["--force"] if moment % 2 else []
        run = background(stack, "issue", path, "--all", "--out", str(certs), "-j", "2", *force)
        before = len(list(folder.glob(".roachcert-pairs/*/current"))) if moment % 2 == 0 else 0
        # Capped at the users there are: earlier runs may have got far before their signal landed.
        wanted = min(before + moment * 3, len(stack.users))
        # Without --force a run after one that got far has little to do and may end before it is seen
        # holding the folder: then it is checked as it ended, unsignalled. A forced run re-issues
        # every user, so it must be seen working.
        seen = running_until("the folder lock", holder.exists, run) and running_until(
            f"{moment * 3} more pairs",
            lambda wanted=wanted: len(list(folder.glob(".roachcert-pairs/*/current"))) >= wanted,
            run,
        )
        assert seen or not force, f"a forced run ended before it was seen working: {finish(run)}"
        if seen:
            run.send_signal(signum)
        code, out, err = finish(run)
        codes.add(code)
        # A signal that lands after the run's last word (its summary) meets the default handler.
        finished = code == -signum and " issued, " in out
        assert code in (0, 1, 128 + signum) or finished, out + err
        if code == 128 + signum:
            assert "roachcert: interrupted" in err, err
        assert "Traceback" not in err
        for key in folder.glob("client.*.key"):
            _pairs_match(folder, [key.name.removeprefix("client.").removesuffix(".key")])
        assert not holder.exists()
        assert_no_partial_files(tmp_path)
    assert 128 + signum in codes, codes
    # Users without a pair get one without --force; those with one are told it exists.
    rerun = cli("issue", path, "--all", "--out", str(certs))
    assert rerun.code in (0, 1), rerun.text
    assert "Traceback" not in rerun.text
    assert "pass --force" not in rerun.text or rerun.code == 1
    _pairs_match(folder, stack.users)
    _no_leftovers(folder)


# 5. the stale-plan check hashes the text that was planned ----------------------------------------------
def test_an_edit_made_while_plan_runs_makes_that_plan_stale(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    path = str(stack.write())
    cli.ok("ca", "ensure", path)
    engine = PausedEngine.make(tmp_path / "engine", "plan")
    plan = background(stack, "plan", path, env=engine.env)
    try:
        wait_for("terraform plan", engine.entered.exists, plan)
        stack.users.append("late")
        stack.write()
    finally:
        engine.go()
        code, out, err = finish(plan)
    assert code == 2, out + err
    line = only_line(cli.fails("apply", path).text)
    assert "the saved plan of rel is stale" in line, line
    assert stack.statuses() == {"NOT_SET"}


# 6. every issuer leaving a bundle is judged, whatever the reason ---------------------------------------
def _swap(stack: SandboxStack, swap: str, folder: Path) -> None:
    text = stack.path.read_text(encoding="utf-8")
    if swap == "mount_changed":
        text = text.replace(f"mount: {stack.mount}", f"mount: {stack.mount}x")
    elif swap == "ca_removed":  # the old CA leaves `cas`; the cluster trusts a new one on another mount
        text = text.replace("  client-ca:\n", "  other-ca:\n", 1).replace(
            f"mount: {stack.mount}", f"mount: {stack.mount}y"
        )
        text = text.replace("ca: client-ca", "ca: other-ca")
    else:  # replaced by a PEM file: no Vault CA is left
        from certs_helper import make_ca

        (folder / "outside.pem").write_text(make_ca("Outside CA")[0], encoding="utf-8")
        text = text.replace("ca: client-ca", "ca: outside")
        text = text.replace("cas:\n", "cas:\n  outside: {pem_file: outside.pem}\n")
    stack.path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("swap", ["ca_removed", "pem_file", "mount_changed"])
def test_swapping_a_clusters_ca_is_refused_while_users_hold_certificates_of_the_old_one(
    sandbox: SandboxState, tmp_path: Path, cli: Cli, swap: str
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    path = _applied(cli, stack)
    cli.ok("issue", path, "--all", "--out", str(tmp_path / "certs"))
    _swap(stack, swap, tmp_path)
    cli.ok("ca", "ensure", path)
    planned = cli.ok("plan", path, expect=2).out
    assert "CA bundle of 1 -> 1 certificate(s): a new root replaces all of them" in planned, planned
    refused = cli.fails("apply", path).text
    assert "refusing to drop issuer" in refused, refused
    for user in stack.users:
        assert f"c0/{user}: newest certificate" in refused, refused
    assert "--allow-early-rotation" in refused
    cli.ok("apply", path, "--allow-early-rotation")


# 7. an interrupted plan saves nothing apply could use --------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_plan_stops_and_saves_no_plan(
    sandbox: SandboxState, tmp_path: Path, cli: Cli, signum: signal.Signals
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    path = str(stack.write())
    cli.ok("ca", "ensure", path)
    engine = PausedEngine.make(tmp_path / "engine", "plan")
    plan = background(stack, "plan", path, env=engine.env)
    wait_for("terraform plan", engine.entered.exists, plan)
    plan.send_signal(signum)
    code, out, err = finish(plan, timeout=30)  # promptly: the engine is never released
    assert code == 128 + signum, out + err
    assert "roachcert: interrupted" in err
    assert not (stack.workdir / PLAN_META).exists()
    assert not (stack.workdir / ".roachcert-lock.holder.json").exists()
    line = only_line(cli.fails("apply", path).text)
    assert "no saved plan for " in line, line
    converge(cli, stack)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_apply_leaves_no_lock_and_a_rerun_converges(
    sandbox: SandboxState, tmp_path: Path, cli: Cli, signum: signal.Signals
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(2)
    path = str(stack.write())
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    engine = PausedEngine.make(tmp_path / "engine", "apply")
    apply = background(stack, "apply", path, env=engine.env)
    wait_for("terraform apply", engine.entered.exists, apply)
    apply.send_signal(signum)
    code, out, err = finish(apply, timeout=30)
    assert code == 128 + signum, out + err
    assert not (stack.workdir / ".roachcert-lock.holder.json").exists()
    assert not list(stack.workdir.glob(".roachcert-apply-*"))
    assert_no_partial_files(tmp_path)
    converge(cli, stack)
