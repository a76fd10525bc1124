"""Pydantic's validation errors, rewritten so that a new user reads what is wrong and what to do."""

from __future__ import annotations

import difflib
import re
from typing import Any

from roachcert.spec import models
from roachcert.spec.yamlsrc import Path_

# Every field a stack file may hold, for "did you mean" (kept in step with the models by construction).
KNOWN_FIELDS = sorted(
    {name for model in models.Model.__subclasses__() for name in model.model_fields} - {"source"}
)

# Fields people write by analogy with the Cloud API, Terraform or Vault.
_FIELD_HINTS = {
    "x509_pem_cert": "a CA kept outside Vault is written `pem_file: PATH` (a PEM file, not the API's JSON)",
    "x509_pem_certs": "a CA kept outside Vault is written `pem_file: PATH` (a PEM file, not the API's JSON)",
    "issuer": "write `issuers: [NAME]`, a list, oldest first",
    "cluster_id": "write the cluster's ID as `id:`",
    "user": "write `users: [NAME, ...]`",
    "token": "never write the token: set VAULT_TOKEN (or name another variable with `token_env`)",
}

_REQUIRED = {
    "version": "a stack starts with `version: 1`",
    "mount": "the Vault PKI mount path holding this CA, like cockroach_client_ca",
    "common_name": "the CA certificate's common name",
    "issuers": "the Vault issuer names, oldest first, like [ca-2026a]",
    "id": "the cluster's ID, the lowercase UUID from the Cloud Console",
    "ca": "the CA (or list of CAs) this cluster trusts, by its name under `cas`",
    "host": "the cluster's SQL host name, like NAME-123.gcp-us-east1.crdb.io",
    "method": "`token`, `approle`, `jwt` or `token_file`",
}

_PATTERNS = {
    "id": "is not a cluster ID: use the lowercase UUID from the Cloud Console URL",
    "users": "is not a SQL user name: use lowercase letters, digits, '_', '.' and '-', "
    "starting with a letter or '_'",
    "mount": "is not a Vault mount path: letters, digits, '_', '-', '.', separated by '/', no leading '/'",
    "issuers": "is not a Vault issuer name: use letters, digits, '_' and '-'",
    "ca": "is not a CA name: use the name of a CA under `cas`",
    "host": "is not a host name: write the bare host, without scheme or port",
    "name": "is not a Vault role name: use letters, digits, '_' and '-'",
    "database": "is not a database name: letters, digits, '_', '$', '-', starting with a letter or '_'",
}
_UUID_ANY_CASE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def message(error: Any, where: Path_) -> str:
    """One readable message for one pydantic error found at `where` (tags and `[key]` removed)."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    field = next((part for part in reversed(where) if isinstance(part, str)), "")
    if kind == "extra_forbidden":
        return unknown_field(field)
    if kind == "missing":
        what = _REQUIRED.get(field)
        return f"required field is missing: {what}" if what else "required field is missing"
    if kind == "literal_error" and where == ("version",):
        return f"unsupported version {value!r}; this roachcert reads `version: 1`"
    if kind == "literal_error":
        return f"{value!r} is not supported here; use one of {ctx.get('expected', '')}"
    if kind == "union_tag_invalid":
        return f"{ctx.get('tag')!r} is not supported here; use one of {ctx.get('expected_tags', '')}"
    if kind == "string_pattern_mismatch":
        return pattern_message(where, value)
    if kind in ("tuple_type", "list_type"):
        return (
            f"expected a list, like [{value}]" if isinstance(value, str) else "expected a list, like [a, b]"
        )
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping: indented `key: value` lines below this one"
    if kind == "too_short" and field == "issuers":
        return "list at least one Vault issuer, like [ca-2026a]"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("greater_than_equal", "less_than_equal") and field == "port":
        return f"{value!r} is not a port: use 1-65535 (CockroachDB Cloud listens on 26257)"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def unknown_field(field: str) -> str:
    if field in _FIELD_HINTS:
        return f"unknown field; {_FIELD_HINTS[field]}"
    if field in KNOWN_FIELDS:  # a field of another place (jwt's `role` under approle): no look-alike helps
        return "unknown field here; remove it"
    close = difflib.get_close_matches(field, KNOWN_FIELDS, n=1, cutoff=0.75)
    return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field; remove it"


def pattern_message(where: Path_, value: Any) -> str:
    field = next((part for part in reversed(where) if isinstance(part, str)), "")
    parent = where[0] if where else ""
    if len(where) == 2 and parent in ("cas", "clusters"):
        return (
            f"{value!r} cannot name a {'CA' if parent == 'cas' else 'cluster'}: use letters, digits, '_' and "
            "'-', starting with a letter (it becomes a Terraform address)"
        )
    if field == "id" and isinstance(value, str) and _UUID_ANY_CASE.match(value):
        return f"{value!r} has capital letters: write the cluster ID in lowercase, as the Cloud API does"
    return f"{value!r} {_PATTERNS.get(field, 'has an invalid form')}"


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
