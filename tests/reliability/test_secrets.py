"""Secrets after a full walk under TF_LOG=DEBUG: no private key block, Vault token or API key in any file roachcert keeps,
in Terraform's state or plan JSON, in any report, or in anything printed; issued keys are 0600 from the
moment they exist."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import PRIVATE_KEY, Cli, SandboxStack, texts_under

from roachcert.plan_record import PLAN_FILE
from roachcert.spec import load_stack
from roachcert.terraform.for_stack import terraform_for
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


class KeyCreations:
    """Every file whose name holds `.key` that this process opens, with its mode right after the open
    (fstat on the new descriptor) and any later chmod: a key world-readable even for a moment shows."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, int, int]] = []  # (path, flags, mode right after open)
        self.chmods: list[tuple[str, int]] = []

    def watch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_open, real_chmod, real_fchmod = os.open, os.chmod, os.fchmod

        def watched_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, mode, *args, **kwargs)
            name = os.fsdecode(path)
            if ".key" in Path(name).name:
                self.opened.append((name, flags, stat.S_IMODE(os.fstat(fd).st_mode)))
            return fd

        def watched_chmod(path: Any, mode: int, *args: Any, **kwargs: Any) -> None:
            if ".key" in Path(os.fsdecode(path)).name:
                self.chmods.append((os.fsdecode(path), mode))
            real_chmod(path, mode, *args, **kwargs)

        def watched_fchmod(fd: int, mode: int) -> None:
            name = os.readlink(f"/proc/self/fd/{fd}")  # descriptors are reused: ask which file it is
            if ".key" in Path(name).name:
                self.chmods.append((name, mode))
            real_fchmod(fd, mode)

        monkeypatch.setattr(os, "open", watched_open)
        monkeypatch.setattr(os, "chmod", watched_chmod)
        monkeypatch.setattr(os, "fchmod", watched_fchmod)


@pytest.fixture
def no_umask() -> Iterator[None]:
    """With umask 0, only the mode roachcert asks for protects a new key file."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _plan_json(stack_path: Path) -> str:
    """`terraform show -json` of the saved plan, unmasked, as roachcert reads it."""
    stack = load_stack(stack_path)
    tf = terraform_for(stack, os.environ)
    return tf.show_text(tf.workdir / PLAN_FILE)


def test_no_secret_anywhere_after_a_full_walk(
    sandbox: SandboxState,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    no_umask: None,
) -> None:
    stack = SandboxStack(sandbox, tmp_path, name="secrets")
    stack.add_clusters(2)
    path = str(stack.write())
    certs = tmp_path / "certs"
    documents: dict[str, str] = {}  # what roachcert or Terraform produced outside the files scanned
    keys = KeyCreations()
    keys.watch(monkeypatch)
    # The provider dumps every request, `Authorization: Bearer <key>` included, under TF_LOG=DEBUG.
    monkeypatch.setenv("TF_LOG", "DEBUG")

    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, expect=2)
    documents["plan JSON (create)"] = _plan_json(stack.path)
    cli.ok("apply", path)
    issued = cli.ok("issue", path, "c0", "root", "--out", str(certs / "one"))
    key_file = certs / "one" / "client.root.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # stat right after
    assert "postgresql://root@" in issued.out
    cli.ok("issue", path, "--all", "--out", str(certs / "all"), "-j", "4")
    # rotate: a second issuer, ensured, planned (reports to files), applied; every user re-issued
    stack.issuers.append("ca-b")
    stack.write()
    cli.ok("ca", "ensure", path)
    cli.ok("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan.md"), expect=2)
    cli.ok("plan", path, "--format", "json", "--out", str(tmp_path / "plan.json"), expect=2)
    documents["plan JSON (rotation)"] = _plan_json(stack.path)
    cli.ok("apply", path)
    cli.ok("issue", path, "--all", "--out", str(certs / "all"), "--force")
    cli.ok("plan", path)
    cli.ok("status", path)
    cli.ok("status", path, "--format", "json")
    cli.ok("rotate", "status", path)
    cli.ok("connect-url", path, "c1", "app")
    documents["state pull"] = json.dumps(terraform_for(load_stack(stack.path), os.environ).state_pull())

    # -- the key files: created O_EXCL, 0600 from their first moment, never widened ---------------------
    assert keys.opened, "no key file was created"
    for name, flags, mode in keys.opened:
        assert mode == 0o600, f"{name} was {oct(mode)} right after it was created"
        assert flags & os.O_CREAT, f"{name} was not created O_CREAT|O_EXCL"
        assert flags & os.O_EXCL, f"{name} was not created O_CREAT|O_EXCL"
    assert all(mode == 0o600 for _name, mode in keys.chmods), keys.chmods
    issued_keys = sorted(certs.rglob("client.*.key"))
    assert len(issued_keys) == 1 + 4  # c0/root alone, then root and app on both clusters
    for key in issued_keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert PRIVATE_KEY.search(key.read_text())

    # -- zero hits ----------------------------------------------------------------------------------------
    needles = {
        "the Vault token": os.environ["VAULT_TOKEN"],
        "the API key": os.environ["COCKROACH_API_KEY"],
        **{f"a line of {key.name}": key.read_text().splitlines()[1] for key in issued_keys},
    }
    scanned: dict[str, str] = {
        **{str(p): text for p, text in texts_under(tmp_path / ".roachcert")},
        "plan.md": (tmp_path / "plan.md").read_text(),
        "plan.json": (tmp_path / "plan.json").read_text(),
        **documents,
        **{f"output of roachcert {' '.join(o.args)}": o.text for o in cli.outcomes},
    }
    assert any(name.endswith("terraform.tfstate") for name in scanned)
    assert len(cli.outcomes) >= 15
    hits = [
        f"{what} in {where}"
        for where, text in scanned.items()
        for what, needle in [("a private key block", None), *needles.items()]
        if (needle is None and PRIVATE_KEY.search(text)) or (needle is not None and needle in text)
    ]
    assert not hits, hits
    # ...and the walk did meet the header: the provider logged it, roachcert masked it.
    assert any("Authorization: Bearer ***" in text for text in scanned.values())
    # the reports are what a pull request shows: real content, not an empty file that passes
    assert re.search(r"c0|c1", (tmp_path / "plan.md").read_text())
    assert json.loads((tmp_path / "plan.json").read_text())
