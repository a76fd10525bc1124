"""Private keys made on this machine, and the CSR Vault signs: the key never crosses the network.

Pure: keys, PEM/PKCS#8 encodings and the CSR, no files or Vault calls. The key type and size are the
role's (`role.key_type`, `role.bits`), so `/sign/ROLE` accepts the CSR.
"""

from __future__ import annotations

from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

KeyType = Literal["rsa", "ec", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_CURVES: dict[int, ec.EllipticCurve] = {
    224: ec.SECP224R1(),
    256: ec.SECP256R1(),
    384: ec.SECP384R1(),
    521: ec.SECP521R1(),
}


def new_key(key_type: KeyType, bits: int) -> PrivateKey:
    """A fresh key of the role's type; `bits` is the RSA modulus or the EC curve size (unused for ed25519)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ec":
        return ec.generate_private_key(_CURVES[bits])
    return ed25519.Ed25519PrivateKey.generate()


def key_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM, unencrypted: what libpq, cockroach and Vault's own `/issue` answers use."""
    raw = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return raw.decode("ascii")


def load_key(pem: str) -> PrivateKey:
    """A PEM key Vault made (`--vault-keygen`), for the layouts that need it in another form."""
    key = serialization.load_pem_private_key(pem.encode("ascii"), None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"unexpected key type {type(key).__name__}")
    return key


def key_pkcs8_der(key: PrivateKey) -> bytes:
    """PKCS#8 DER: the only form pgjdbc's `sslkey` reads."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def csr_pem(key: PrivateKey, common_name: str) -> str:
    """A CSR carrying only the CN (the SQL user) and the public key; the role decides everything else."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = builder.sign(key, algorithm)
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


def public_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certifies(certificate_pem: str, key: PrivateKey) -> bool:
    """Whether the certificate is for this key (a pair): Vault must not have swapped the public key."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    ours = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ours == public_der(key)
