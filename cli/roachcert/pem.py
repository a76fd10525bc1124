"""PEM checks for CA sources: only X.509 certificates, each a usable CA; the usual mistakes named."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roachcert.errors import PemError
from roachcert.escape import printable, quoted

# cryptography is imported where a certificate is parsed: checking a stack file without PEM files, and
# every command that parses none, start without it.
if TYPE_CHECKING:
    from cryptography import x509

EXPIRY_WARNING = timedelta(days=30)
MAX_FILE_BYTES = 1 << 20

_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 #/_-]+)-----$")
_END = re.compile(r"^-----END ([A-Z0-9 #/_-]+)-----$")
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
_ANY_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_ESCAPED_NEWLINES = re.compile(r"-----BEGIN [A-Z0-9 ]+-----\\n")

# What a non-certificate block is, and what to do instead.
_CSR = "a certificate signing request (CSR), not a certificate; use the certificate the CA issued for it"
_PUBLIC_KEY = "a public key, not a certificate; use the CA's certificate"
_OTHER_BLOCKS = {
    "CERTIFICATE REQUEST": _CSR,
    "NEW CERTIFICATE REQUEST": _CSR,
    "TRUSTED CERTIFICATE": "an OpenSSL TRUSTED CERTIFICATE; convert it: openssl x509 -in FILE -out ca.pem",
    "PUBLIC KEY": _PUBLIC_KEY,
    "RSA PUBLIC KEY": _PUBLIC_KEY,
    "X509 CRL": "a certificate revocation list, not a certificate; use the CA's certificate",
    "PKCS7": "a PKCS#7 bundle; extract the certificates with `openssl pkcs7 -print_certs -in FILE`",
}


@dataclass(frozen=True)
class CertInfo:
    pem: str  # canonical PEM (cryptography's encoding), ends with "\n"
    subject: str  # RFC 4514
    subject_cn: str  # "" if none
    issuer_cn: str
    sha256: str  # lowercase hex, no colons
    not_before: datetime  # tz-aware UTC
    not_after: datetime
    is_ca: bool

    @property
    def short_fingerprint(self) -> str:
        return self.sha256[:16]


@dataclass(frozen=True)
class CaCheck:
    certs: tuple[CertInfo, ...]
    warnings: tuple[str, ...]


def certificate_bodies(pem: str | None) -> list[str]:
    """The base64 body of each CERTIFICATE block, whitespace removed, in order: what tells two
    bundles' certificates apart whatever their line breaks (no parsing, so no cryptography)."""
    return ["".join(body.split()) for body in _CERT_BLOCK.findall(pem or "")]


def count_certificates(pem: str | None) -> int:
    return len(_CERT_BLOCK.findall(pem or ""))


def cert_info(pem_or_cert: str | bytes | x509.Certificate) -> CertInfo:
    """Facts about one certificate, given as an object or as PEM text holding exactly one."""
    if not isinstance(pem_or_cert, str | bytes):
        return _info(pem_or_cert, "certificate", 0)
    text = pem_or_cert.decode("utf-8", "replace") if isinstance(pem_or_cert, bytes) else pem_or_cert
    certs = parse_certificates(text, "certificate")
    if len(certs) != 1:
        raise PemError(f"certificate: expected one certificate, found {len(certs)}")
    return certs[0]


