"""`init --from-cloud`: a stack file drafted from the organization's dedicated clusters (pure: the
command lists them and reads each one's client CA; this writes the text and the PEM files' contents).

Each cluster that trusts a client CA today is declared trusting exactly that CA (a `pem_file` CA written
beside the stack, one per distinct bundle): its first plan then *adopts* it (terraform import) with no
change, and nothing the cluster trusts is dropped. A comment says how to add the Vault CA next. A cluster
with no CA trusts the Vault CA `client-ca` (its first plan creates it, once `ca ensure` has run).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from roachcert.cloud.client import ClientCaStatus, ListedCluster
from roachcert.cloud.status import KNOWN_STATUSES, holds_ca, unknown_status
from roachcert.errors import PemError
from roachcert.escape import printable
from roachcert.names import is_name
from roachcert.pem import check_ca_pem

VAULT_CA = "client-ca"
MOUNT = "cockroach_client_ca"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Found:
    cluster: ListedCluster
    client_ca: ClientCaStatus


@dataclass
class Draft:
    text: str = ""
    pem_files: dict[str, str] = field(default_factory=dict)  # path relative to the stack's folder -> PEM
    notes: list[str] = field(default_factory=list)  # for stderr: what was left out, and why
    clusters: int = 0


def key_for(name: str, taken: set[str]) -> str:
    """A stack key (NAME rule) for a Cloud name: unsafe characters become '-', a leading digit gets 'c-'."""
    key = _UNSAFE.sub("-", name).strip("-")[:63] or "cluster"
    if not (key[0].isalpha() or key[0] == "_"):
        key = f"c-{key}"[:63]
    base, number = key, 2
    while key in taken or not is_name(key):
        suffix = f"-{number}"
        key, number = base[: 63 - len(suffix)] + suffix, number + 1
    taken.add(key)
    return key


def draft(found: Sequence[Found], *, source: str, cas_folder: str, today: date, name_filter: str) -> Draft:
    out = Draft()
    cas: list[str] = []
    clusters: list[str] = []
    taken_clusters: set[str] = set()
    bundles: dict[str, str] = {}  # bundle sha256 -> CA name
    for item in found:
        listed, status = item.cluster, item.client_ca
        shown = printable(listed.name)
        if not _UUID.fullmatch(listed.id) or not _HOST.fullmatch(listed.sql_dns):
            what = "no SQL host yet" if not listed.sql_dns else f"id {listed.id!r} or host {listed.sql_dns!r}"
            out.notes.append(f"note: left out cluster {shown}: {what} that a stack cannot hold")
            continue
        key = key_for(listed.name, taken_clusters)
        trust, comment = _trust(key, status, bundles, cas, out, cas_folder)
        lines = [f"  {key}:", f"    # Cloud name {shown!r}: {comment}"]
        lines += [f"    id: {listed.id}", f"    ca: [{', '.join(trust)}]", f"    host: {listed.sql_dns}"]
        if trust != [VAULT_CA]:
            lines.append(f"    # next: ca: [{', '.join(trust)}, {VAULT_CA}] trusts Vault's issuer beside it")
        lines.append("    # users: [app]   # the SQL users roachcert issues client certificates for")
        clusters.append("\n".join(lines))
    out.clusters = len(clusters)
    year_month = f"{today:%Y-%m}"
    header = [
        f"# Drafted by `roachcert init --from-cloud` on {today:%Y-%m-%d} from {source}"
        + (f" (name filter {name_filter!r})" if name_filter else ""),
        "# Clusters that trust a client CA today are declared trusting exactly it (the pem_file CAs below,",
        "# read from the Cloud API): the first plan adopts them (terraform import) and changes nothing.",
        f"# To issue certificates from Vault: `roachcert ca ensure` this file, add {VAULT_CA} to a cluster's",
        "# `ca:` list, plan and apply; remove the old CA only once no client depends on it.",
        "version: 1",
        "cas:",
        f"  {VAULT_CA}:",
        f"    mount: {MOUNT}",
        "    common_name: CockroachDB client CA",
        f"    issuers: [ca-{year_month}]",
        *cas,
        "clusters:" if clusters else "clusters: {}",
        *clusters,
    ]
    out.text = "\n".join(header) + "\n"
    return out


def _trust(
    key: str, status: ClientCaStatus, bundles: dict[str, str], cas: list[str], out: Draft, cas_folder: str
) -> tuple[list[str], str]:
    """The CAs the cluster is declared trusting, and a comment on its client CA today. The status is read
    as plan reads it (cloud.status): one none of the four is a note, never text in the draft."""
    pem = status.x509_pem_cert.strip()
    state = status.status or "NOT_SET"
    if state not in KNOWN_STATUSES:
        out.notes.append(f"note: cluster {key}: its client CA is not declared: {unknown_status(state)}")
        return [VAULT_CA], "its client CA status is unknown (see init's note): plan stops until it is known"
    if state == "PENDING":
        return [VAULT_CA], "a client CA change is PENDING: plan waits for it; run init again once it settles"
    if not holds_ca(state, pem):
        return [VAULT_CA], f"no client CA ({state}): the first plan sets {VAULT_CA}"
    try:
        certs = check_ca_pem(pem + "\n", f"the client CA of {key}").certs
    except PemError as exc:
        out.notes.append(f"note: cluster {key}: its client CA is not declared: {exc}")
        return [VAULT_CA], (
            "trusts a CA roachcert cannot use (see init's note): apply refuses to drop it without "
            "--allow-replace-ca"
        )
    digest = hashlib.sha256("".join(info.sha256 for info in certs).encode()).hexdigest()
    name = bundles.get(digest)
    if name is None:
        name = bundles[digest] = f"current-{key}"[:63]
        path = f"{cas_folder}/{name}.pem"
        out.pem_files[path] = "".join(info.pem for info in certs)
        described = "; ".join(
            f"{printable(info.subject)} sha256 {info.short_fingerprint} until {info.not_after:%Y-%m-%d}"
            for info in certs
        )
        cas += [f"  {name}:", f"    # trusted by {key} today: {described}", f"    pem_file: {path}"]
    return [name], f"client CA {state}, declared as {name} so the first plan adopts it unchanged"
