"""Certificates and keys made at test time, so no key material ever sits in the repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = CertificatePublicKeyTypes
KeyType = Literal["ec", "rsa"]


def new_key(key_type: KeyType = "ec") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> str:
    """The key as an unencrypted PKCS#8 PEM block (for tests of "a key where a cert belongs")."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(cn: str, empty: bool = False) -> x509.Name:
    return x509.Name([]) if empty else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _window(days: int, not_before: datetime | None, not_after: datetime | None) -> tuple[datetime, datetime]:
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    return start, not_after or start + timedelta(days=days)


def make_ca(
    cn: str,
    days: int = 365,
    ca: bool = True,
    key_type: KeyType = "ec",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    subject_empty: bool = False,
    signer: tuple[str, PrivateKey] | None = None,
    basic_constraints: bool = True,
) -> tuple[str, PrivateKey]:
    """A CA certificate (self-signed unless `signer` is a (pem, key) pair) and its key.

    `ca=False` writes basicConstraints CA:FALSE; `basic_constraints=False` leaves the extension out.
    """
    key = new_key(key_type)
    start, end = _window(days, not_before, not_after)
    subject = _name(cn, subject_empty)
    issuer, signing_key = subject, key
    if signer is not None:
        issuer = x509.load_pem_x509_certificate(signer[0].encode()).subject
        signing_key = signer[1]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = builder.add_extension(identifier, critical=False)
    return cert_pem(builder.sign(signing_key, hashes.SHA256())), key


def make_leaf(
    cn: str,
    ca_pem: str,
    ca_key: PrivateKey,
    days: int = 2,
    key_type: KeyType = "ec",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    public_key: PublicKey | None = None,
) -> tuple[str, PrivateKey]:
    """A client certificate (CN = SQL user, like CockroachDB expects) signed by the given CA; for
    `public_key` (a CSR's) when given, else for a new key."""
    key = new_key(key_type)
    start, end = _window(days, not_before, not_after)
    issuer = x509.load_pem_x509_certificate(ca_pem.encode()).subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(public_key or key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert_pem(cert), key


def make_csr(cn: str, key: PrivateKey | None = None) -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(cn))
        .sign(key or new_key(), hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")
