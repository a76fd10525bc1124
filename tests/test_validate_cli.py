from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from certs_helper import make_ca
from roachcert.app import run
from test_spec_load import BAD_STACKS, EXPECTED, build_corpus

GOOD_PEM_STACK = """version: 1
cas:
  legacy-ca:
    pem_file: legacy.pem
clusters:
  frogs:
    id: 2186fbdb-598c-4797-a463-aaaee865903e
    ca: legacy-ca
    host: frogs-123.gcp-us-east1.crdb.io
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean(err: str) -> None:
    assert "Traceback" not in err
    assert "internal error" not in err


def test_validate_example_exits_0_and_says_ok(capsys: pytest.CaptureFixture[str], repo_root: Path) -> None:
    path = repo_root / "stacks" / "example.yaml"
    code, out, err = _run(capsys, "validate", str(path))
    assert code == 0, err
    assert out.strip() == f"{path}: ok (1 CAs, 2 clusters)"
    _assert_clean(err)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_bad_stack_exits_1_with_one_line_per_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    path = build_corpus(tmp_path) / name
    code, out, err = _run(capsys, "validate", str(path))
    assert code == 1
    assert out == ""
    _assert_clean(err)
    lines = err.splitlines()
    assert len(lines) == len(EXPECTED[name])
    for line, (number, _field, _text) in zip(lines, EXPECTED[name], strict=True):
        assert line.startswith(f"{path}:{number}: ")


def test_validate_reports_every_stack_given_and_still_checks_the_good_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, repo_root: Path
) -> None:
    corpus = build_corpus(tmp_path)
    good = repo_root / "stacks" / "example.yaml"
    code, out, err = _run(
        capsys, "validate", str(corpus / "duplicate_key.yaml"), str(good), str(corpus / "tabs.yaml")
    )
    assert code == 1
    assert f"{good}: ok" in out
    assert [line.split(":")[0] for line in err.splitlines()] == [str(corpus / "duplicate_key.yaml")] * 3 + [
        str(corpus / "tabs.yaml")
    ]


def test_validate_accepts_a_good_pem_file_ca(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "legacy.pem").write_text(make_ca("Legacy CA")[0])
    (tmp_path / "legacy.yaml").write_text(GOOD_PEM_STACK)
    code, out, err = _run(capsys, "validate", str(tmp_path / "legacy.yaml"))
    assert code == 0, err
    assert "ok (1 CAs, 1 clusters)" in out
    assert err == ""


def test_validate_warns_of_a_pem_ca_expiring_within_30_days(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    soon = datetime.now(UTC) + timedelta(days=10)
    (tmp_path / "legacy.pem").write_text(make_ca("Legacy CA", not_after=soon)[0])
    (tmp_path / "legacy.yaml").write_text(GOOD_PEM_STACK)
    code, out, err = _run(capsys, "validate", str(tmp_path / "legacy.yaml"))
    assert code == 0
    assert "ok" in out
    (warning,) = err.splitlines()
    assert warning.startswith(f"{tmp_path / 'legacy.yaml'}: warning: cas.legacy-ca: ")
    assert "'Legacy CA'" in warning
    assert soon.strftime("%Y-%m-%d") in warning


def test_validate_refuses_an_expired_pem_ca(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    (tmp_path / "legacy.pem").write_text(
        make_ca("Legacy CA", not_before=start, not_after=start + timedelta(1))[0]
    )
    (tmp_path / "legacy.yaml").write_text(GOOD_PEM_STACK)
    code, _, err = _run(capsys, "validate", str(tmp_path / "legacy.yaml"))
    assert code == 1
    assert re.fullmatch(
        r".*legacy\.yaml:4: cas\.legacy-ca\.pem_file: .*expired on 2024-01-02 00:00 UTC.*\n", err
    )


def test_validate_of_a_missing_stack_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err == f"{tmp_path / 'nope.yaml'}: no such stack file\n"


def test_validate_without_a_stack_is_a_usage_error_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "validate")
    assert code == 1
    _assert_clean(err)


# --- `roachcert schema`, checked with a small validator (no jsonschema dependency)


def _check(schema: dict[str, Any], value: Any, root: dict[str, Any], at: str = "") -> list[str]:
    """The subset of JSON Schema that `roachcert schema` uses; returns the places that fail."""
    if "$ref" in schema:
        schema = {
            **root["$defs"][schema["$ref"].rsplit("/", 1)[1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    for key in ("anyOf", "oneOf"):
        if key in schema:
            passing = [b for b in schema[key] if not _check(b, value, root, at)]
            if not passing or (key == "oneOf" and len(passing) > 1):
                return [f"{at}: {key} ({len(passing)} branches pass)"]
    kinds = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "boolean": bool,
        "null": type(None),
    }
    if "type" in schema and not isinstance(value, kinds[schema["type"]]):
        return [f"{at}: not {schema['type']}"]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: not in enum"]
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return [f"{at}: pattern"]
    errors: list[str] = []
    if isinstance(value, dict):
        errors += [f"{at}.{name}: required" for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in schema.get("properties", {}):
                errors += _check(schema["properties"][name], item, root, f"{at}.{name}")
                continue
            patterns = [s for p, s in schema.get("patternProperties", {}).items() if re.search(p, name)]
            extra = schema.get("additionalProperties", True)
            if patterns:
                errors += [e for s in patterns for e in _check(s, item, root, f"{at}.{name}")]
            elif extra is False:
                errors.append(f"{at}.{name}: not allowed")
            elif isinstance(extra, dict):
                errors += _check(extra, item, root, f"{at}.{name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{at}: too few items")
        errors += [
            e
            for i, item in enumerate(value)
            for e in _check(schema.get("items", {}), item, root, f"{at}[{i}]")
        ]
    return errors


def _schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = _run(capsys, "schema")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def test_schema_is_json_that_accepts_the_example_stack(
    capsys: pytest.CaptureFixture[str], repo_root: Path
) -> None:
    schema = _schema(capsys)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert {"version", "vault", "cas", "clusters", "terraform"} <= set(schema["properties"])
    assert "name" not in schema["properties"]
    assert "source" not in schema["properties"]
    assert "version" in schema["required"]
    example = yaml.safe_load((repo_root / "stacks" / "example.yaml").read_text())
    assert _check(schema, example, schema) == []


def test_schema_defaults_are_written_as_a_user_would(capsys: pytest.CaptureFixture[str]) -> None:
    schema = _schema(capsys)
    assert schema["$defs"]["VaultCa"]["properties"]["ttl"]["default"] == "8760h"
    assert schema["$defs"]["RoleSpec"]["properties"]["max_ttl"]["default"] == "48h"


@pytest.mark.parametrize(
    ("name", "place"),
    [
        ("unknown_key_clsuters.yaml", ".clsuters: not allowed"),
        ("uppercase_uuid.yaml", ".clusters.frogs.id: pattern"),
        ("unknown_backend.yaml", ".terraform.backend.type: not in enum"),
        ("x509_pem_cert_typo.yaml", ".cas.legacy-ca: oneOf"),
    ],
)
def test_schema_rejects_what_the_loader_rejects(
    capsys: pytest.CaptureFixture[str], name: str, place: str
) -> None:
    schema = _schema(capsys)
    stack = yaml.safe_load((BAD_STACKS / name).read_text())
    assert any(error.startswith(place) for error in _check(schema, stack, schema))


def test_schema_accepts_a_single_ca_name_or_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    schema = _schema(capsys)
    cluster = {"id": "2186fbdb-598c-4797-a463-aaaee865903e", "host": "h.example.com"}
    for ca in ("client-ca", ["client-ca", "legacy-ca"]):
        assert _check(schema["$defs"]["Cluster"], {**cluster, "ca": ca}, schema) == []
    assert _check(schema["$defs"]["Cluster"], {**cluster, "ca": []}, schema) != []


@pytest.mark.parametrize(
    "auth",
    [
        {"method": "jwt", "role": "roachcert-renew", "token_file": "/var/run/secrets/vault/token"},
        {"method": "jwt", "mount": "gitlab", "role": "plan", "token_env": "VAULT_ID_TOKEN"},
        {"method": "token_file", "path": "/run/vault-agent/token"},
    ],
    ids=["jwt-file", "jwt-env", "token-file"],
)
def test_the_vault_logins_validate_and_fit_the_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, repo_root: Path, auth: dict[str, str]
) -> None:
    schema = _schema(capsys)
    stack = yaml.safe_load((repo_root / "stacks" / "example.yaml").read_text())
    stack["vault"] = {**(stack.get("vault") or {}), "auth": auth}
    assert _check(schema, stack, schema) == []
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(stack))
    code, _out, err = _run(capsys, "validate", str(path))
    assert (code, err) == (0, ""), err
    wrong = {**auth, "method": "kubernetes"}
    assert _check(schema["$defs"]["VaultSpec"], {"auth": wrong}, schema) != []
