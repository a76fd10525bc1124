"""Secrets are masked wherever they show up, and Terraform never receives credentials it does not need."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from roachcert.mask import Masker, mask, masked_strings
from roachcert.terraform.engine import Engine
from roachcert.terraform.runner import Terraform


def test_registry_tokens_for_any_host_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_TOKEN_tfe_example_com", "tfe-token-123456")
    assert mask("auth failed with tfe-token-123456", os.environ) == "auth failed with ***"


def test_a_pg_connection_strings_password_is_masked_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_CONN_STR", "postgres://state:s3cret-pass@db.internal/tf")
    assert "s3cret-pass" not in mask("password authentication failed: s3cret-pass", os.environ)
    assert "s3cret-pass" not in mask("postgres://state:s3cret-pass@db.internal/tf", os.environ)


def test_an_opentofu_encryption_passphrase_is_masked_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    config = 'key_provider "pbkdf2" "k" { passphrase = "correct-horse-battery" }\nstate { enforced = true }'
    monkeypatch.setenv("TF_ENCRYPTION", config)
    assert mask("decrypt failed with correct-horse-battery", os.environ) == "decrypt failed with ***"
    assert "correct-horse-battery" not in mask(config, os.environ)
    json_config = '{"key_provider": {"pbkdf2": {"k": {"passphrase": "json-horse-battery"}}}}'
    monkeypatch.setenv("TF_ENCRYPTION", json_config)
    assert mask("echo json-horse-battery", os.environ) == "echo ***"


def test_private_key_blocks_are_redacted() -> None:
    text = "before\n-----BEGIN EC " + "PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\nafter"
    masked = mask(text, os.environ)
    assert "MHcCAQEE" not in masked
    assert masked.startswith("before")
    assert masked.endswith("after")


def test_terraform_gets_no_vault_or_github_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "vault-token-value")
    monkeypatch.setenv("GITHUB_TOKEN", "gh-token-value")
    monkeypatch.setenv("TF_LOG_PATH", str(tmp_path / "tf.log"))
    monkeypatch.setenv("COCKROACH_API_KEY", "the-provider-needs-this")
    workdir = tmp_path / "stack"
    workdir.mkdir()
    env = Terraform(workdir, Engine(Path("/bin/true"), "terraform"), os.environ).environment()
    assert "VAULT_TOKEN" not in env
    assert "GITHUB_TOKEN" not in env
    assert "TF_LOG_PATH" not in env
    assert env["COCKROACH_API_KEY"] == "the-provider-needs-this"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("cannot reach Vault at https://user:pw@vault-gw:8200 (refused)", "https://user:***@vault-gw:8200"),
        ("GET https://u:p@ss@host/v1 failed", "GET https://u:***@host/v1 failed"),  # up to the last @
        # "#" or "?" left unencoded: urllib reads a fragment or query, the user meant a password
        ("at http://admin:hu#nter2@127.0.0.1:1 failed", "at http://admin:***@127.0.0.1:1 failed"),
        ("postgres://u:pa?ss@db/tf", "postgres://u:***@db/tf"),
        ("https://vault.example:8200/v1/sys/health", "https://vault.example:8200/v1/sys/health"),
        # A user without a password is the credential outside database URLs; a SQL user name is not.
        ("clone https://ghp_abc123@github.com/o/r", "clone https://***@github.com/o/r"),
        ("at https://x-access-token@github.com/o/r", "at https://***@github.com/o/r"),
        ("ssh://git@github.com/o/r", "ssh://***@github.com/o/r"),
        ("https://ghp_abcdef123@github.com:x-oauth-basic@h", "https://***:***@h"),
        ("https://ghp_abcdef123:x-oauth-basic@github.com/o", "https://***:***@github.com/o"),
        ("s3://AKIAEXAMPLE@bucket/key", "s3://***@bucket/key"),
        (
            "postgresql://app@frogs.example:26257/db?sslmode=verify-full",
            "postgresql://app@frogs.example:26257/db",
        ),
        ("cockroachdb+psycopg://root@h:26257/db", "cockroachdb+psycopg://root@h:26257/db"),
        ("POSTGRES://app@h/db and postgres://app:pw@h/db", "POSTGRES://app@h/db and postgres://app:***@h/db"),
        ("https://host?mail=a@b.example", "https://host?mail=a@b.example"),
    ],
)
def test_a_urls_password_is_masked_whatever_its_length(text: str, masked: str) -> None:
    assert masked in mask(text, os.environ)


def test_a_url_password_in_any_variable_is_masked_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "https://gw:vault%2Fgw-pass@vault.example")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:proxy-pass-1@proxy.example:3128")
    assert (
        mask("401 for vault/gw-pass, vault%2Fgw-pass and proxy-pass-1", os.environ)
        == "401 for ***, *** and ***"
    )


def test_a_url_password_with_an_unencoded_hash_is_masked_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://admin:hu#nter2zz@127.0.0.1:1")
    assert mask("Failed to parse: 'admin:hu#nter2zz'", os.environ) == "Failed to parse: 'admin:***'"


@given(
    secret=st.text(min_size=6, max_size=20).filter(lambda s: s.strip() == s and "***" not in s),
    before=st.text(max_size=10),
    after=st.text(max_size=10),
)
def test_a_json_document_masked_before_it_is_encoded_never_shows_the_secret(
    secret: str, before: str, after: str
) -> None:
    # A `"`, `\\` or non-ASCII character in a secret is escaped by json.dumps: the sink could no longer
    # find it, so every string is masked first.
    skeleton = json.dumps({"message": "", "rows": [{"detail": ""}], "count": 1}, indent=2)
    assume(secret not in skeleton and json.dumps(secret)[1:-1] not in skeleton)
    environ = {"PGPASSWORD": secret}
    document = {"message": before + secret + after, "rows": [{"detail": secret}], "count": 1}
    text = json.dumps(masked_strings(document, Masker(environ)), indent=2)
    assert secret not in text
    assert json.dumps(secret)[1:-1] not in text
