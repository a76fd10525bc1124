"""The delivered inventory: which certificate was delivered where, recorded only once its key and
certificate are both on disk and synced (and switched in as a pair). A failed delivery is recorded
too, so `rotate status` can say why a user still counts on an old issuer.

One JSON line per event in .roachcert/STACK/roachcert-delivered.jsonl, appended under an flock and
fsynced; a torn or foreign line is skipped. The rotation guard reads this, not what Vault stored:
Vault stores a certificate the moment it issues it, whether or not it ever reached the user's disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from roachcert.paths import state_root
from roachcert.pem import CertInfo

INVENTORY_FILE = "roachcert-delivered.jsonl"


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


def inventory_path(stack: str) -> Path:
    return state_root() / stack / INVENTORY_FILE


def record(stack: str, delivery: Delivery) -> None:
    """Append one event, synced before returning."""
    path = inventory_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {key: _encode(value) for key, value in asdict(delivery).items()}
    line = (json.dumps(data, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def load(stack: str) -> list[Delivery]:
    try:
        text = inventory_path(stack).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            found.append(_decode(json.loads(line)))
    return found


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _decode(data: dict[str, object]) -> Delivery:
    at = _time(data["at"])
    if at is None:
        raise ValueError("no time")
    return Delivery(
        cluster=str(data["cluster"]),
        user=str(data["user"]),
        folder=str(data["folder"]),
        at=at,
        delivered=bool(data["delivered"]),
        serial=str(data.get("serial") or ""),
        mount=str(data.get("mount") or ""),
        issuer=str(data.get("issuer") or ""),
        issuer_sha256=str(data.get("issuer_sha256") or ""),
        not_before=_time(data.get("not_before")),
        not_after=_time(data.get("not_after")),
        error=str(data.get("error") or ""),
    )


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
    failure came after their newest delivery (on any cluster)."""
    reasons: dict[str, str] = {}
    for item in deliveries:
        if not item.delivered and item in failures_since(deliveries, item.cluster, item.user):
            reasons[item.user] = item.error or "not delivered"
    return reasons
