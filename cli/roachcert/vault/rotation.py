"""Issuer rotation, declared by a CA's `issuers` list, in three phases:
(1) append a new issuer: `ca ensure` makes it and the default; plans show bundles growing;
(2) `issue --all` re-issues every user from it; (3) remove the old issuer: bundles shrink.

Pure: which issuers a bundle change drops, whether dropping them now would lock users out (the
guard `apply` runs), and which phase each CA is in. Issued certificates come in as `IssuedRecord`s
that the Vault adapter reads; `records_from_pems` turns stored PEMs into them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from roachcert.certs.inventory import Delivery
from roachcert.pem import CertInfo, parse_certificates
from roachcert.spec import Stack, VaultCa
from roachcert.vault.ca_ensure import IssuerState

OVERRIDE_FLAG = "--allow-early-rotation"


@dataclass(frozen=True)
class IssuedRecord:
    """One client certificate Vault stored, and the issuer of its mount that signed it."""

    mount: str
    common_name: str
    serial: str
    issuer_id: str  # "" when no current issuer of the mount signed it
    issuer_name: str
    issuer_sha256: str
    not_before: datetime
    not_after: datetime

    @property
    def issuer_label(self) -> str:
        return f"{self.mount}/{self.issuer_name or self.issuer_id or 'unknown issuer'}"


def records_from_pems(
    mount: str, certs: Iterable[tuple[str, str]], issuers: Sequence[IssuerState]
) -> list[IssuedRecord]:
    """(serial, PEM) pairs → records; CA certificates (the issuers themselves) are left out.
    The issuer is found by authority key ID, else by signature: after a rotation both issuers
    usually share one subject, so the issuer *name* cannot tell them apart."""
    known = []
    for state in issuers:
        try:
            cert = x509.load_pem_x509_certificate(state.pem.encode())
        except ValueError:
            continue
        known.append((state, cert, _ski(cert), cert.fingerprint(hashes.SHA256()).hex()))
    records = []
    for serial, pem in certs:
        leaf = x509.load_pem_x509_certificate(pem.encode())
        if _is_ca(leaf):
            continue
        aki = _aki(leaf)
        found = next((k for k in known if aki is not None and k[2] == aki), None)
        if found is None:
            found = next((k for k in known if _signed_by(leaf, k[1])), None)
        cns = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        records.append(
            IssuedRecord(
                mount=mount,
                common_name=str(cns[0].value) if cns else "",
                serial=serial.replace("-", ":"),
                issuer_id=found[0].issuer_id if found else "",
                issuer_name=found[0].name if found else "",
                issuer_sha256=found[3] if found else "",
                not_before=leaf.not_valid_before_utc,
                not_after=leaf.not_valid_after_utc,
            )
        )
    return records


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _aki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _signed_by(leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# -- what a bundle change drops -------------------------------------------------------------------------
def dropped_issuers(old_pem: str | None, new_pem: str | None) -> tuple[CertInfo, ...]:
    """The CA certificates in the old bundle that the new one no longer holds (all when it is gone)."""
    old = parse_certificates(old_pem, "old bundle") if old_pem and old_pem.strip() else ()
    new = parse_certificates(new_pem, "new bundle") if new_pem and new_pem.strip() else ()
    kept = {info.sha256 for info in new}
    return tuple(info for info in old if info.sha256 not in kept)


def drops_by_cluster(
    old: Mapping[str, str | None], new: Mapping[str, str | None]
) -> dict[str, tuple[str, ...]]:
    """cluster → sha256 of each dropped CA certificate, for the clusters that drop any."""
    drops = {}
    for cluster, old_pem in old.items():
        dropped = dropped_issuers(old_pem, new.get(cluster))
        if dropped:
            drops[cluster] = tuple(info.sha256 for info in dropped)
    return drops


# -- the guard ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockedUser:
    cluster: str
    user: str
    issuer: str  # MOUNT/ISSUER that signed the user's newest certificate
    serial: str
    not_after: datetime
    seen: str = "delivered"  # where that certificate was seen: "delivered", or "stored in Vault"


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    blocked: tuple[BlockedUser, ...] = ()
    safe_after: datetime | None = None  # the latest notAfter among the blocking certificates
    message: str = ""


def _matches(record: IssuedRecord, drops: Collection[str]) -> bool:
    """A drop names a CA certificate's sha256 (preferred), or an issuer as NAME or MOUNT/NAME."""
    if not record.issuer_sha256 and not record.issuer_name:
        return False
    keys = {record.issuer_sha256, record.issuer_name, f"{record.mount}/{record.issuer_name}"} - {""}
    return bool(keys & set(drops))


