"""What one run of roachcert is given (httpie's `Environment` is the model): its environment, its
output streams with secret masking at the sink, and the adapter factories.

`app.run(argv, runtime)` hands it to the command as its click context's object (`of(ctx)`); the command
passes it, or what the layers below need of it (the environment, the mask, the adapters, a note
writer), on as arguments. Nothing looks it up from a global. Everything a command prints goes through
`out`/`err`, so a secret is masked at the sink whether or not the code that formatted the text thought of
it, and no control character reaches the terminal on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import typer._click as click  # typer's own copy of click

from roachcert import environment
from roachcert.escape import printable_lines
from roachcert.mask import MaskedStream, Masker, Sink

if TYPE_CHECKING:
    from roachcert.adapters import Adapters


@dataclass
class Runtime:
    # The process's own by default: the live os.environ, and sys.stdout/sys.stderr looked up at use (None),
    # as pytest's capture and a monkeypatched variable expect.
    environ: Mapping[str, str] = field(default_factory=environment.process)
    stdout: Sink | None = None
    stderr: Sink | None = None
    stdin: TextIO | None = None  # where a question's answer is read (`apply` without --auto-approve)
    # None: the real ones, which a command imports when it runs (start-up loads no adapter).
    adapters: Adapters | None = None
    mask: Masker = field(init=False, repr=False)  # the run's mask, over its environment

    def __post_init__(self) -> None:
        self.mask = Masker(self.environ)

    def real_or_given(self) -> Adapters:
        """The adapters this run opens its side effects with: the real ones unless it was given others."""
        if self.adapters is not None:
            return self.adapters
        from roachcert.adapters import real  # lazy: hvac and requests load only when a command opens one

        return real(self.environ)

    def _out(self) -> Sink:
        return sys.stdout if self.stdout is None else self.stdout

    def _err(self) -> Sink:
        return sys.stderr if self.stderr is None else self.stderr

    def out(self, text: str = "", *, nl: bool = True) -> None:
        """Text for stdout (a report, a URL, a table), masked."""
        stream = self._out()
        stream.write(self.mask(text) + ("\n" if nl else ""))
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
        stream.write(printable_lines(self.mask(text).rstrip("\n")) + "\n")
        stream.flush()

    def _in(self) -> TextIO | None:
        # sys.stdin is None when the process was started with its descriptor 0 closed (`<&-`).
        return sys.stdin if self.stdin is None else self.stdin

    def interactive(self) -> bool:
        """Someone is there to answer a question: stdin is a terminal (not closed, not absent)."""
        stream = self._in()
        try:
            return stream is not None and stream.isatty()
        except ValueError:  # closed
            return False

    def ask(self, question: str) -> bool:
        """A yes/no question on stderr, answered on stdin; anything but y/yes (or no answer) is no."""
        stream = self._err()
        stream.write(self.mask(question) + " [y/N]: ")
        stream.flush()
        source = self._in()
        try:
            answer = source.readline() if source is not None else ""
        except (OSError, ValueError):  # closed meanwhile, or bytes the terminal's encoding refuses: no
            answer = ""
        return answer.strip().lower() in ("y", "yes")

    def err_stream(self) -> MaskedStream:
        """Stderr as a stream for output that arrives in pieces (Terraform's, streamed)."""
        return MaskedStream(self._err(), self.mask)


def of(ctx: click.Context) -> Runtime:
    """The run's Runtime, which `app.run` hands every command as its context's object."""
    found = ctx.find_object(Runtime)
    if found is None:  # a command invoked outside app.run (click's test runner): the process's own
        found = ctx.ensure_object(Runtime)
    return found
