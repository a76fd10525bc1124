"""Progress on stderr for long, parallel work: a live line per item on a terminal, plain lines otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from roachcert.mask import Sink

StepProgress = Callable[[str], None]  # told each step of one stack's plan or apply


class Progress:
    def __init__(self, total: int, verb: str, stream: Sink) -> None:
        """`stream`: where the lines go (the run's stderr)."""
        self.total = total
        self.verb = verb
        self.finished = 0
        self._stream: Sink = stream
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._tty = self._stream.isatty()
        self._quiet = total <= 1 and not self._tty

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tty and self.total:
            self._stream.write("\r\033[K")
            self._stream.flush()

    def step(self, item: str, what: str) -> None:
        if self._tty:
            with self._lock:
                self._stream.write(f"\r\033[K[{self.finished}/{self.total}] {item}: {what}")
                self._stream.flush()

    def done(self, item: str, outcome: str) -> None:
        with self._lock:
            self.finished += 1
            if self._quiet:
                return
            elapsed = time.monotonic() - self._start
            prefix = "\r\033[K" if self._tty else ""
            self._stream.write(f"{prefix}[{self.finished}/{self.total}] {item}: {outcome} ({elapsed:.1f}s)\n")
            self._stream.flush()