def newest(records: Iterable[IssuedRecord]) -> IssuedRecord | None:
    return max(records, key=lambda r: (r.not_before, r.not_after, r.serial), default=None)


def guard_dropped_issuers(
    stack: Stack,
    drops: Mapping[str, Collection[str]],
    issued: Sequence[IssuedRecord],
    now: datetime,
    delivered: Mapping[tuple[str, str], IssuedRecord] | None = None,
) -> GuardVerdict:
    """Refuse an issuer leaving a cluster's bundle (dropped, its CA removed, replaced or moved to another
    mount) while a user declared on the cluster could still be using a certificate only a leaving
    issuer signed. What counts is the user's newest *delivered* certificate for that cluster
    (`delivered`, from the inventory: key and certificate both on disk); a user with no delivery
    recorded falls back to Vault's stored certificates (`issued`): their newest one usable there,
    from a leaving issuer or from a CA the cluster trusts now. Clusters removed from the stack are the
    destroy guard's business, not this one's."""
    blocked: list[BlockedUser] = []
    for cluster, dropped in drops.items():
        if cluster not in stack.clusters or not dropped:
            continue
        mounts = {ca.mount for _n, ca in stack.cluster_cas(cluster) if isinstance(ca, VaultCa)}
        for user in stack.clusters[cluster].users:
            latest = (delivered or {}).get((cluster, user))
            seen = "delivered"
            if latest is None:
                usable = [
                    r for r in issued if r.common_name == user and (r.mount in mounts or _matches(r, dropped))
                ]
                latest, seen = newest(usable), "stored in Vault, no delivery recorded"
            if latest is not None and latest.not_after > now and _matches(latest, dropped):
                blocked.append(
                    BlockedUser(cluster, user, latest.issuer_label, latest.serial, latest.not_after, seen)
                )
    if not blocked:
        return GuardVerdict(True)
    safe_after = max(b.not_after for b in blocked)
    issuers = ", ".join(sorted({b.issuer for b in blocked}))
    clusters = ", ".join(dict.fromkeys(b.cluster for b in blocked))
    users = ", ".join(f"{b.cluster}/{b.user}" for b in blocked)
    lead = (
        f"refusing to drop issuer {issuers} from cluster {clusters}: {len(blocked)} user(s) still hold "
        f"their newest certificate from it ({users}); re-issue them (`roachcert issue STACK --all`) and "
        f"deploy the new certificates, or wait until {safe_after:%Y-%m-%d %H:%M} UTC when the last of "
        f"those expires; {OVERRIDE_FLAG} applies anyway, and those users' logins will fail"
    )
    lines = [
        f"  {b.cluster}/{b.user}: newest certificate {b.serial} ({b.seen}) comes from {b.issuer}, "
        f"valid until {b.not_after:%Y-%m-%d %H:%M} UTC"
        for b in blocked
    ]
    return GuardVerdict(False, tuple(blocked), safe_after, "\n".join([lead, *lines]))


def delivered_records(deliveries: Iterable[Delivery]) -> dict[tuple[str, str], IssuedRecord]:
    """(cluster, user) → the newest delivered certificate, as a record the guard compares."""
    newest_of: dict[tuple[str, str], IssuedRecord] = {}
    for item in deliveries:
        if not item.delivered or item.not_before is None or item.not_after is None:
            continue
        mount, _, name = item.issuer.partition("/")
        found = IssuedRecord(
            item.mount or mount,
            item.user,
            item.serial,
            "",
            name,
            item.issuer_sha256,
            item.not_before,
            item.not_after,
        )
        key = (item.cluster, item.user)
        if key not in newest_of or newest([newest_of[key], found]) is found:
            newest_of[key] = found
    return newest_of


# -- the phase of each CA -------------------------------------------------------------------------------
PhaseKind = Literal[
    "not_ensured", "single_issuer", "rolling_out", "reissue_pending", "ready_to_drop", "old_issuer_in_vault"
]


@dataclass(frozen=True)
class IssuerView:
    name: str
    issuer_id: str  # "" when not in Vault
    declared: bool
    default: bool
    sha256: str
    not_after: datetime | None


@dataclass(frozen=True)
class CaRotation:
    ca: str
    mount: str
    issuers: tuple[IssuerView, ...]  # declared ones in order, then Vault's undeclared ones
    clusters: tuple[str, ...]  # the clusters that trust every declared issuer of this CA
    phase: PhaseKind
    summary: str
    pending_users: tuple[str, ...] = ()  # newest valid certificate from an issuer other than the current


