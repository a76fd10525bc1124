"""The OpenBao sandbox server: healthy, token kept out of argv, log private, stopped by PID."""

from __future__ import annotations

import stat
from pathlib import Path

import hvac
import pytest

from roachcert_sandbox.openbao import RunningOpenBao, find_bao, start_openbao
from roachcert_sandbox.processes import stop_pid

pytestmark = pytest.mark.integration


def test_session_server_is_healthy_and_token_is_not_in_argv(openbao: RunningOpenBao) -> None:
    client = hvac.Client(url=openbao.addr, token=openbao.token)
    assert client.sys.read_health_status(method="GET")["sealed"] is False
    assert openbao.addr.startswith("http://127.0.0.1:")
    cmdline = Path(f"/proc/{openbao.pid}/cmdline").read_bytes().decode()
    assert openbao.token not in cmdline
    assert "-dev-no-store-token" in cmdline
    assert stat.S_IMODE(openbao.log_path.stat().st_mode) == 0o600  # the dev server prints its root token


def test_given_token_start_and_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "the-callers-own-token")  # must not leak into the sandbox
    server = start_openbao(tmp_path, token="chosen-root-token")
    try:
        assert hvac.Client(url=server.addr, token="chosen-root-token").is_authenticated()
        environ = Path(f"/proc/{server.pid}/environ").read_bytes()
        assert b"the-callers-own-token" not in environ
        assert f"HOME={tmp_path / 'home'}".encode() in environ
    finally:
        server.stop()
    assert not Path(f"/proc/{server.pid}").exists()
    assert not (tmp_path / "home" / ".vault-token").exists()
    stop_pid(server.pid)  # stopping twice is fine


def test_find_bao() -> None:
    assert find_bao().name == "bao"
