"""Progress on stderr for long, parallel work: a live line per item on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType


class Progress:
    def __init__(self, total: int, verb: str) -> None:
        self.total = total
        self.verb = verb
        self.finished = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._tty = sys.stderr.isatty()
        self._quiet = total <= 1 and not self._tty

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tty and self.total:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def step(self, item: str, what: str) -> None:
        if self._tty:
            with self._lock:
                sys.stderr.write(f"\r\033[K[{self.finished}/{self.total}] {item}: {what}")
                sys.stderr.flush()

    def done(self, item: str, outcome: str) -> None:
        with self._lock:
            self.finished += 1
            if self._quiet:
                return
            elapsed = time.monotonic() - self._start
            prefix = "\r\033[K" if self._tty else ""
            sys.stderr.write(f"{prefix}[{self.finished}/{self.total}] {item}: {outcome} ({elapsed:.1f}s)\n")
            sys.stderr.flush()