def rotation_status(
    stack: Stack,
    ca_name: str,
    vault_issuers: Sequence[IssuerState],
    default_issuer_id: str | None,
    issued: Sequence[IssuedRecord],
    now: datetime,
    *,
    delivered: Mapping[tuple[str, str], IssuedRecord] | None = None,
    failed: Mapping[str, str] | None = None,
) -> CaRotation:
    """`delivered` (cluster, user) → newest delivered certificate overrides what Vault stored: a
    certificate Vault issued that never reached the user's files does not count as re-issued.
    `failed`: user → why their last re-issue was not delivered."""
    ca = stack.vault_cas()[ca_name]
    by_name = {state.name: state for state in vault_issuers if state.name}
    views = [_view(name, True, by_name.get(name), default_issuer_id) for name in ca.issuers]
    undeclared = [s for s in vault_issuers if s.name not in ca.issuers]
    views += [_view(s.name or s.issuer_id, False, s, default_issuer_id) for s in undeclared]
    clusters = tuple(name for name, spec in stack.clusters.items() if ca_name in spec.ca)
    users = sorted({user for name in clusters for user in stack.clusters[name].users})
    current = ca.current_issuer
    latest = {u: newest(r for r in issued if r.common_name == u and r.mount == ca.mount) for u in users}
    for user in users:
        mine = [(delivered or {}).get((name, user)) for name in clusters]
        known = [r for r in mine if r is not None and r.mount == ca.mount]
        if known:  # the laggard counts: one cluster's old certificate keeps the user pending
            lagging = [r for r in known if r.issuer_name != ca.current_issuer]
            latest[user] = newest(lagging) if lagging else newest(known)
    valid = {u: r for u, r in latest.items() if r is not None and r.not_after > now}
    pending = tuple(u for u, r in valid.items() if r.issuer_name != current)
    renewed = [u for u, r in valid.items() if r.issuer_name == current]
    old = list(ca.issuers[:-1])
    stale = ", ".join(v.name for v in views if not v.declared)

    def result(kind: PhaseKind, summary: str) -> CaRotation:
        return CaRotation(ca_name, ca.mount, tuple(views), clusters, kind, summary, pending)

    missing = [name for name in ca.issuers if name not in by_name]
    if missing:
        return result(
            "not_ensured", f"declared issuer {', '.join(missing)} not in Vault yet: run `roachcert ca ensure`"
        )
    default = next((s.name for s in vault_issuers if s.issuer_id == default_issuer_id), None)
    if default != current:
        return result(
            "rolling_out", f"{current} is declared but not Vault's default issuer: run `roachcert ca ensure`"
        )
    reasons = "".join(
        f"; {user}'s last re-issue was not delivered: {(failed or {})[user]}"
        for user in pending
        if user in (failed or {})
    )
    waiting = f"{len(pending)} user(s)' newest certificate from an old issuer ({', '.join(pending)}){reasons}"
    if not old:
        if stale:
            note = f"; {waiting}: no cluster trusts it now, re-issue them" if pending else ""
            return result(
                "old_issuer_in_vault",
                f"old issuer {stale} still in Vault but not declared: no cluster trusts it through this "
                f"stack; delete it in Vault once its certificates have expired, or leave it{note}",
            )
        return result("single_issuer", f"single issuer {current}: nothing to rotate")
    olds = ", ".join(old)
    if pending and not renewed:
        return result(
            "rolling_out",
            f"rolling out new issuer {current}: bundles growing; plan/apply so every cluster trusts it, "
            f"then re-issue (`roachcert issue STACK --all`): {waiting}",
        )
    if pending:
        return result("reissue_pending", f"reissue pending: {waiting}")
    return result(
        "ready_to_drop",
        f"ready to drop old issuer {olds}: every user's newest certificate comes from {current}; remove "
        f"{olds} from `issuers`, then plan/apply",
    )


def _view(name: str, declared: bool, state: IssuerState | None, default_id: str | None) -> IssuerView:
    if state is None:
        return IssuerView(name, "", declared, False, "", None)
    infos = parse_certificates(state.pem, f"issuer {name}") if state.pem.strip() else ()
    info = infos[0] if infos else None
    return IssuerView(
        name=name,
        issuer_id=state.issuer_id,
        declared=declared,
        default=state.issuer_id == default_id,
        sha256=info.sha256 if info else "",
        not_after=info.not_after if info else None,
    )
