"""Locks between roachcert processes: one per stack (plan, apply, render, unmanage hold it) and one per
certificate folder (issue holds it while it replaces key/cert pairs there).

The lock is an flock on a file that is never removed (removing it would let two processes lock two
different files). Beside it, a holder record (pid, host, command, start) says who holds it, so a
waiter can name the holder. The kernel drops an flock when its process dies, so a lock never sticks;
a holder record still there when we get the lock was left by a process that died holding it (a
SIGKILL): it is noted and replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from roachcert.errors import RoachcertError
from roachcert.files import open_lock_file, write_atomic
from roachcert.mask import mask

STACK_LOCK = ".roachcert-lock"
FOLDER_LOCK = ".roachcert-folder.lock"
_POLL_SECONDS = 0.05
DEFAULT_TIMEOUT = 5.0  # seconds; the CLI's --lock-timeout default (commands/args.py) says the same


class LockedError(RoachcertError):
    """Another roachcert run holds the lock and did not let go within --lock-timeout."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    command: str
    started: str  # ISO 8601, UTC

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (`{self.command}`, since {self.started})"

    def alive(self) -> bool | None:
        """Whether the holder still runs: None when it ran on another host (we cannot tell)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def current_command() -> str:
    """This process's command line, as a user would recognise it (`roachcert plan stacks/prod.yaml`)."""
    args = [os.path.basename(sys.argv[0]) or "roachcert", *sys.argv[1:]] if sys.argv else ["roachcert"]
    if args[0] in ("__main__.py", "-m", "-c"):
        args[0] = "roachcert"
    # The holder record is a file: a URL's password or a learnt token never gets there. roachcert takes no
    # secret on its command line, so the environment's secrets need not be looked for.
    return mask(" ".join(args), {})[:200]


def record_path(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".holder.json")


def read_holder(lock_file: Path) -> Holder | None:
    try:
        data = json.loads(_read_plain(record_path(lock_file)))
        return Holder(int(data["pid"]), str(data["host"]), str(data["command"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_plain(path: Path) -> str:
    """A regular file's text; a link or a FIFO planted in its place is not read (nor waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return handle.read(64 * 1024).decode("utf-8")


Note = Callable[[str], None]  # where a run's notes go: a command passes its runtime's `err`


def ignore_note(_line: str) -> None:
    """Library use outside a command (a test, a script): there is no run's stderr to say it on."""


@contextlib.contextmanager
def held(
    lock_file: Path,
    what: str,
    timeout: float,
    *,
    command: str | None = None,
    note: Note,
) -> Iterator[Holder]:
    """Hold the lock on `lock_file` for the block, waiting up to `timeout` seconds for another holder.
    `what` names the locked thing in messages ("stack prod", "the folder certs/prod/c0")."""
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LockedError(f"cannot lock {what} ({lock_file}): {exc.strerror or exc}") from None
    fd = open_lock_file(lock_file)
    try:
        _acquire(fd, lock_file, what, timeout)
        try:
            previous = read_holder(lock_file)
            if previous is not None:
                state = "no longer running" if previous.alive() is False else "it did not release it"
                note(f"note: took over the lock of {what} left by {previous.describe()}: {state}")
            me = Holder(
                os.getpid(),
                socket.gethostname(),
                command or current_command(),
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            write_atomic(record_path(lock_file), json.dumps(asdict(me)) + "\n", 0o600)
            yield me
        finally:
            with contextlib.suppress(OSError):
                record_path(lock_file).unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, lock_file: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = read_holder(lock_file)
                who = holder.describe() if holder else "another roachcert run"
                raise LockedError(
                    f"{what} is locked by {who}; waited {timeout:g}s: wait for it to finish, "
                    "or retry with a longer --lock-timeout"
                ) from None
            time.sleep(_POLL_SECONDS)


def stack_lock(
    workdir: Path, stack: str, timeout: float, note: Note
) -> contextlib.AbstractContextManager[Holder]:
    """The per-stack lock, in the stack's working folder (.roachcert/STACK/)."""
    return held(workdir / STACK_LOCK, f"stack {stack}", timeout, note=note)


def folder_lock(folder: Path, timeout: float, note: Note) -> contextlib.AbstractContextManager[Holder]:
    """The per-folder lock of a certificate folder: one run at a time replaces pairs there."""
    return held(folder / FOLDER_LOCK, f"the folder {folder}", timeout, note=note)
