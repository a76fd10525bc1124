"""The delivered inventory: which certificate was delivered where, recorded only once its key and
certificate are both on disk and synced (and switched in as a pair). A failed delivery is recorded
too, so `rotate status` can say why a user still counts on an old issuer.

One JSON line per event in .roachcert/STACK/roachcert-delivered.jsonl, appended under an flock and
fsynced. `load` is the one reader: a line that is not a record of ours (torn, foreign, a naive time, a
lone surrogate, nested deep, a wrong type) is skipped, and one note names the file and its line numbers.
The rotation guard reads this, not what Vault stored: Vault stores a certificate the moment it issues it,
whether or not it ever reached the user's disk.

Growth is bounded: each time an append takes the file past a multiple of COMPACT_EVERY bytes, it is
rewritten (atomically, under the same flock, the old file renamed over) keeping what some command reads:
every delivery (a line repeated whole only once), and per cluster and user only the newest failure after
their newest delivery. Lines it cannot read are kept as they are. A failing renew timer so adds nothing lasting.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from roachcert import files, outside_json
from roachcert.mask import mask
from roachcert.outside_json import Json, NotJson
from roachcert.paths import state_root
from roachcert.pem import CertInfo

INVENTORY_FILE = "roachcert-delivered.jsonl"
COMPACT_EVERY = 256 * 1024  # bytes; ~600 records
_SHOWN_LINES = 5  # line numbers a note lists before "and N more"


@dataclass(frozen=True)
class Delivery:
    cluster: str
    user: str
    folder: str  # where the pair lives (absolute)
    at: datetime  # when it was recorded
    delivered: bool  # False: issued (maybe) but not delivered; `error` says why
    serial: str = ""
    mount: str = ""
    issuer: str = ""  # MOUNT/ISSUER that signed it
    issuer_sha256: str = ""  # the signing CA certificate's sha256 ("" when it is not in the bundle)
    not_before: datetime | None = None
    not_after: datetime | None = None
    error: str = ""


def inventory_path(environ: Mapping[str, str], stack: str) -> Path:
    return state_root(environ) / stack / INVENTORY_FILE


def record(environ: Mapping[str, str], stack: str, delivery: Delivery) -> None:
    """Append one event, synced before returning; compact the file when it grew past a step. The event's
    error is masked: the file is a sink like any other."""
    path = inventory_path(environ, stack)
    delivery = replace(delivery, error=mask(delivery.error, environ))
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {key: _encode(value) for key, value in asdict(delivery).items()}
    line = (json.dumps(data, sort_keys=True) + "\n").encode("utf-8")
    while True:
        fd = _open_for_append(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _still_there(fd, path):
                continue  # compacted (renamed over) while we waited: lock the new file
            before = os.fstat(fd).st_size
            os.write(fd, line)
            os.fsync(fd)
            if (before + len(line)) // COMPACT_EVERY > before // COMPACT_EVERY:
                compact(path)
            return
        finally:
            os.close(fd)


def _open_for_append(path: Path) -> int:
    """Never through a link planted to make us append elsewhere, nor into a FIFO (opening one for writing
    would wait for a reader, inside the block that defers Ctrl-C): a regular file or a one-line error."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        link = " (a symbolic link: roachcert does not follow it; remove it)" if path.is_symlink() else ""
        raise files.FilesError(f"cannot record the delivery in {path}: {exc.strerror or exc}{link}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise files.FilesError(f"cannot record the delivery in {path}: not a regular file; remove it")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _still_there(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def compact(path: Path) -> None:
    """Rewrite the file with only what a command reads (see the module's doc). The caller holds the
    flock of the file now at `path`; the rewrite replaces it in one rename, so a reader sees either."""
    lines = path.read_bytes().split(b"\n")
    decoded = [_line(raw) for raw in lines]
    events = [d for d in decoded if d is not None]
    newest = _newest_delivered(events)
    last_failure: dict[tuple[str, str], int] = {}
    for index, item in enumerate(decoded):
        if item is not None and not item.delivered:
            last = newest.get((item.cluster, item.user))
            if last is None or item.at > last.at:
                last_failure[(item.cluster, item.user)] = index
    kept_failures = set(last_failure.values())
    seen: set[Delivery] = set()
    kept: list[bytes] = []
    for index, (raw, item) in enumerate(zip(lines, decoded, strict=True)):
        if item is None:
            if raw.strip():
                kept.append(raw)  # not ours to drop: a torn line, or a newer roachcert's record
        elif item.delivered:
            if item not in seen:  # only a line repeated whole: each field may matter to some reader
                seen.add(item)
                kept.append(raw)
        elif index in kept_failures:
            kept.append(raw)
    files.write_atomic(path, b"".join(raw + b"\n" for raw in kept), 0o600)


def _encode(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def load(environ: Mapping[str, str], stack: str, note: Callable[[str], None] | None = None) -> list[Delivery]:
    """Every event of the stack's inventory, in file order; lines that are not ours are skipped and
    `note` gets one line naming the file and their line numbers."""
    path = inventory_path(environ, stack)
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError:
        return []
    found: list[Delivery] = []
    skipped: list[int] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        item = _line(raw)
        if item is None:
            skipped.append(number)
        else:
            found.append(item)
    if skipped and note is not None:
        shown = ", ".join(str(n) for n in skipped[:_SHOWN_LINES])
        more = f" and {len(skipped) - _SHOWN_LINES} more" if len(skipped) > _SHOWN_LINES else ""
        plural = "s" if len(skipped) > 1 else ""
        note(f"note: {path}: skipped line{plural} {shown}{more}: not a delivery record roachcert wrote")
    return found


class _Foreign(ValueError):
    pass


def _line(raw: bytes) -> Delivery | None:
    """One line as a Delivery, or None when it is not one (the one decoder of the file)."""
    try:
        return _decode(outside_json.loads(raw))
    except (NotJson, _Foreign):
        return None


def _text(data: dict[str, Json], key: str, required: bool = False) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _Foreign(key)
    return value


def _time(data: dict[str, Json], key: str, required: bool = False) -> datetime | None:
    text = _text(data, key, required)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _Foreign(key) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Foreign(key)  # a naive time cannot be compared with ours
    return value


def _decode(data: Json) -> Delivery:
    if not isinstance(data, dict):
        raise _Foreign("not an object")
    at = _time(data, "at", required=True)
    delivered = data.get("delivered")
    if at is None or not isinstance(delivered, bool):
        raise _Foreign("at or delivered")
    return Delivery(
        cluster=_text(data, "cluster", required=True),
        user=_text(data, "user", required=True),
        folder=_text(data, "folder", required=True),
        at=at,
        delivered=delivered,
        serial=_text(data, "serial"),
        mount=_text(data, "mount"),
        issuer=_text(data, "issuer"),
        issuer_sha256=_text(data, "issuer_sha256"),
        not_before=_time(data, "not_before"),
        not_after=_time(data, "not_after"),
        error=_text(data, "error"),
    )


def _newest_delivered(deliveries: Iterable[Delivery]) -> dict[tuple[str, str], Delivery]:
    """(cluster, user) → their newest delivered certificate, in one pass."""
    newest: dict[tuple[str, str], Delivery] = {}
    for item in deliveries:
        if not item.delivered:
            continue
        key = (item.cluster, item.user)
        held = newest.get(key)
        if held is None or (item.not_before or item.at, item.at) > (held.not_before or held.at, held.at):
            newest[key] = item
    return newest


def newest_delivered(deliveries: Iterable[Delivery], cluster: str, user: str) -> Delivery | None:
    """The user's newest certificate delivered for this cluster (the one its files hold)."""
    mine = [d for d in deliveries if d.delivered and d.cluster == cluster and d.user == user]
    return max(mine, key=lambda d: (d.not_before or d.at, d.at), default=None)


def failures_since(deliveries: Iterable[Delivery], cluster: str, user: str) -> list[Delivery]:
    """Failed deliveries after the newest delivered one: why the user is still on an older certificate."""
    last = newest_delivered(deliveries, cluster, user)
    return [
        d
        for d in deliveries
        if not d.delivered and d.cluster == cluster and d.user == user and (last is None or d.at > last.at)
    ]


@functools.lru_cache(maxsize=64)
def _issuer_cert(pem: str) -> x509.Certificate:
    """An issuer parsed once per run, not once per certificate it signed (`issue --all`)."""
    return x509.load_pem_x509_certificate(pem.encode())


def signing_issuer(leaf_pem: str, candidates: Sequence[CertInfo]) -> CertInfo | None:
    """Which CA certificate of the bundle signed this leaf (by signature: after a rotation both issuers
    usually share one subject)."""
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    for info in candidates:
        issuer = _issuer_cert(info.pem)
        try:
            leaf.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return info
    return None


def failure_reasons(deliveries: Sequence[Delivery]) -> dict[str, str]:
    """user → why the newest attempt to deliver one of their certificates failed, for users whose
    failure came after their newest delivery (on any cluster). One pass over the events, plus one to
    find each user's newest delivery: linear in the inventory."""
    newest = _newest_delivered(deliveries)
    reasons: dict[str, str] = {}
    for item in deliveries:
        if item.delivered:
            continue
        last = newest.get((item.cluster, item.user))
        if last is None or item.at > last.at:
            reasons[item.user] = item.error or "not delivered"
    return reasons
