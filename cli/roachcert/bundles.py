"""The CA bundle each cluster trusts: every declared issuer of each of its CAs (or the CA's PEM file),
checked, in the cluster's order, joined with a blank line between certificates as the product doc asks.

Reading never writes: a plan needs only read access to `MOUNT/issuer/NAME/json`. Each issuer is read
once however many clusters trust it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from roachcert.errors import VaultError
from roachcert.pem import CertInfo, build_bundle, check_ca_file, check_ca_pem, describe
from roachcert.spec import PemFileCa, Stack, VaultCa


class IssuerReader(Protocol):
    """What bundles need from Vault: one issuer's certificate PEM, or `None` when it is not there."""

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None: ...


class OnFirstRead:
    """An issuer reader opened on its first read: a stack whose clusters trust only PEM-file CAs never
    opens Vault (no VAULT_ADDR or token needed, hvac not even loaded) for a plan or a status."""

    def __init__(self, open_reader: Callable[[], IssuerReader]) -> None:
        self._open = open_reader
        self._reader: IssuerReader | None = None

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        if self._reader is None:
            self._reader = self._open()
        return self._reader.read_issuer_pem(mount, issuer)


@dataclass(frozen=True)
class Duplicate:
    """A certificate two of a cluster's CAs hold: the bundle keeps the first copy."""

    cert: CertInfo
    source: str  # where the dropped copy comes from
    kept: str  # where the copy the bundle keeps comes from


@dataclass(frozen=True)
class ClusterBundle:
    cluster: str
    pem: str  # build_bundle output: the text uploaded as the cluster's client CA
    certs: tuple[CertInfo, ...]
    sources: tuple[str, ...]  # one per cert, e.g. "client-ca/ca-2026a" or "legacy-ca/legacy-ca.pem"
    warnings: tuple[str, ...]
    duplicates: tuple[Duplicate, ...] = ()  # also in `warnings`, as text


@dataclass(frozen=True)
class _CaCerts:
    certs: tuple[CertInfo, ...]
    sources: tuple[str, ...]
    warnings: tuple[str, ...]


def cluster_bundles(
    stack: Stack, reader: IssuerReader, *, clusters: Iterable[str] | None = None
) -> dict[str, ClusterBundle]:
    """The bundle of every cluster (or only of `clusters`), in the stack's order."""
    names = list(stack.clusters) if clusters is None else list(clusters)
    needed = list(dict.fromkeys(ca for name in names for ca in stack.clusters[name].ca))
    per_ca = _read_cas(stack, reader, needed)
    return {name: _bundle(name, [(ca, per_ca[ca]) for ca in stack.clusters[name].ca]) for name in names}


def _read_cas(stack: Stack, reader: IssuerReader, names: list[str]) -> dict[str, _CaCerts]:
    missing: list[str] = []
    found: dict[str, _CaCerts] = {}
    for name in names:
        ca = stack.cas[name]
        if isinstance(ca, PemFileCa):
            found[name] = _pem_file(name, ca)
            continue
        result = _vault_ca(name, ca, reader, missing)
        if result is not None:
            found[name] = result
    if missing:
        where = f"`roachcert ca ensure {stack.source}`" if stack.source else "`roachcert ca ensure`"
        raise VaultError(
            f"declared issuer{'s' if len(missing) > 1 else ''} missing in Vault: "
            f"{', '.join(missing)}; run {where} first"
        )
    return found


def _vault_ca(name: str, ca: VaultCa, reader: IssuerReader, missing: list[str]) -> _CaCerts | None:
    certs: list[CertInfo] = []
    sources: list[str] = []
    warnings: list[str] = []
    for issuer in ca.issuers:
        source = f"{name}/{issuer}"
        pem = reader.read_issuer_pem(ca.mount, issuer)
        if pem is None:
            missing.append(f"{source} (mount {ca.mount})")
            continue
        check = check_ca_pem(pem, source)
        certs.extend(check.certs)
        sources.extend(source for _ in check.certs)
        warnings.extend(check.warnings)
    if len(certs) < len(ca.issuers) and missing:
        return None
    return _CaCerts(tuple(certs), tuple(sources), tuple(warnings))


def _pem_file(name: str, ca: PemFileCa) -> _CaCerts:
    # The text the loader read (and the plan hashed); read here only for a stack built another way.
    check = (
        check_ca_pem(ca.pem_text, str(ca.pem_file)) if ca.pem_text is not None else check_ca_file(ca.pem_file)
    )
    base = f"{name}/{ca.pem_file.name}"
    many = len(check.certs) > 1
    sources = tuple(f"{base}#{index}" if many else base for index in range(1, len(check.certs) + 1))
    return _CaCerts(check.certs, sources, check.warnings)


def _bundle(cluster: str, cas: list[tuple[str, _CaCerts]]) -> ClusterBundle:
    certs: list[CertInfo] = []
    sources: list[str] = []
    warnings: list[str] = []
    first_source: dict[str, str] = {}
    duplicates: list[Duplicate] = []
    for _name, found in cas:
        for warning in found.warnings:
            if warning not in warnings:
                warnings.append(warning)
        for info, source in zip(found.certs, found.sources, strict=True):
            if info.sha256 in first_source:
                warnings.append(
                    f"cluster {cluster}: {describe(info)} from {source} is also in "
                    f"{first_source[info.sha256]}; kept once"
                )
                duplicates.append(Duplicate(info, source, first_source[info.sha256]))
                continue
            first_source[info.sha256] = source
            certs.append(info)
            sources.append(source)
    return ClusterBundle(
        cluster, build_bundle(certs), tuple(certs), tuple(sources), tuple(warnings), tuple(duplicates)
    )
