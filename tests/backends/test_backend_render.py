"""Backends rendered from the stack's `terraform.backend`: local by default; s3, gcs, azurerm, remote and pg
from `config:` (one level of nesting renders as a block); `terraform fmt`-clean; secrets refused."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine_choice import fmt_unclean
from hash_seeds import outputs
from roachcert.errors import SpecError, TerraformError
from roachcert.spec import load_stack
from roachcert.terraform.engine import Engine
from roachcert.terraform.module import render_module
from roachcert.terraform.runner import Terraform

EMBEDDED = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "roachcert-terraform"
needs_engine = pytest.mark.skipif(not EMBEDDED.is_file(), reason="the embedded engine is not installed")

HEAD = """\
version: 1
cas:
  client-ca:
    mount: cockroach_client_ca
    common_name: Example CA
    issuers: [ca-2026a]
clusters:
  frogs:
    id: 2186fbdb-598c-4797-a463-aaaee865903e
    ca: client-ca
    host: frogs-123.gcp-us-east1.crdb.io
"""
BACKEND_LINE = HEAD.count("\n") + 5  # the first line under `config:` (terraform, backend, type, config)

# Typical configurations, as a team writes them, and the exact block each renders to.
CASES: dict[str, tuple[str, str]] = {
    "s3": (
        """\
        type: s3
        config:
          bucket: acme-terraform-state
          key: roachcert/prod.tfstate
          region: us-east-1
          dynamodb_table: terraform-locks
          encrypt: true
        """,
        """\
        terraform {
          backend "s3" {
            bucket         = "acme-terraform-state"
            dynamodb_table = "terraform-locks"
            encrypt        = true
            key            = "roachcert/prod.tfstate"
            region         = "us-east-1"
          }
        }
        """,
    ),
    "gcs": (
        """\
        type: gcs
        config:
          bucket: acme-terraform-state
          prefix: roachcert/prod
        """,
        """\
        terraform {
          backend "gcs" {
            bucket = "acme-terraform-state"
            prefix = "roachcert/prod"
          }
        }
        """,
    ),
    "azurerm": (
        """\
        type: azurerm
        config:
          resource_group_name: tfstate
          storage_account_name: acmetfstate
          container_name: tfstate
          key: roachcert/prod.tfstate
          use_azuread_auth: true
        """,
        """\
        terraform {
          backend "azurerm" {
            container_name       = "tfstate"
            key                  = "roachcert/prod.tfstate"
            resource_group_name  = "tfstate"
            storage_account_name = "acmetfstate"
            use_azuread_auth     = true
          }
        }
        """,
    ),
    "remote": (
        """\
        type: remote
        config:
          hostname: app.terraform.io
          organization: acme
          workspaces:
            name: roachcert-prod
        """,
        """\
        terraform {
          backend "remote" {
            hostname     = "app.terraform.io"
            organization = "acme"
            workspaces {
              name = "roachcert-prod"
            }
          }
        }
        """,
    ),
    "remote-prefix": (
        """\
        type: remote
        config:
          organization: acme
          workspaces: {prefix: roachcert-}
        """,
        """\
        terraform {
          backend "remote" {
            organization = "acme"
            workspaces {
              prefix = "roachcert-"
            }
          }
        }
        """,
    ),
    "pg": (
        """\
        type: pg
        config:
          conn_str: postgres://terraform@db.example.com/terraform_state?sslmode=verify-full
          schema_name: roachcert_prod
        """,
        """\
        terraform {
          backend "pg" {
            conn_str    = "postgres://terraform@db.example.com/terraform_state?sslmode=verify-full"
            schema_name = "roachcert_prod"
          }
        }
        """,
    ),
    # The whole conn_str may come from PG_CONN_STR: an empty block.
    "pg-from-env": ("type: pg\n", 'terraform {\n  backend "pg" {\n  }\n}\n'),
    "local-default": (
        "type: local\n",
        'terraform {\n  backend "local" {\n    path = "terraform.tfstate"\n  }\n}\n',
    ),
}


def stack_file(tmp_path: Path, backend: str, name: str = "prod") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD + "terraform:\n  backend:\n" + textwrap.indent(textwrap.dedent(backend), "    "))
    return path


def backend_tf(tmp_path: Path, backend: str) -> str:
    return render_module(load_stack(stack_file(tmp_path, backend)), {"frogs": "pem\n"})["backend.tf"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_backend_renders_from_config(tmp_path: Path, case: str) -> None:
    config, block = CASES[case]
    text = backend_tf(tmp_path, config)
    assert text.endswith("\n" + textwrap.dedent(block))
    assert "environment" in text.splitlines()[1]  # the header says where secrets come from


def test_no_backend_is_local(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(HEAD)
    text = render_module(load_stack(path), {"frogs": "pem\n"})["backend.tf"]
    assert 'backend "local" {\n    path = "terraform.tfstate"\n  }' in text


def test_values_are_hcl_literals(tmp_path: Path) -> None:
    text = backend_tf(
        tmp_path,
        """\
        type: s3
        config:
          bucket: "${var.bucket}"
          key: 'a "quoted" %{key}'
          max_retries: 5
        """,
    )
    assert 'bucket      = "$${var.bucket}"' in text
    assert 'key         = "a \\"quoted\\" %%{key}"' in text
    assert "max_retries = 5" in text


def test_backend_is_the_same_under_different_hash_seeds(tmp_path: Path) -> None:
    first, second = outputs(
        f"""
        import sys
        from pathlib import Path
        from test_backend_render import CASES, backend_tf
        for name in sorted(CASES):
            folder = Path({str(tmp_path)!r}) / name
            folder.mkdir(exist_ok=True)
            sys.stdout.write(backend_tf(folder, CASES[name][0]))
        """
    )
    assert first == second


def test_bad_nested_key_is_refused(tmp_path: Path) -> None:
    stack = load_stack(stack_file(tmp_path, "type: remote\nconfig:\n  workspaces: {'bad name': x}\n"))
    with pytest.raises(TerraformError, match=r"terraform.backend.config.workspaces: 'bad name' is not"):
        render_module(stack, {"frogs": "pem\n"})
    stack = load_stack(stack_file(tmp_path, "type: remote\nconfig:\n  'bad block': {name: x}\n"))
    with pytest.raises(TerraformError, match=r"terraform.backend.config: 'bad block' is not"):
        render_module(stack, {"frogs": "pem\n"})


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("workspaces:\n    tags: {team: db}\n", "workspaces"),
        ("retries: 1.5\n", "retries"),
        ("x: null\n", "x"),
    ],
)
def test_unrenderable_values_are_refused_in_one_line(tmp_path: Path, setting: str, key: str) -> None:
    path = stack_file(tmp_path, "type: remote\nconfig:\n  " + setting)
    with pytest.raises(SpecError) as caught:
        load_stack(path)
    assert caught.value.problems == [
        f"{path}:{BACKEND_LINE}: terraform.backend.config.{key}: a backend setting is a string, a whole "
        "number, true/false, or a mapping of those (rendered as a block, like the remote backend's "
        "`workspaces:` with `name:` under it)"
    ]


@needs_engine
@pytest.mark.integration
def test_every_backend_is_fmt_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`terraform fmt -check` with the real engine; fmt needs no init, so no backend is contacted."""
    monkeypatch.setenv("ROACHCERT_TERRAFORM", str(EMBEDDED))
    engine = Engine(EMBEDDED, "ROACHCERT_TERRAFORM")
    for case, (config, _) in sorted(CASES.items()):
        folder = tmp_path / case / "mod"
        folder.mkdir(parents=True)
        stack = load_stack(stack_file(tmp_path / case, config))
        for name, text in render_module(stack, {"frogs": "pem\n"}).items():
            (folder / name).write_text(text)
        assert fmt_unclean(Terraform(folder, engine, os.environ)) == (), case


