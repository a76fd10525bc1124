from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs_helper import PrivateKey, key_pem, make_ca, make_csr, make_leaf, new_key
from roachcert.errors import PemError
from roachcert.pem import (
    EXPIRY_WARNING,
    CertInfo,
    build_bundle,
    cert_info,
    check_ca_file,
    check_ca_pem,
    parse_certificates,
)

SOURCE = "vault issuer ca-2026a"


@pytest.fixture(scope="module")
def ca() -> tuple[str, PrivateKey]:
    return make_ca("Example Co CockroachDB client CA")


@pytest.fixture(scope="module")
def ca2() -> tuple[str, PrivateKey]:
    return make_ca("Example Co CockroachDB client CA 2027", key_type="rsa")


def _error(text: str, source: str = SOURCE, now: datetime | None = None) -> str:
    with pytest.raises(PemError) as caught:
        check_ca_pem(text, source, now=now)
    message = str(caught.value)
    assert message.startswith(f"{source}: "), message
    assert "\n" not in message
    return message


def _der_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


# --- what a certificate's facts are


def test_cert_info_reports_subject_issuer_fingerprint_dates_and_ca_flag(ca: tuple[str, PrivateKey]) -> None:
    info = cert_info(ca[0])
    der = x509.load_pem_x509_certificate(ca[0].encode()).public_bytes(serialization.Encoding.DER)
    assert info.subject == "CN=Example Co CockroachDB client CA"
    assert info.subject_cn == info.issuer_cn == "Example Co CockroachDB client CA"
    assert info.sha256 == hashlib.sha256(der).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", info.sha256)
    assert info.short_fingerprint == info.sha256[:16]
    assert info.not_before.tzinfo is not None
    assert info.not_before.utcoffset() == timedelta(0)
    assert info.not_after - info.not_before == timedelta(days=365)
    assert info.is_ca
    assert info.pem == ca[0]
    assert info.pem.endswith("-----END CERTIFICATE-----\n")


def test_cert_info_accepts_a_certificate_object_and_bytes(ca: tuple[str, PrivateKey]) -> None:
    certificate = x509.load_pem_x509_certificate(ca[0].encode())
    assert cert_info(certificate) == cert_info(ca[0].encode()) == cert_info(ca[0])


