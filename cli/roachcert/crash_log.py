"""Evidence of an internal error (exit 3): its traceback, version and argv, masked, in a file under
`.roachcert/`, so a crashed CI run can be diagnosed without running it again (as pre-commit does)."""

from __future__ import annotations

import os
import platform
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from roachcert import __version__
from roachcert.mask import mask

PRIVATE_MODE = 0o600  # a traceback may name private paths; only its owner reads it


def write_crash_log(
    root: Path, argv: Sequence[str], exc: BaseException, environ: Mapping[str, str]
) -> Path | None:
    """The log's path, or None when it could not be written (the one line then says less, never fails)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = root / f"crash-{stamp}-{os.getpid()}.log"
    text = "\n".join(
        [
            f"roachcert {__version__} on Python {platform.python_version()} ({platform.platform()})",
            f"argv: {' '.join(argv)}",
            "",
            "".join(traceback.format_exception(exc)),
        ]
    )
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(mask(text, environ))
    except OSError:
        return None
    return path
