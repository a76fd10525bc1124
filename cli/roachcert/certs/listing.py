"""`roachcert certs`: every client certificate roachcert delivered (the inventory) or finds on disk for
a stack, with whether it is the one on disk and whether its cluster still trusts its issuer; and the
same as Prometheus text-format gauges for node_exporter's textfile collector.

Trust is read from the stack (the issuers each cluster's CAs declare), so no Vault call is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from roachcert import files
from roachcert.certs import inventory
from roachcert.certs.issue import client_files, default_out
from roachcert.certs.usable import issuers_by_serial, judge, normal_serial, trusts
from roachcert.spec import Stack


@dataclass(frozen=True)
class CertRow:
    cluster: str
    user: str
    issuer: str  # MOUNT/ISSUER, or "" when unknown (found on disk only)
    serial: str
    not_after: datetime | None
    folder: str
    on_disk: bool
    trusted: bool | None  # None: the issuer is unknown
    unusable: str = ""  # on disk but unusable (usable.judge): why


def _disk_serial(path: Path) -> tuple[str, datetime] | None:
    with contextlib.suppress(OSError, ValueError):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        number = cert.serial_number
        raw = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
        return ":".join(f"{byte:02x}" for byte in raw), cert.not_valid_after_utc
    return None


def rows(
    stack: Stack,
    environ: Mapping[str, str],
    extra_folders: tuple[Path, ...] = (),
    note: Callable[[str], None] | None = None,
) -> list[CertRow]:
    """Delivered certificates (one row per serial), then certificates on disk the inventory lacks, looked
    for in certs/STACK/CLUSTER, ROOT/CLUSTER for each extra root, and each folder the inventory names
    (a flat folder could hold one user's files for any cluster, so it is not guessed at)."""
    deliveries = [d for d in inventory.load(environ, stack.name, note) if d.delivered]
    named: dict[tuple[str, str], set[str]] = {}  # one pass, not one per user
    for d in deliveries:
        named.setdefault((d.cluster, d.user), set()).add(d.folder)
    folders: dict[tuple[str, str], set[Path]] = {}
    for cluster, spec in stack.clusters.items():
        for user in spec.users:
            wanted = {
                default_out(stack, cluster).absolute(),
                *(f.absolute() / cluster for f in extra_folders),
            }
            wanted |= {Path(folder) for folder in named.get((cluster, user), ())}
            folders[(cluster, user)] = wanted
    issuers = issuers_by_serial(deliveries)
    on_disk: dict[tuple[str, str, str], tuple[str, str]] = {}  # (cluster, user, serial) -> folder, unusable
    disk_rows: list[CertRow] = []
    for (cluster, user), places in folders.items():
        for folder in sorted(places):
            found = _disk_serial(client_files(folder, user).cert)
            if found is None:
                continue
            serial, not_after = found
            problem = judge(stack, cluster, user, folder, issuers).problem
            on_disk[(cluster, user, normal_serial(serial))] = (str(folder), problem)
            disk_rows.append(CertRow(cluster, user, "", serial, not_after, str(folder), True, None, problem))
    result: list[CertRow] = []
    seen: set[tuple[str, str, str]] = set()
    trust: dict[tuple[str, str], bool | None] = {}
    for d in sorted(deliveries, key=lambda d: (d.cluster, d.user, d.at)):
        key = (d.cluster, d.user, normal_serial(d.serial))
        if key in seen:
            continue
        seen.add(key)
        where, problem = on_disk.get(key, (d.folder, ""))
        if (d.cluster, d.issuer) not in trust:  # a few issuers per cluster, asked once each
            trust[(d.cluster, d.issuer)] = trusts(stack, d.cluster, d.issuer)
        trusted = trust[(d.cluster, d.issuer)]
        result.append(
            CertRow(
                d.cluster, d.user, d.issuer, d.serial, d.not_after, where, key in on_disk, trusted, problem
            )
        )
    result += [r for r in disk_rows if (r.cluster, r.user, normal_serial(r.serial)) not in seen]
    return sorted(result, key=lambda r: (r.cluster, r.user, r.not_after or datetime.min.replace(tzinfo=UTC)))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics(stack: Stack, found: list[CertRow], now: datetime) -> str:
    """Expiry per certificate on disk, and seconds until each cluster's soonest on-disk expiry."""
    lines = [
        "# HELP roachcert_client_cert_expiry_timestamp_seconds When a client certificate on disk expires.",
        "# TYPE roachcert_client_cert_expiry_timestamp_seconds gauge",
    ]
    soonest: dict[str, datetime] = {}
    usable = [
        "# HELP roachcert_client_cert_usable 1 when a client certificate on disk is usable (its key, CN, "
        "issuer still trusted, links inside its pair), 0 when not.",
        "# TYPE roachcert_client_cert_usable gauge",
    ]
    for row in found:
        if not row.on_disk or row.not_after is None:
            continue
        labels = (
            f'stack="{_label(stack.name)}",cluster="{_label(row.cluster)}",user="{_label(row.user)}",'
            f'serial="{_label(row.serial)}"'
        )
        lines.append(
            f"roachcert_client_cert_expiry_timestamp_seconds{{{labels}}} {row.not_after.timestamp():.0f}"
        )
        usable.append(f"roachcert_client_cert_usable{{{labels}}} {0 if row.unusable else 1}")
        if row.cluster not in soonest or row.not_after < soonest[row.cluster]:
            soonest[row.cluster] = row.not_after
    lines += [
        "# HELP roachcert_client_cert_soonest_expiry_seconds Seconds until the cluster's soonest expiry on disk.",
        "# TYPE roachcert_client_cert_soonest_expiry_seconds gauge",
    ]
    for cluster, when in sorted(soonest.items()):
        labels = f'stack="{_label(stack.name)}",cluster="{_label(cluster)}"'
        lines.append(
            f"roachcert_client_cert_soonest_expiry_seconds{{{labels}}} {(when - now).total_seconds():.0f}"
        )
    return "\n".join(lines + usable) + "\n"


def write_metrics(path: Path, text: str) -> None:
    """Atomically (the textfile collector may read at any moment)."""
    files.write_atomic(path, text)