def parse_certificates(text: str, source: str) -> tuple[CertInfo, ...]:
    """Every certificate in `text`, in order; PemError if it holds anything else."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise PemError(f"{source}: is empty; expected one or more -----BEGIN CERTIFICATE----- blocks")
    if text.lstrip()[:1] in ("{", "["):
        raise PemError(f"{source}: {_json_mistake(text)}")
    key = _ANY_PRIVATE_KEY.search(text)
    if key is not None:
        line = text.count("\n", 0, key.start()) + 1
        raise PemError(
            f"{source}: line {line}: holds a private key; a CA source must hold only certificates: "
            "remove the key block and keep the key secret"
        )
    if _ESCAPED_NEWLINES.search(text):
        raise PemError(
            f"{source}: the PEM has literal \\n sequences instead of line breaks (copied out of JSON?); "
            "write it with real line breaks, e.g. with `jq -r`"
        )
    return tuple(_decode(label, body, source, line) for label, body, line in _blocks(text, source))


def _json_mistake(text: str) -> str:
    try:
        document: Any = json.loads(text)
    except ValueError:
        return "looks like JSON, not PEM; a CA source holds only -----BEGIN CERTIFICATE----- blocks"
    if isinstance(document, dict) and "x509_pem_cert" in document:
        return (
            "this is the JSON request body for the Cloud API, not a PEM file; use the certificate inside it "
            "(`jq -r .x509_pem_cert FILE > ca.pem`)"
        )
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict) and {"certificate", "issuing_ca", "ca_chain"} & data.keys():
        secret = "private_key" in data
        return (
            "this is Vault's JSON output, not a PEM file; use the certificate inside it "
            "(`jq -r .data.certificate FILE > ca.pem`)"
            + ("; it also holds a private key: keep this file secret" if secret else "")
        )
    return "is JSON, not PEM; a CA source holds only -----BEGIN CERTIFICATE----- blocks"


def _blocks(text: str, source: str) -> list[tuple[str, list[str], int]]:
    """(label, base64 lines, line of BEGIN) for each block; PemError on anything between or broken."""
    lines = [raw.strip() for raw in text.splitlines()]
    first_boundary = next((n for n, line in enumerate(lines, 1) if line.startswith("-----")), 0)
    if first_boundary and _END.match(lines[first_boundary - 1]):  # a cut-off start, not stray base64
        first_end = first_boundary
        raise PemError(_unopened(source, first_end, lines[first_end - 1]))
    blocks: list[tuple[str, list[str], int]] = []
    body: list[str] = []
    label, start = "", 0
    for number, line in enumerate(lines, start=1):
        begin, end = _BEGIN.match(line), _END.match(line)
        if label:
            if begin is not None:
                raise PemError(_truncated(source, label, start))
            if end is not None:
                if end.group(1) != label:
                    raise PemError(
                        f"{source}: line {number}: END {end.group(1)} closes the BEGIN {label} "
                        f"of line {start}; the file is damaged"
                    )
                blocks.append((label, body, start))
                label, body = "", []
            else:
                body.append(line)
        elif begin is not None:
            label, body, start = begin.group(1), [], number
        elif end is not None:
            raise PemError(_unopened(source, number, line))
        elif line.startswith("-----"):
            raise PemError(
                f"{source}: line {number}: malformed PEM boundary; it should read "
                "-----BEGIN CERTIFICATE----- or -----END CERTIFICATE-----"
            )
        elif line:
            raise PemError(
                f"{source}: line {number}: text outside the PEM blocks; a CA source holds only "
                "-----BEGIN CERTIFICATE----- blocks: remove the other text"
            )
    if label:
        raise PemError(_truncated(source, label, start))
    if not blocks:
        raise PemError(f"{source}: holds no PEM block; expected -----BEGIN CERTIFICATE-----")
    return blocks


def _unopened(source: str, number: int, line: str) -> str:
    return (
        f"{source}: line {number}: {line.strip('-')} without a BEGIN line (cut off at the start?); "
        "copy the whole certificate"
    )


def _truncated(source: str, label: str, start: int) -> str:
    return (
        f"{source}: line {start}: the {label} block has no END line (truncated?); "
        f"copy the whole certificate, through -----END {label}-----"
    )


def _decode(label: str, body: list[str], source: str, line: int) -> CertInfo:
    if label != "CERTIFICATE":
        what = _OTHER_BLOCKS.get(label, f"a {label} block; only CERTIFICATE blocks belong in a CA source")
        raise PemError(f"{source}: line {line}: is {what}")
    try:
        der = base64.b64decode("".join(body), validate=True)
        if not der:
            raise ValueError("empty")
    except (binascii.Error, ValueError):
        raise PemError(
            f"{source}: line {line}: the certificate is not valid base64 (garbled or edited?); "
            "copy it again from its source"
        ) from None
    from cryptography import x509  # lazy: only a parsed certificate needs it

    try:
        certificate = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):
        raise PemError(
            f"{source}: line {line}: the block does not decode to an X.509 certificate (damaged?); "
            "copy it again from its source"
        ) from None
    return _info(certificate, source, line)


def _info(certificate: x509.Certificate, source: str, line: int) -> CertInfo:
    from cryptography import x509  # lazy: only a parsed certificate needs it
    from cryptography.hazmat.primitives import hashes, serialization  # lazy: as above

    try:
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
            is_ca = bool(constraints.value.ca)
        except x509.ExtensionNotFound:
            is_ca = False
        return CertInfo(
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            subject=certificate.subject.rfc4514_string(),
            subject_cn=_cn(certificate.subject),
            issuer_cn=_cn(certificate.issuer),
            sha256=certificate.fingerprint(hashes.SHA256()).hex(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            is_ca=is_ca,
        )
    except (ValueError, x509.DuplicateExtension) as exc:  # extensions and names are parsed lazily
        where = f"line {line}: " if line else ""
        raise PemError(f"{source}: {where}the certificate is malformed ({exc}); re-create it") from None


def _cn(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID  # lazy: as above

    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return ""
    value = values[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def describe(info: CertInfo) -> str:
    """How a certificate is named in messages: its CN (or subject) and short fingerprint."""
    name = (
        quoted(info.subject_cn) if info.subject_cn else (printable(info.subject) or "with an empty subject")
    )
    return f"certificate {name} (sha256 {info.short_fingerprint})"


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_ca_pem(text: str, source: str, now: datetime | None = None) -> CaCheck:
    """The certificates of a CA source if every one is a usable, distinct CA; PemError otherwise."""
    now = _utc(now)
    certs = parse_certificates(text, source)
    errors: list[str] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for index, info in enumerate(certs, start=1):
        if info.sha256 in seen:
            errors.append(
                f"{describe(info)} appears twice (certificates {seen[info.sha256]} and {index}); "
                "keep one copy"
            )
            continue
        seen[info.sha256] = index
        if not info.is_ca:
            errors.append(
                f"{describe(info)} is not a CA (no basicConstraints CA:TRUE); use the CA's own certificate, "
                "not a client or server certificate it signed"
            )
        if not info.subject:
            errors.append(
                f"{describe(info)} has an empty subject, which verifiers reject; re-create the CA with a "
                "common name (Vault: set common_name when generating the issuer)"
            )
        if info.not_after <= now:
            errors.append(
                f"{describe(info)} expired on {_date(info.not_after)}; remove it, and trust a current CA"
            )
        elif info.not_after - now <= EXPIRY_WARNING:
            days = (info.not_after - now).days
            warnings.append(
                f"{source}: CA {describe(info)} expires on {_date(info.not_after)} (in {days} days); "
                "rotate to a new issuer before then"
            )
        if info.not_before > now:
            warnings.append(
                f"{source}: CA {describe(info)} is not valid until {_date(info.not_before)}; check the clock"
            )
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise PemError(f"{source}: {errors[0]}{more}")
    return CaCheck(certs=certs, warnings=tuple(warnings))


def check_ca_file(path: Path, now: datetime | None = None) -> CaCheck:
    return check_ca_pem(read_ca_file(path), str(path), now)


def read_ca_file(path: Path) -> str:
    """A CA file's text, read once (a pipe, a device, a folder, binary DER or >1 MiB: one-line errors)."""
    try:
        # A pipe or device (`/dev/stdin`, a FIFO) would block the read or never end: only regular files.
        if path.exists() and not path.is_dir() and not path.is_file():
            raise PemError(f"{path}: is not a regular file (a pipe or a device?); name the CA's PEM file")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PemError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PemError(f"{path}: is a directory; name the PEM file of the CA certificate") from None
    except OSError as exc:
        raise PemError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise PemError(f"{path}: is larger than 1 MiB; a CA file holds a few KB of PEM certificates")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if data[:1] == b"\x30":
            raise PemError(
                f"{path}: is binary DER, not PEM; convert it: openssl x509 -inform der -in {path} -out ca.pem"
            ) from None
        raise PemError(f"{path}: is not a text file; expected PEM certificates") from None
    return text


def build_bundle(certs: Iterable[CertInfo]) -> str:
    """The certificates in order, duplicates dropped, a blank line between each (the product doc asks)."""
    seen: set[str] = set()
    pems: list[str] = []
    for info in certs:
        if info.sha256 not in seen:
            seen.add(info.sha256)
            pems.append(info.pem.rstrip("\n") + "\n")
    if not pems:
        raise PemError("a CA bundle needs at least one certificate")
    return "\n".join(pems)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
