"""Does a file answer as a Terraform provider plugin? Asked the way Terraform asks, briefly and safely.

Terraform starts a provider with TF_PLUGIN_MAGIC_COOKIE set; a go-plugin server then prints one handshake
line on stdout, `CORE|PROTOCOL|unix|SOCKET|grpc|...` (core version 1, plugin protocol 5 or 6), and waits
for Terraform to connect. Its log goes to stderr (the real provider's go-plugin writes JSON lines there
before the handshake), so only stdout is read for the handshake; stderr is kept for the message when
there is none. Without the cookie a Go provider prints "This binary is a plugin..." and exits
1, so the probe always sets it. The probe reads that one line (with a deadline), then kills the process
group; the plugin's socket goes to a temporary folder that is removed afterwards. Nothing is sent to the
plugin and no network is used.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from roachcert_sandbox.errors import SandboxError

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
HANDSHAKE = re.compile(r"^1\|[56]\|(unix|tcp)\|[^|]+\|grpc(\|.*)?$")
TIMEOUT = 20.0  # the stand-in (Python) starts in about a second; a Go provider at once


def probe_plugin(path: Path, environ: Mapping[str, str] | None = None, timeout: float = TIMEOUT) -> str:
    """The handshake line `path` prints when started as Terraform starts a plugin; SandboxError (one
    line) when it is no executable file or answers otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SandboxError(f"the provider binary {path} does not exist (or is not a file)")
    if not os.access(path, os.X_OK):
        raise SandboxError(f"the provider binary {path} is not executable (chmod +x it)")
    with tempfile.TemporaryDirectory(prefix="roachcert-probe-") as scratch:
        env = {**(os.environ if environ is None else environ), MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE}
        env.update({"TMPDIR": scratch, "PLUGIN_PROTOCOL_VERSIONS": "5,6"})
        log = Path(scratch) / "stderr"
        try:
            with log.open("wb") as err:
                process = subprocess.Popen(
                    [str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env=env,
                    cwd=scratch,
                    start_new_session=True,
                )
        except OSError as exc:
            raise SandboxError(
                f"the provider binary {path} cannot be started: {exc.strerror or exc}"
            ) from None
        try:
            first, ended = _first_line(process, timeout)
            if not ended and not HANDSHAKE.match(first):  # a usage line and an exit: say both
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)
                ended = process.poll() is not None
        finally:
            _stop(process)
        if not first:  # nothing on stdout: what it said on stderr (a usage line) tells why
            first = _first_of(log.read_bytes())
    if HANDSHAKE.match(first):
        return first
    if ended:
        said = f"printing {_clip(first)!r}" if first else "printing nothing"
        raise SandboxError(
            f"the provider binary {path} does not answer as a Terraform plugin: it exited "
            f"{process.returncode} {said} instead of a plugin handshake"
        )
    if first:
        raise SandboxError(
            f"the provider binary {path} does not answer as a Terraform plugin: it printed "
            f"{_clip(first)!r} instead of a plugin handshake"
        )
    raise SandboxError(
        f"the provider binary {path} does not answer as a Terraform plugin: no handshake within {timeout:g} s"
    )


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> tuple[str, bool]:
    """The first line the process printed (or what it printed before ending), and whether it ended."""
    assert process.stdout is not None
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in data and len(data) < 65536:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return data.decode("utf-8", "replace").strip(), False
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:  # EOF: the process ended (or closed its output)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=2)
                return data.decode("utf-8", "replace").strip(), process.poll() is not None
            data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace").strip(), False


def _first_of(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[0].strip() if lines else ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The plugin would wait for Terraform forever: kill its whole process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()


def _clip(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
