"""Keys made locally: the role's type and size, a CSR with only the CN, the pair check."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certs_helper import make_ca, make_leaf
from roachcert.certs import keys


@pytest.mark.parametrize(
    ("key_type", "bits", "kind", "size"),
    [
        ("rsa", 2048, rsa.RSAPrivateKey, 2048),
        ("rsa", 3072, rsa.RSAPrivateKey, 3072),
        ("ec", 256, ec.EllipticCurvePrivateKey, 256),
        ("ec", 384, ec.EllipticCurvePrivateKey, 384),
        ("ed25519", 0, ed25519.Ed25519PrivateKey, 0),
    ],
)
def test_new_key_is_the_roles_type_and_size(key_type: keys.KeyType, bits: int, kind: type, size: int) -> None:
    key = keys.new_key(key_type, bits)
    assert isinstance(key, kind)
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        assert key.key_size == size


def test_pem_and_pkcs8_der_hold_the_same_key() -> None:
    key = keys.new_key("ec", 256)
    from_pem = serialization.load_pem_private_key(keys.key_pem(key).encode(), None)
    from_der = serialization.load_der_private_key(keys.key_pkcs8_der(key), None)
    assert keys.key_pem(key).startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, not SEC1
    assert keys.public_der(from_pem) == keys.public_der(from_der) == keys.public_der(key)


@pytest.mark.parametrize("key_type", ["rsa", "ec", "ed25519"])
def test_csr_carries_the_cn_and_public_key_only(key_type: keys.KeyType) -> None:
    key = keys.new_key(key_type, {"rsa": 2048, "ec": 256, "ed25519": 0}[key_type])
    csr = keys.csr_pem(key, "app")
    request = x509.load_pem_x509_csr(csr.encode())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=app"
    assert list(request.extensions) == []
    assert "PRIVATE" not in csr


def test_certifies_tells_a_pair_from_a_mismatch() -> None:
    ca_pem, ca_key = make_ca("CA")
    mine = keys.new_key("ec", 256)
    assert isinstance(mine, ec.EllipticCurvePrivateKey)
    cert, _ = make_leaf("app", ca_pem, ca_key, public_key=mine.public_key())
    other, _ = make_leaf("app", ca_pem, ca_key)
    assert keys.certifies(cert, mine)
    assert not keys.certifies(other, mine)