# Secrets in `config:` are refused by the loader, pointing at the line, never echoing the value.
SECRETS: list[tuple[str, dict[str, Any], str]] = [
    ("s3", {"bucket": "b", "secret_key": "wJalrXUtnFEMI-SECRET"}, "secret_key is a secret"),
    ("s3", {"bucket": "b", "access_key": "AKIAEXAMPLE-SECRET"}, "access_key is a secret"),
    ("s3", {"bucket": "b", "token": "FwoGZXIvYXdz-SECRET"}, "token is a secret"),
    ("s3", {"bucket": "b", "sse_customer_key": "c2VjcmV0-SECRET"}, "sse_customer_key is a secret"),
    ("gcs", {"bucket": "b", "credentials": "{private_key: SECRET}"}, "credentials is a secret"),
    ("gcs", {"bucket": "b", "access_token": "ya29.SECRET"}, "access_token is a secret"),
    ("gcs", {"bucket": "b", "encryption_key": "c2VjcmV0-SECRET"}, "encryption_key is a secret"),
    ("azurerm", {"key": "k", "access_key": "c2VjcmV0-SECRET"}, "access_key is a secret"),
    ("azurerm", {"key": "k", "sas_token": "sv=2021&sig=SECRET"}, "sas_token is a secret"),
    ("azurerm", {"key": "k", "client_secret": "azure-SECRET"}, "client_secret is a secret"),
    ("azurerm", {"key": "k", "oidc_token": "eyJ-SECRET"}, "oidc_token is a secret"),
    ("remote", {"organization": "acme", "token": "atlasv1-SECRET"}, "token is a secret"),
    ("remote", {"workspaces": {"name": "w", "token": "atlasv1-SECRET"}}, "workspaces.token is a secret"),
    ("pg", {"conn_str": "postgres://tf:SECRET@db/state"}, "conn_str holds a password"),
    ("pg", {"conn_str": "postgres://db/state?sslmode=require&password=SECRET"}, "conn_str holds a password"),
    ("pg", {"conn_str": "host=db user=tf password=SECRET dbname=state"}, "conn_str holds a password"),
    ("pg", {"conn_str": "postgres://db/state?PASSWORD=SECRET"}, "conn_str holds a password"),
    ("pg", {"password": "SECRET"}, "password is a secret"),
]


