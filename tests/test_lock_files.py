"""Lock files are never followed through a link planted in their place (the stack's, a certificate folder's,
the plugin cache's): the run stops with one line and nothing is created where the link points. `manage`
takes the stack's lock as `unmanage` does."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.adapters import Adapters
from roachcert.app import run
from roachcert.cloud.client import ClientCaStatus
from roachcert.runtime import Runtime
from roachcert.spec import Stack
from roachcert.stack_lock import FOLDER_LOCK, STACK_LOCK, ignore_note, stack_lock
from roachcert.terraform.runner import LOCK_NAME
from roachcert.unmanaged import UNMANAGED_FILE

CLUSTER_ID = "2186fbdb-598c-4797-a463-aaaee865903e"


class FakeVault:
    def __init__(self) -> None:
        self.pem = make_ca("Client CA")[0]

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        return self.pem if (mount, issuer) == ("m1", "ca-a") else None


class FakeCloud:
    server = "https://cloud.fake"

    def get_client_ca(self, cluster_id: str) -> ClientCaStatus:
        return ClientCaStatus("NOT_SET", None)


def _stack(folder: Path) -> Path:
    path = folder / "frogs.yaml"
    path.write_text(
        "version: 1\ncas:\n  client-ca: {mount: m1, common_name: Client CA, issuers: [ca-a]}\n"
        f"clusters:\n  frogs: {{id: {CLUSTER_ID}, ca: client-ca, host: f.example, users: [app]}}\n"
    )
    return path


def _run(home: Path, *argv: str) -> tuple[int, str, str]:
    def open_vault(stack: Stack) -> FakeVault:
        return FakeVault()

    environ = {"ROACHCERT_HOME": str(home), "HOME": str(home), "PATH": os.environ.get("PATH", "")}
    for name in ("ROACHCERT_CACHE", "ROACHCERT_TERRAFORM"):
        if name in os.environ:
            environ[name] = os.environ[name]
    runtime = Runtime(
        environ=environ,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        adapters=Adapters(vault=open_vault, cloud=FakeCloud),
    )
    code = run(list(argv), runtime)
    assert isinstance(runtime.stdout, io.StringIO)
    assert isinstance(runtime.stderr, io.StringIO)
    return code, runtime.stdout.getvalue(), runtime.stderr.getvalue()


def _plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _refused(code: int, err: str, link: Path, target: Path) -> None:
    assert code == 1, err
    assert err.count("\n") == 1, err
    assert err.startswith("roachcert: "), err
    assert str(link) in err
    assert "symbolic link" in err
    assert not target.exists(), "the lock was opened through the planted link"
    assert link.is_symlink()


def test_a_link_in_place_of_the_stack_lock_is_refused_not_followed(tmp_path: Path) -> None:
    home, target = tmp_path / "home", tmp_path / "victim"
    link = home / "frogs" / STACK_LOCK
    _plant(link, target)
    code, _, err = _run(home, "render", str(_stack(tmp_path)))
    _refused(code, err, link, target)


def test_a_link_in_place_of_a_certificate_folders_lock_is_refused_not_followed(tmp_path: Path) -> None:
    home, target, out = tmp_path / "home", tmp_path / "victim", tmp_path / "certs"
    link = out / FOLDER_LOCK
    _plant(link, target)
    code, _, err = _run(home, "issue", str(_stack(tmp_path)), "frogs", "app", "--out", str(out))
    _refused(code, err, link, target)


def test_a_fifo_in_place_of_a_lock_is_refused_without_waiting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lock = home / "frogs" / STACK_LOCK
    lock.parent.mkdir(parents=True)
    os.mkfifo(lock)
    code, _, err = _run(home, "render", str(_stack(tmp_path)))
    assert code == 1
    assert err.count("\n") == 1
    assert f"{lock} is not a regular file" in err


def test_a_link_in_place_of_the_plugin_cache_lock_is_refused_not_followed(tmp_path: Path) -> None:
    if shutil.which("terraform") is None and "ROACHCERT_TERRAFORM" not in os.environ:
        pytest.skip("needs terraform")
    home, target = tmp_path / "home", tmp_path / "victim"
    link = home / "plugin-cache" / LOCK_NAME
    _plant(link, target)
    code, _, err = _run(home, "plan", str(_stack(tmp_path)))
    assert code == 1, err
    assert f"{link} is a symbolic link" in err
    assert not target.exists()


def test_manage_refuses_a_link_in_place_of_the_stack_lock(tmp_path: Path) -> None:
    home, target = tmp_path / "home", tmp_path / "victim"
    link = home / "frogs" / STACK_LOCK
    _plant(link, target)
    code, _, err = _run(home, "manage", str(_stack(tmp_path)), "gone")
    _refused(code, err, link, target)


def test_manage_waits_for_the_stack_lock_then_gives_up_after_lock_timeout(tmp_path: Path) -> None:
    home = tmp_path / "home"
    workdir = home / "frogs"
    workdir.mkdir(parents=True)
    (workdir / UNMANAGED_FILE).write_text('["gone"]\n')
    with stack_lock(workdir, "frogs", 0, ignore_note):
        code, _, err = _run(home, "manage", str(_stack(tmp_path)), "gone", "--lock-timeout", "0.2")
    assert code == 1, err
    assert "stack frogs is locked by" in err
    assert "waited 0.2s" in err
    code, out, err = _run(home, "manage", str(_stack(tmp_path)), "gone", "--lock-timeout", "0.2")
    assert code == 0, err
    assert "gone: no longer unmanaged" in out
