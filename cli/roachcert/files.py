"""Writing files: atomically (a temporary sibling, then rename), and secrets created 0600 from the start.

A private key is only ever written to a file opened `O_CREAT|O_EXCL` with mode 0600, so there is no
moment it is readable by others and no existing file (or symlink) is ever followed or truncated.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from roachcert.errors import RoachcertError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
PRIVATE_DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class FilesError(RoachcertError):
    """A file roachcert was asked to write exists, or cannot be written."""


def ensure_dir(path: Path, mode: int = PRIVATE_DIR_MODE) -> None:
    """Create `path` (and parents); a folder created here is private to the user (0700 by default)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except FileExistsError:
        raise FilesError(f"{path} exists and is not a folder") from None
    except OSError as exc:
        raise FilesError(f"cannot create the folder {path}: {exc.strerror or exc}") from None


def _create(path: Path, mode: int) -> int:
    """A new file at `path` with exactly `mode` (the umask can only narrow it; fchmod pins it)."""
    fd = os.open(path, _CREATE, mode)
    try:
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def _write_fd(fd: int, data: str | bytes) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: Path, text: str | bytes, mode: int = PUBLIC_MODE) -> None:
    """Replace `path` with `text` in one rename: readers see the old file or the new one, never a part."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        _write_fd(_create(temp, mode), text)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise FilesError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:  # an interrupt: the temporary file may hold a private key
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_secret(path: Path, text: str | bytes, replace: bool = False) -> None:
    """Write a private key 0600. An existing file is refused unless `replace`, then replaced atomically."""
    if replace:
        write_atomic(path, text, SECRET_MODE)
        return
    try:
        fd = _create(path, SECRET_MODE)
    except FileExistsError:
        raise FilesError(f"{path} exists; pass --force to replace it") from None
    except OSError as exc:
        raise FilesError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        _write_fd(fd, text)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise FilesError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:  # an interrupt: never leave part of a key
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def open_lock_file(path: Path) -> int:
    """A descriptor on the lock file at `path`, created 0600 if missing and never truncated. A symlink
    (planted to make us create or touch a file elsewhere) or anything but a regular file is refused."""
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, SECRET_MODE)
    except OSError as exc:
        if os.path.islink(path):  # O_NOFOLLOW refused it (ELOOP)
            raise FilesError(
                f"{path} is a symbolic link, not a lock file; roachcert does not follow it: remove it"
            ) from None
        raise FilesError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FilesError(f"{path} is not a regular file, so not a lock file; remove it")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