def _yaml(config: dict[str, Any]) -> str:
    lines = []
    for key, value in config.items():
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines += [f"    {k}: {v!r}" for k, v in value.items()]
        else:
            lines.append(f"  {key}: {value!r}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("kind", "config", "said"), SECRETS, ids=[f"{k}-{m.split()[0]}" for k, _, m in SECRETS]
)
def test_secret_in_config_is_refused(tmp_path: Path, kind: str, config: dict[str, Any], said: str) -> None:
    path = stack_file(tmp_path, f"type: {kind}\nconfig:\n" + _yaml(config))
    with pytest.raises(SpecError) as caught:
        load_stack(path)
    [problem] = caught.value.problems
    assert said in problem
    assert "environment" in problem
    assert "SECRET" not in problem
    secret_key = next(iter(k for k, v in config.items() if "SECRET" in str(v)))
    assert problem.startswith(f"{path}:{BACKEND_LINE + list(config).index(secret_key)}: ")
    assert f"terraform.backend.config.{secret_key}" in problem


def test_conn_str_without_password_is_fine(tmp_path: Path) -> None:
    for conn_str in (
        "postgres://terraform@db.example.com/state?sslmode=verify-full",
        "host=db user=terraform dbname=state sslmode=require",
        "postgres://db/state?passfile=/run/secrets/pgpass",
    ):
        load_stack(stack_file(tmp_path, f"type: pg\nconfig:\n  conn_str: {conn_str!r}\n"))
