"""A private key and its certificate replaced as one pair: a reader never finds a key from one issuance
beside a certificate from another.

Layout (the names users rely on stay where they were; they are symlinks now):

    OUT/client.USER.key -> .roachcert-pairs/USER/current/client.key
    OUT/client.USER.crt -> .roachcert-pairs/USER/current/client.crt
    OUT/.roachcert-pairs/USER/current -> gen-<random>        (the one switch)
    OUT/.roachcert-pairs/USER/gen-<random>/client.key        (0600, created O_EXCL)

A new pair is written and fsynced into a new hidden `gen-*` folder, then `current` is switched to it
with one rename of a symlink (atomic), then the old generation is removed. Until that rename the new
files are invisible; after it both are. Kubernetes updates Secret volumes the same way (`..data`).
An interrupted run leaves at most an unlinked `gen-*` folder or a temporary link: `sweep` removes them,
but only while `current` resolves to a generation (the live one, however the link is spelled, stays).
Renewal reuses `switch_pair` with its own members (a PKCS#8 copy of the key, say).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from roachcert import interrupts
from roachcert.files import PUBLIC_MODE, SECRET_MODE, FilesError, ensure_dir
from roachcert.stack_lock import FOLDER_LOCK, folder_lock, record_path

PAIRS_DIR = ".roachcert-pairs"
CURRENT = "current"
_GEN_PREFIX = "gen-"


@dataclass(frozen=True)
class Member:
    """One file of a pair: the name users rely on in the folder, its name inside a generation, its bytes."""

    link: str  # e.g. client.alice.key
    stored: str  # e.g. client.key
    data: str | bytes = field(repr=False)
    secret: bool = False


def slot_dir(folder: Path, slot: str) -> Path:
    return folder / PAIRS_DIR / slot


def link_target(slot: str, stored: str) -> str:
    return os.path.join(PAIRS_DIR, slot, CURRENT, stored)


def is_our_link(path: Path, slot: str, stored: str) -> bool:
    """A link this module made (dangling or not): replacing it overwrites nothing a user put there."""
    try:
        return os.readlink(path) == link_target(slot, stored)
    except OSError:
        return False


def links_into(path: Path, folder: Path, slot: str) -> bool:
    """Whether `path` is a link that resolves (dangling or not) inside `slot`'s pair folder, however it
    is spelled (restore and sync tools rewrite links as absolute paths, `./x`, `x/`)."""
    if not path.is_symlink():
        return False
    home = os.path.realpath(slot_dir(folder.absolute(), slot))
    return os.path.realpath(path).startswith(home + os.sep)


def live_generation(pairs: Path) -> Path | None:
    """The generation `current` resolves to, when that is a folder directly in `pairs`; None when that
    cannot be told (no link, a loop, a target elsewhere): then no generation may be removed."""
    link = pairs / CURRENT
    if not link.is_symlink():
        return None
    try:
        live = link.resolve(strict=True)
        home = pairs.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if live.parent != home or not live.name.startswith(_GEN_PREFIX) or not live.is_dir():
        return None
    return live


def switch_pair(folder: Path, slot: str, members: Sequence[Member]) -> None:
    """Write `members` as a new generation of `slot`, then make it current in one rename."""
    with staged_pair(folder, slot) as staged:
        for member in members:
            staged.write(member)
        staged.switch(members)


class Staged:
    """A generation being written and not yet current: a locally made key goes in first (before Vault
    is asked to sign its CSR), the certificate after; `switch` makes all of it current at once."""

    def __init__(self, folder: Path, slot: str, pairs: Path, gen: Path) -> None:
        self.folder, self.slot, self._pairs, self.gen = folder, slot, pairs, gen

    def write(self, member: Member) -> Path:
        path = self.gen / member.stored
        _write_new(path, member.data, SECRET_MODE if member.secret else PUBLIC_MODE)
        return path

    def switch(self, members: Sequence[Member]) -> None:
        """Make this generation current and point each member's link at it (written already)."""
        _fsync_dir(self.gen)
        with interrupts.deferred():  # the switch and the links finish before a signal stops us
            _replace_link(self._pairs / CURRENT, self.gen.name)
            _fsync_dir(self._pairs)
            relinked = False
            for member in members:
                link = self.folder / member.link
                target = link_target(self.slot, member.stored)
                if not link.is_symlink() or os.readlink(link) != target:
                    # Only the first switch from flat files (or a new member, like a .pk8) gets here.
                    _replace_link(link, target)
                    relinked = True
            # A member of the old layout (a .pk8 after jdbc -> libpq) now dangles: it goes, so nothing
            # reads it as part of the pair (layouts.detect would take it for jdbc).
            relinked |= _drop_dangling_links(self.folder, self.slot, {m.link for m in members})
            if relinked:  # a re-issue changes no entry of the folder: nothing there to make durable
                _fsync_dir(self.folder)


