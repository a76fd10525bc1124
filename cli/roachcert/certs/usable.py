"""Whether a folder's client pair can be used, beyond its dates: the one judgement `certs` and `renew`
share. Usable means: key and certificate are links resolving inside the user's pair folder (or plain
files), the key is the certificate's, the certificate names the user (CN), and its issuer (read from the
delivered inventory by serial) is still one the stack declares for the cluster. A backup restore with
an older key, a `.crt` pointing at another user's certificate, an issuer dropped by an emergency
rotation: each is a folder that looks fresh by its dates and fails at the first login.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from roachcert.certs import inventory, keys, pairs
from roachcert.certs.issue import client_files
from roachcert.pem import CertInfo, cert_info
from roachcert.spec import Stack, VaultCa


@dataclass(frozen=True)
class Verdict:
    info: CertInfo | None  # the certificate on disk; None when missing or unreadable
    complete: bool  # key and certificate both there
    problem: str = ""  # why the folder cannot be used; "" when it can (or is simply missing)
    repairable: bool = True  # a re-issue replaces only what roachcert put there

    @property
    def usable(self) -> bool:
        return self.complete and self.info is not None and not self.problem


def normal_serial(serial: str) -> str:
    return serial.replace(":", "").replace("-", "").lower().lstrip("0")


def issuers_by_serial(deliveries: Iterable[inventory.Delivery]) -> dict[str, str]:
    """normalised serial -> MOUNT/ISSUER that signed it, for every delivered certificate."""
    return {normal_serial(d.serial): d.issuer for d in deliveries if d.delivered and d.serial and d.issuer}


def trusts(stack: Stack, cluster: str, issuer: str) -> bool | None:
    """Whether the stack still declares `issuer` (MOUNT/ISSUER) for the cluster; None when unknown."""
    if not issuer or cluster not in stack.clusters:
        return None
    mount, _, name = issuer.partition("/")
    return any(
        isinstance(ca, VaultCa) and ca.mount == mount and name in ca.issuers
        for _ca_name, ca in stack.cluster_cas(cluster)
    )


def judge(stack: Stack, cluster: str, user: str, folder: Path, issuers: Mapping[str, str]) -> Verdict:
    """What the folder holds for `user`, and why it cannot be used (if it cannot)."""
    paths = client_files(folder, user)
    for path, stored in ((paths.key, "client.key"), (paths.cert, "client.crt")):
        if path.is_symlink() and not pairs.links_into(path, folder, user):
            return Verdict(
                None,
                paths.key.exists() and paths.cert.exists(),
                f"{path.name} links outside .roachcert-pairs/{user} (to {os.path.realpath(path)})",
                # Our link through a `current` that leads elsewhere: a switch repairs it. A link someone
                # pointed elsewhere is not roachcert's to replace.
                repairable=pairs.is_our_link(path, user, stored),
            )
    try:
        text = paths.cert.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return Verdict(None, False)  # missing: due, not unusable
    complete = paths.key.exists()
    try:
        info = cert_info(text)
        serial = x509.load_pem_x509_certificate(info.pem.encode("ascii")).serial_number
    except ValueError:
        return Verdict(None, complete, f"{paths.cert.name} holds no readable certificate")
    if info.subject_cn != user:
        return Verdict(info, complete, f"{paths.cert.name} is for CN={info.subject_cn!r}, not {user!r}")
    if complete:
        problem = _key_problem(paths.key, info)
        if problem:
            return Verdict(info, complete, problem)
    issuer = issuers.get(normal_serial(f"{serial:x}"), "")
    if trusts(stack, cluster, issuer) is False:
        return Verdict(info, complete, f"its issuer {issuer} is no longer trusted by cluster {cluster}")
    return Verdict(info, complete)


def _key_problem(key_path: Path, info: CertInfo) -> str:
    try:
        raw = key_path.read_bytes()
    except OSError:
        return ""  # not ours to read (`certs` run by a monitoring user): nothing to tell from it
    key: object = None
    with contextlib.suppress(ValueError, TypeError):
        key = serialization.load_pem_private_key(raw, None)
    if not isinstance(key, keys.PrivateKey):
        return f"{key_path.name} holds no readable private key"
    if not keys.certifies(info.pem, key):
        return f"{key_path.name} is not the key of {key_path.with_suffix('.crt').name} (not one pair)"
    return ""