def test_cert_info_refuses_text_with_two_certificates(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    with pytest.raises(PemError, match="expected one certificate, found 2"):
        cert_info(ca[0] + ca2[0])


def test_leaf_certificate_is_not_a_ca_and_names_its_issuer(ca: tuple[str, PrivateKey]) -> None:
    leaf = cert_info(make_leaf("app", *ca)[0])
    assert not leaf.is_ca
    assert leaf.subject_cn == "app"
    assert leaf.issuer_cn == "Example Co CockroachDB client CA"


def test_pem_is_re_encoded_canonically_whatever_the_line_width_and_line_ends(
    ca: tuple[str, PrivateKey],
) -> None:
    body = _der_body(ca[0])
    wide = "\r\n".join(
        ["-----BEGIN CERTIFICATE-----", *re.findall(".{1,76}", body), "-----END CERTIFICATE-----"]
    )
    (info,) = parse_certificates("\ufeff\n  " + wide + "\r\n\r\n", SOURCE)
    assert info.pem == ca[0]


def test_parse_keeps_every_certificate_in_order(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    certs = parse_certificates(ca2[0] + "\n" + ca[0], SOURCE)
    assert [c.pem for c in certs] == [ca2[0], ca[0]]


def test_an_rsa_ca_passes(ca2: tuple[str, PrivateKey]) -> None:
    assert check_ca_pem(ca2[0], SOURCE).certs[0].is_ca


# --- the common mistakes, each named


@pytest.mark.parametrize("text", ["", "   \n\n\t\n"])
def test_empty_source_is_refused(text: str) -> None:
    assert "is empty" in _error(text)


def test_cloud_api_json_body_is_named_as_such(ca: tuple[str, PrivateKey]) -> None:
    # The product doc's Terraform example passes exactly this file as x509_pem_cert.
    message = _error(json.dumps({"x509_pem_cert": ca[0]}, indent=2))
    assert (
        "this is the JSON request body for the Cloud API, not a PEM file; use the certificate inside it"
        in message
    )


def test_vault_json_output_is_named_and_its_private_key_flagged(ca: tuple[str, PrivateKey]) -> None:
    output = {
        "request_id": "1",
        "data": {"certificate": ca[0], "issuing_ca": ca[0], "private_key": key_pem(ca[1])},
    }
    message = _error(json.dumps(output))
    assert "this is Vault's JSON output, not a PEM file" in message
    assert ".data.certificate" in message
    assert "holds a private key" in message
    assert "PRIVATE KEY-----" not in message
    assert _der_body(key_pem(ca[1]))[:20] not in message


def test_vault_json_without_a_key_does_not_mention_one(ca: tuple[str, PrivateKey]) -> None:
    message = _error(json.dumps({"data": {"certificate": ca[0], "issuer_id": "x"}}))
    assert "Vault's JSON output" in message
    assert "private key" not in message


@pytest.mark.parametrize("text", ['{"certs": []}', "[1, 2]", '{"x509_pem_cert": "-----BEGIN'])
def test_other_json_is_refused_as_json(text: str) -> None:
    assert "JSON, not PEM" in _error(text)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_private_key_is_refused_without_echoing_it(ca: tuple[str, PrivateKey], key_type: str) -> None:
    key = new_key("rsa" if key_type == "rsa" else "ec")
    traditional = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    for text in (key_pem(key), ca[0] + "\n" + traditional):
        message = _error(text)
        assert "holds a private key" in message
        assert "keep the key secret" in message
        assert _der_body(text.split("-----END CERTIFICATE-----")[-1])[:16] not in message


def test_private_key_line_is_named(ca: tuple[str, PrivateKey]) -> None:
    text = ca[0] + "\n" + key_pem(new_key())
    line = ca[0].count("\n") + 2
    assert f"line {line}: holds a private key" in _error(text)


def test_csr_is_named_as_a_csr() -> None:
    message = _error(make_csr("Example CA"))
    assert "line 1: is a certificate signing request (CSR), not a certificate" in message


def test_public_key_is_named() -> None:
    public = (
        new_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert "a public key, not a certificate" in _error(public)


def test_unknown_block_is_named_by_its_label() -> None:
    assert "a DH PARAMETERS block" in _error(
        "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n"
    )


def test_truncated_certificate_is_named(ca: tuple[str, PrivateKey]) -> None:
    cut = "\n".join(ca[0].splitlines()[:5]) + "\n"
    message = _error(cut)
    assert "line 1: the CERTIFICATE block has no END line (truncated?)" in message


def test_a_begin_inside_a_block_means_the_block_was_cut(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    cut = "\n".join(ca[0].splitlines()[:5]) + "\n" + ca2[0]
    assert "line 1: the CERTIFICATE block has no END line" in _error(cut)


def test_end_without_begin_is_named(ca: tuple[str, PrivateKey]) -> None:
    cut = "\n".join(ca[0].splitlines()[3:])
    assert f"line {cut.count(chr(10)) + 1}: END CERTIFICATE without a BEGIN line" in _error(cut)


def test_mismatched_end_is_named(ca: tuple[str, PrivateKey]) -> None:
    text = ca[0].replace("-----END CERTIFICATE-----", "-----END PUBLIC KEY-----")
    assert "END PUBLIC KEY closes the BEGIN CERTIFICATE of line 1" in _error(text)


def test_malformed_boundary_is_named(ca: tuple[str, PrivateKey]) -> None:
    text = ca[0].replace("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE----")
    assert "line 1: malformed PEM boundary" in _error(text)


def test_garbled_base64_is_named(ca: tuple[str, PrivateKey]) -> None:
    lines = ca[0].splitlines()
    lines[2] = lines[2][:10] + "*" + lines[2][11:]
    assert "line 1: the certificate is not valid base64" in _error("\n".join(lines))


def test_base64_that_is_not_a_certificate_is_named() -> None:
    body = base64.b64encode(b"not a certificate at all").decode()
    text = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    assert "does not decode to an X.509 certificate" in _error(text)


def test_empty_block_is_named() -> None:
    assert "not valid base64" in _error("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")


def test_text_outside_the_blocks_is_refused_with_its_line(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    lines = ca[0].count("\n")
    cases = [
        ("subject=CN = Example CA\n" + ca[0], 1),
        (ca[0] + "\nissuer=CN = Example CA\n", lines + 2),
        (ca[0] + "Bag Attributes\n" + ca2[0], lines + 1),
    ]
    for text, line in cases:
        assert f"line {line}: text outside the PEM blocks" in _error(text)


def test_literal_backslash_n_copied_out_of_json_is_named(ca: tuple[str, PrivateKey]) -> None:
    assert "literal \\n sequences" in _error(ca[0].replace("\n", "\\n"))


def test_source_with_no_block_at_all_is_refused() -> None:
    assert "text outside the PEM blocks" in _error("just some words\n")


# --- the CA rules


def test_a_client_certificate_is_not_a_ca(ca: tuple[str, PrivateKey]) -> None:
    leaf = make_leaf("app", *ca)[0]
    message = _error(leaf)
    assert "certificate 'app' (sha256 " in message
    assert "is not a CA (no basicConstraints CA:TRUE)" in message


@pytest.mark.parametrize("basic_constraints", [True, False])
def test_ca_false_or_missing_basic_constraints_is_refused(basic_constraints: bool) -> None:
    pem, _ = make_ca("Not a CA", ca=False, basic_constraints=basic_constraints)
    assert "is not a CA" in _error(pem)


def test_an_empty_subject_is_refused() -> None:
    pem, _ = make_ca("", subject_empty=True)
    message = _error(pem)
    assert "has an empty subject" in message
    assert "common name" in message


def test_an_expired_ca_is_an_error_with_its_date() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    pem, _ = make_ca("Old CA", not_before=start, not_after=start + timedelta(days=30))
    message = _error(pem)
    assert "certificate 'Old CA'" in message
    assert "expired on 2024-01-31 00:00 UTC" in message


def test_a_ca_expiring_within_30_days_passes_with_a_warning(ca: tuple[str, PrivateKey]) -> None:
    info = cert_info(ca[0])
    now = info.not_after - EXPIRY_WARNING + timedelta(hours=1)
    check = check_ca_pem(ca[0], SOURCE, now=now)
    (warning,) = check.warnings
    assert warning.startswith(f"{SOURCE}: ")
    assert "'Example Co CockroachDB client CA'" in warning
    assert info.short_fingerprint in warning
    assert info.not_after.strftime("%Y-%m-%d") in warning
    assert "in 29 days" in warning


def test_a_ca_expiring_in_more_than_30_days_has_no_warning(ca: tuple[str, PrivateKey]) -> None:
    info = cert_info(ca[0])
    assert (
        check_ca_pem(ca[0], SOURCE, now=info.not_after - EXPIRY_WARNING - timedelta(hours=1)).warnings == ()
    )


def test_a_ca_not_yet_valid_passes_with_a_warning() -> None:
    pem, _ = make_ca("Future CA", not_before=datetime.now(UTC) + timedelta(days=2))
    (warning,) = check_ca_pem(pem, SOURCE).warnings
    assert "is not valid until" in warning


def test_naive_now_is_taken_as_utc(ca: tuple[str, PrivateKey]) -> None:
    info = cert_info(ca[0])
    naive = (info.not_after + timedelta(seconds=1)).replace(tzinfo=None)
    assert "expired on" in _error(ca[0], now=naive)


def test_a_duplicate_certificate_is_an_error_naming_its_fingerprint(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    message = _error(ca[0] + "\n" + ca2[0] + "\n" + ca[0])
    assert cert_info(ca[0]).short_fingerprint in message
    assert "appears twice (certificates 1 and 3)" in message


def test_several_problems_report_the_first_and_count_the_rest(ca: tuple[str, PrivateKey]) -> None:
    empty, _ = make_ca("", subject_empty=True)
    leaf = make_leaf("app", *ca)[0]
    message = _error(leaf + "\n" + empty)
    assert "certificate 'app'" in message
    assert message.endswith("(and 1 more problems)")


def test_a_good_bundle_passes_with_certs_in_order(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    check = check_ca_pem(ca[0] + "\n" + ca2[0], SOURCE)
    assert [c.subject_cn for c in check.certs] == [
        "Example Co CockroachDB client CA",
        "Example Co CockroachDB client CA 2027",
    ]
    assert check.warnings == ()


def test_an_intermediate_ca_passes(ca: tuple[str, PrivateKey]) -> None:
    pem, _ = make_ca("Intermediate", signer=ca)
    (info,) = check_ca_pem(pem, SOURCE).certs
    assert info.issuer_cn == "Example Co CockroachDB client CA"
    assert info.is_ca


# --- files


def test_check_ca_file_names_the_path(tmp_path: Path, ca: tuple[str, PrivateKey]) -> None:
    path = tmp_path / "ca.json"
    path.write_text(json.dumps({"x509_pem_cert": ca[0]}))
    with pytest.raises(PemError, match=rf"^{re.escape(str(path))}: this is the JSON request body"):
        check_ca_file(path)
    good = tmp_path / "ca.pem"
    good.write_text(ca[0])
    assert check_ca_file(good).certs == (cert_info(ca[0]),)


def test_check_ca_file_refuses_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(PemError, match="no such file"):
        check_ca_file(tmp_path / "absent.pem")
    with pytest.raises(PemError, match="is a directory"):
        check_ca_file(tmp_path)


def test_check_ca_file_names_der_and_suggests_the_conversion(
    tmp_path: Path, ca: tuple[str, PrivateKey]
) -> None:
    path = tmp_path / "ca.der"
    path.write_bytes(x509.load_pem_x509_certificate(ca[0].encode()).public_bytes(serialization.Encoding.DER))
    with pytest.raises(PemError, match="is binary DER, not PEM; convert it: openssl x509 -inform der"):
        check_ca_file(path)


def test_check_ca_file_refuses_other_binary_and_huge_files(tmp_path: Path) -> None:
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(PemError, match="is not a text file"):
        check_ca_file(binary)
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"\n" * (2 << 20))
    with pytest.raises(PemError, match="larger than 1 MiB"):
        check_ca_file(huge)


# --- bundles


def test_bundle_has_one_blank_line_between_certs_and_one_trailing_newline(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    bundle = build_bundle([cert_info(ca2[0]), cert_info(ca[0])])
    assert bundle == ca2[0] + "\n" + ca[0]
    assert bundle.count("-----END CERTIFICATE-----\n\n-----BEGIN CERTIFICATE-----") == 1
    assert bundle.endswith("-----END CERTIFICATE-----\n")
    assert not bundle.endswith("\n\n")


def test_bundle_drops_duplicates_and_keeps_first_order(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    a, b = cert_info(ca[0]), cert_info(ca2[0])
    assert build_bundle([a, b, a, b]) == build_bundle([a, b])
    assert build_bundle([b, a, b]).startswith(b.pem)


def test_bundle_of_one_cert_is_that_cert(ca: tuple[str, PrivateKey]) -> None:
    assert build_bundle([cert_info(ca[0])]) == ca[0]


def test_bundle_round_trips_through_the_checks(
    ca: tuple[str, PrivateKey], ca2: tuple[str, PrivateKey]
) -> None:
    infos = (cert_info(ca[0]), cert_info(ca2[0]))
    assert check_ca_pem(build_bundle(infos), SOURCE).certs == infos


def test_bundle_normalises_a_non_canonical_pem_field(ca: tuple[str, PrivateKey]) -> None:
    info = cert_info(ca[0])
    sloppy = CertInfo(**{**info.__dict__, "pem": info.pem + "\n\n"})
    assert build_bundle([sloppy]) == ca[0]


def test_empty_bundle_is_refused() -> None:
    with pytest.raises(PemError, match="at least one certificate"):
        build_bundle([])