@contextlib.contextmanager
def staged_pair(folder: Path, slot: str) -> Iterator[Staged]:
    """A new hidden generation of `slot`; removed again unless it was switched in before the block ended."""
    pairs = slot_dir(folder, slot)
    ensure_dir(pairs)
    gen = pairs / f"{_GEN_PREFIX}{secrets.token_hex(8)}"
    try:
        os.mkdir(gen, 0o700)
        yield Staged(folder, slot, pairs, gen)
    except OSError as exc:
        _discard(gen, pairs)
        raise FilesError(f"cannot write the new pair for {slot} in {folder}: {exc.strerror or exc}") from None
    except BaseException:
        _discard(gen, pairs)
        raise
    finally:
        _prune_empty(pairs)
    _remove_old_generations(pairs)  # the older ones, and this one too if it was never switched in


def _prune_empty(pairs: Path) -> None:
    """A first issue that failed leaves no empty pair folders behind (a folder the run created goes too)."""
    with contextlib.suppress(OSError):
        pairs.rmdir()
        pairs.parent.rmdir()


def _discard(gen: Path, pairs: Path) -> None:
    """A generation that never became current (a failure or an interrupt before the switch)."""
    with contextlib.suppress(OSError):
        if os.readlink(pairs / CURRENT) == gen.name or live_generation(pairs) == Path(os.path.realpath(gen)):
            return
    shutil.rmtree(gen, ignore_errors=True)


def _drop_dangling_links(folder: Path, slot: str, keep: set[str]) -> bool:
    """Remove the links into `slot`'s pair that resolve to nothing once a generation is current."""
    dropped = False
    prefix = f"client.{slot}."
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.name.startswith(prefix) and e.name not in keep]
    for name in names:
        path = folder / name
        if links_into(path, folder, slot) and not path.exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            dropped = True
    return dropped


def _write_new(path: Path, data: str | bytes, mode: int) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if fd >= 0:
            os.close(fd)


def _replace_link(path: Path, target: str) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.symlink(target, temp)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old_generations(pairs: Path) -> int:
    """Generations other than the one `current` resolves to (compared as resolved paths: the link's
    text may be spelled any way), and temporary links. No generation goes while `current` does not
    resolve to one here: the live pair may be among them."""
    live = live_generation(pairs)
    never_live = live is None and _never_switched(pairs)
    removed = 0
    for entry in pairs.iterdir() if pairs.is_dir() else ():
        stale_gen = entry.name.startswith(_GEN_PREFIX) and (
            never_live or (live is not None and os.path.realpath(entry) != str(live))
        )
        stale_tmp = entry.name.startswith(".") and entry.name.endswith(".tmp")
        if stale_gen or stale_tmp:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed += 1
    return removed


def _never_switched(pairs: Path) -> bool:
    """No `current` at all and no link of the folder leading into this pair: a first issue killed before
    its switch, whose generations no reader can be using (a restore that lost `current` keeps links)."""
    if os.path.lexists(pairs / CURRENT):
        return False
    folder, slot = pairs.parent.parent, pairs.name
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        return not any(links_into(folder / e.name, folder, slot) for e in entries if e.is_symlink())
    return False


def sweep(folder: Path) -> int:
    """What an interrupted or killed run left in `folder` (unswitched generations, temporary links and
    files, which may hold private keys); the count removed. Call it under the folder's lock."""
    removed = 0
    pairs_root = folder / PAIRS_DIR
    if pairs_root.is_dir():
        for pairs in pairs_root.iterdir():
            if pairs.is_dir() and not pairs.is_symlink():
                removed += _remove_old_generations(pairs)
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name.startswith(".client.") and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
    return removed


@contextlib.contextmanager
def folder_session(folder: Path, lock_timeout: float, note: Callable[[str], None]) -> Iterator[None]:
    """The folder's lock for a run that replaces pairs in it, after sweeping what an interrupted run
    left. A folder this call had to create is removed again when nothing but the lock was put there."""
    created = not folder.exists()
    ensure_dir(folder)
    try:
        with folder_lock(folder, lock_timeout, note):
            removed = sweep(folder)
            if removed:
                note(f"note: removed {removed} temporary file(s) an interrupted run left in {folder}")
            yield
    finally:
        lock = folder / FOLDER_LOCK
        with contextlib.suppress(OSError):
            if created and {entry.name for entry in folder.iterdir()} <= {lock.name, record_path(lock).name}:
                lock.unlink()
                folder.rmdir()
