"""SIGINT and SIGTERM, handled alike: the first one sets a flag every worker checks, reaches each running
Terraform (one SIGINT: it stops gracefully, saving its state), and raises `Interrupted` in the main
thread, unless that thread is inside a `deferred()` block (a key/cert pair switch, an inventory
record), which then ends first. The CLI edge turns `Interrupted` into one line and exit 128+signal.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was interrupted by a signal; nothing half-done is left for a later command to use."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0
        # Reentrant: the handler runs in the main thread between any two bytecodes, also while that thread
        # holds the lock (registering a child, forwarding a signal); a plain lock would wait for itself.
        self.lock = threading.RLock()
        self.children: dict[int, subprocess.Popen[str]] = {}
        self.signalled: set[int] = set()
        self.defer_depth = 0
        self.pending = False


_state = _State()


def cancelled() -> bool:
    return _state.event.is_set()


def signum() -> int:
    return _state.signum or int(signal.SIGINT)


def check() -> None:
    """Raise `Interrupted` when a signal came: a worker stops before its next step."""
    if _state.event.is_set():
        raise Interrupted(signum())


def forward(proc: subprocess.Popen[str]) -> None:
    """One SIGINT to a child, never two (a second one makes Terraform quit without saving state)."""
    with _state.lock:
        if proc.pid in _state.signalled or proc.poll() is not None:
            return
        _state.signalled.add(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)


@contextlib.contextmanager
def child(proc: subprocess.Popen[str]) -> Iterator[None]:
    """A running Terraform that a signal must reach (it runs in its own process group)."""
    with _state.lock:
        _state.children[proc.pid] = proc
    if _state.event.is_set():
        forward(proc)
    try:
        yield
    finally:
        with _state.lock:
            _state.children.pop(proc.pid, None)
            _state.signalled.discard(proc.pid)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block the main thread finishes before a signal stops it (it is short and leaves no half state)."""
    _state.defer_depth += 1
    try:
        yield
    finally:
        _state.defer_depth -= 1
        if _state.defer_depth == 0 and _state.pending:
            _state.pending = False
            raise Interrupted(signum())


def _handler(number: int, _frame: FrameType | None) -> None:
    first = not _state.event.is_set()
    if first:
        _state.signum = number
        _state.event.set()
    with _state.lock:
        children = list(_state.children.values())
    for proc in children:
        forward(proc)
    if _state.defer_depth:
        _state.pending = True
        return
    if first:
        raise Interrupted(number)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the handlers for one CLI run (main thread only) and put back the previous ones after.

    A run in another thread changes nothing: signals reach the process (its main thread), and starting
    such a run must not clear the main thread's run's interrupt nor forget the Terraforms it must stop."""
    global _state
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state = _State()
    previous = {number: signal.getsignal(number) for number in _SIGNALS}
    for number in _SIGNALS:
        signal.signal(number, _handler)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _state = _State()  # the next run, in any thread, starts uninterrupted
