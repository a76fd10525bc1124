"""What a Vault answer must look like: JSON objects of Vault's shapes. Each check names the request and shows
a short, printable preview of what came back instead, as one `VaultError` line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from cryptography import x509

from roachcert import outside_json
from roachcert.errors import VaultError
from roachcert.escape import printable
from roachcert.mask import Mask, masked_strings, without_environment


def json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer as a JSON object when it is one, served as JSON, of plain checked JSON (not nested
    too deep, valid Unicode: outside_json); else None."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return None
    try:
        body = outside_json.loads(response.content)
    except outside_json.NotJson:
        return None
    return body if isinstance(body, dict) else None


def answer(response: requests.Response, mask: Mask = without_environment) -> str:
    """What came back, short and printable: `404 text/html '<html>…'`. Masked before it is cut: a token
    echoed across the cut would be found no more."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    text = " ".join(mask(response.content[:4096].decode("utf-8", "replace")).split())
    preview = f" {printable(text[:60])!r}" if text else " (empty)"
    return f"{response.status_code} {printable(kind)}{preview}"


def is_health(body: Mapping[str, Any]) -> bool:
    return (
        isinstance(body.get("initialized"), bool)
        and isinstance(body.get("sealed"), bool)
        and isinstance(body.get("version"), str)
    )


def _without_keys(body: Any) -> Any:
    """The answer as shown in a message: a private key's value never (a preview would cut its PEM
    block short, where masking no longer recognises it)."""
    if isinstance(body, dict):
        return {k: "***" if k == "private_key" else _without_keys(v) for k, v in body.items()}
    return body


def shape_error(what: str, body: Any, wanted: str) -> VaultError:
    # Masked before it is encoded and cut (the token in use is a learnt secret: the mask knows it).
    shown = printable(outside_json.dumps_short(masked_strings(_without_keys(body), without_environment), 80))
    return VaultError(f"{what} answered without {wanted} (got {shown}): is this Vault's PKI API?")


def data_of(body: Mapping[str, Any], what: str) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise shape_error(what, body, "a `data` object")
    return data


def text_of(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise shape_error(what, data, f"a text `{key}`")
    return value


def int_of(data: Mapping[str, Any], key: str, what: str, default: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise shape_error(what, data, f"a number `{key}`")
    try:
        return int(value or 0)
    except ValueError:
        raise shape_error(what, data, f"a number `{key}`") from None


# Issuer IDs (UUIDs), issuer names, serials (hex with colons or dashes): each goes into a request path next,
# so a name with a slash, a dot-dot or a line break is not Vault's.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def is_name(text: object) -> bool:
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def names_of(data: Mapping[str, Any], key: str, what: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(
        isinstance(item, str) and _NAME.fullmatch(item) for item in value
    ):
        raise shape_error(what, data, f"a list of names `{key}`")
    return value


def pem_of(data: Mapping[str, Any], key: str, what: str) -> str:
    """A text `key` that holds a PEM certificate (what every later parse of it takes for granted)."""
    text = text_of(data, key, what)
    try:
        cert = x509.load_pem_x509_certificate(text.encode("utf-8"))
        _ = cert.extensions, cert.subject, cert.not_valid_after_utc  # parsed lazily: fail here, not later
    except ValueError:
        raise shape_error(what, data, f"a PEM certificate `{key}`") from None
    return text
