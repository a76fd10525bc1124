"""What one run of roachcert is given (httpie's `Environment` is the model): its environment, its
output streams with secret masking at the sink, and the adapter factories.

`app.run(argv, runtime)` runs a command under it (`running`); a command reads it with `current()`,
from any of its threads (a per-thread read worker opens its own Cloud client through it). Everything a
command prints goes through `out`/`err`, so a secret is masked whether or not the code that formatted
the text thought of it, and no control character reaches the terminal on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roachcert import environment
from roachcert.escape import printable_lines
from roachcert.mask import MaskedStream, Sink, mask

if TYPE_CHECKING:
    from roachcert.adapters import Adapters


@dataclass
class Runtime:
    # None: the process's own (os.environ, sys.stdout, sys.stderr), looked up at use, as pytest's capture
    # and a monkeypatched variable expect.
    environ: Mapping[str, str] | None = None
    stdout: Sink | None = None
    stderr: Sink | None = None
    # None: the real ones, which a command imports when it runs (start-up loads no adapter).
    adapters: Adapters | None = None

    def environment(self) -> Mapping[str, str]:
        return environment.process() if self.environ is None else self.environ

    def _out(self) -> Sink:
        return sys.stdout if self.stdout is None else self.stdout

    def _err(self) -> Sink:
        return sys.stderr if self.stderr is None else self.stderr

    def out(self, text: str = "", *, nl: bool = True) -> None:
        """Text for stdout (a report, a URL, a table), masked."""
        stream = self._out()
        stream.write(mask(text) + ("\n" if nl else ""))
        stream.flush()

    def out_unmasked(self, text: str) -> None:
        """Text for stdout that carries a secret by design (`sandbox env` lines, for `eval`): the one
        output that skips the mask, so its caller must say why."""
        stream = self._out()
        stream.write(text)
        stream.flush()

    def err(self, text: str) -> None:
        """A message for stderr: masked, each line printable, ending in a newline."""
        stream = self._err()
        stream.write(printable_lines(mask(text).rstrip("\n")) + "\n")
        stream.flush()

    def err_stream(self) -> MaskedStream:
        """Stderr as a stream for output that arrives in pieces (Terraform's, streamed)."""
        return MaskedStream(self._err())


_PROCESS = Runtime()
_running: list[Runtime] = []


def current() -> Runtime:
    """The runtime of the command running now (the process's own outside `app.run`)."""
    return _running[-1] if _running else _PROCESS


@contextmanager
def running(runtime: Runtime) -> Iterator[None]:
    """Run the block as one command under `runtime`: its environment is what every module reads."""
    _running.append(runtime)
    try:
        with environment.using(runtime.environment()):
            yield
    finally:
        _running.pop()
