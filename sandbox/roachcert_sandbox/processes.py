"""The sandbox's own server processes: a free local port to start one on, and stopping one by its PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
_VAULT_PREFIXES = ("VAULT_", "BAO_")
# Servers started here, by PID: polling the Popen reaps the child, so a stopped one is not a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


def without_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` less every credential roachcert knows (mask.SECRET_ENV, TF_TOKEN_*, VAULT_*): what a
    sandbox server or a probed binary starts with, as neither needs the caller's Vault token, GitHub
    token or cloud keys."""
    from roachcert.mask import SECRET_ENV, SECRET_ENV_PREFIXES

    return {
        name: value
        for name, value in environ.items()
        if name not in SECRET_ENV and not name.startswith((*SECRET_ENV_PREFIXES, *_VAULT_PREFIXES))
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def adopt(process: subprocess.Popen[bytes]) -> None:
    """Remember a server started here, so `stop_pid` can reap it."""
    _children[process.pid] = process


def start_logged(
    argv: Sequence[str], log_path: Path, *, env: Mapping[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """A server in a session of its own, its output in a new 0600 log (a previous one replaced), and
    remembered for `stop_pid`: a server's log may echo a credential."""
    with contextlib.suppress(FileNotFoundError):
        log_path.unlink()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    adopt(process)
    return process


def stop_pid(pid: int, timeout: float = 5.0, signum: signal.Signals = signal.SIGTERM) -> None:
    """Stop a server started here by its PID: `signum`, then SIGKILL after `timeout`. Gone already is fine."""
    if pid <= 1:  # 0 signals our whole process group, 1 is init: a state file saying so is not a server
        return
    try:
        os.kill(pid, signum)
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
