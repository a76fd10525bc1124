"""render: pure, deterministic, fmt-clean, and its text reads back exactly (checked with the engine)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certs_helper import make_ca
from engine_choice import fmt_unclean
from hash_seeds import outputs
from roachcert.errors import TerraformError
from roachcert.plan_record import PlanMeta, load_plan_meta, save_plan_meta
from roachcert.spec.models import Stack
from roachcert.terraform.engine import Engine
from roachcert.terraform.hcl import hcl_string, hcl_text
from roachcert.terraform.module import builtin_templates_dir, render_module
from roachcert.terraform.resources import trigger_name
from roachcert.terraform.runner import Terraform
from roachcert.terraform.workdir import files_hash, our_files, write_workdir
from roachcert_sandbox.mirror import cli_config_text

FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"
DINGOS = "5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10"
EMBEDDED = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "roachcert-terraform"


def make_stack(clusters: dict[str, str], **terraform: Any) -> Stack:
    return Stack.model_validate(
        {
            "version": 1,
            "cas": {"legacy": {"pem_file": "/nonexistent/legacy.pem"}},
            "clusters": {
                name: {"id": cid, "ca": "legacy", "host": "db.example.com"} for name, cid in clusters.items()
            },
            "terraform": terraform,
            "name": "demo",
        }
    )


@pytest.fixture(scope="module")
def bundle() -> str:
    return make_ca("one")[0] + "\n" + make_ca("two")[0]


def test_files_and_layout(bundle: str) -> None:
    stack = make_stack({"frogs": FROGS, "dingos": DINGOS})
    files = render_module(stack, {"frogs": bundle, "dingos": bundle})
    assert sorted(files) == ["backend.tf", "clusters.tf", "provider.tf", "versions.tf"]
    assert 'source  = "cockroachdb/cockroach"' in files["versions.tf"]
    assert 'version = "~> 1.22"' in files["versions.tf"]
    assert 'required_version = ">= 1.7"' in files["versions.tf"]
    assert 'provider "cockroach" {}' in files["provider.tf"]
    assert 'path = "terraform.tfstate"' in files["backend.tf"]
    clusters = files["clusters.tf"]
    # Sorted by name, each with its id trigger.
    assert clusters.index('"dingos"') < clusters.index('"frogs"')
    assert f'resource "terraform_data" "{trigger_name("frogs")}"' in clusters
    assert f"replace_triggered_by = [terraform_data.{trigger_name('frogs')}]" in clusters
    assert "<<-EOT" in clusters
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in files.values())


def test_clusters_declared_in_another_order_render_the_same(bundle: str) -> None:
    stack = make_stack({"frogs": FROGS, "dingos": DINGOS})
    first = render_module(stack, {"frogs": bundle, "dingos": bundle})
    again = render_module(make_stack({"dingos": DINGOS, "frogs": FROGS}), {"dingos": bundle, "frogs": bundle})
    assert first == again


def test_render_is_the_same_under_different_hash_seeds() -> None:
    first, second = outputs(
        """
        import json, sys
        import report_cases as rc
        from test_render import DINGOS, FROGS, make_stack
        from roachcert.terraform.module import render_module
        bundles = {"frogs": rc.bundle("2026a", "legacy"), "dingos": rc.bundle("2026b")}  # the same bytes every run
        sys.stdout.write(json.dumps(render_module(make_stack({"frogs": FROGS, "dingos": DINGOS}), bundles)))
        """
    )
    assert first == second


def test_no_secrets_or_credentials_in_files(bundle: str) -> None:
    files = render_module(make_stack({"frogs": FROGS}), {"frogs": bundle})
    text = "".join(files.values())
    assert "apikey" not in text
    assert "apijwt" not in text
    assert "token" not in text.lower()


def test_backend_config_quoted_and_aligned() -> None:
    stack = make_stack(
        {},
        backend={
            "type": "pg",
            "config": {"conn_str": 'postgres://db/x?a="b"', "schema_name": "s", "skip_x": True},
        },
    )
    backend = render_module(stack, {})["backend.tf"]
    assert 'backend "pg" {' in backend
    assert 'conn_str    = "postgres://db/x?a=\\"b\\""' in backend
    assert 'schema_name = "s"' in backend
    assert "skip_x      = true" in backend


def test_local_backend_path_can_be_overridden() -> None:
    stack = make_stack({}, backend={"type": "local", "config": {"path": "other.tfstate"}})
    assert 'path = "other.tfstate"' in render_module(stack, {})["backend.tf"]


def test_bad_backend_key() -> None:
    stack = make_stack({}, backend={"type": "s3", "config": {"bad key": "x"}})
    with pytest.raises(TerraformError, match="bad key"):
        render_module(stack, {})


def test_forget_writes_removed_blocks(bundle: str) -> None:
    files = render_module(make_stack({"frogs": FROGS}), {"frogs": bundle}, forget=["dingos"])
    removed = files["removed.tf"]
    assert "from = cockroach_client_ca_cert.dingos" in removed
    assert f"from = terraform_data.{trigger_name('dingos')}" in removed
    assert "destroy = false" in removed
    assert "removed.tf" not in render_module(make_stack({"frogs": FROGS}), {"frogs": bundle})


def test_forget_and_manage_conflict(bundle: str) -> None:
    with pytest.raises(TerraformError, match="both managed and forgotten"):
        render_module(make_stack({"frogs": FROGS}), {"frogs": bundle}, forget=["frogs"])


def test_missing_bundle() -> None:
    with pytest.raises(ValueError, match="frogs"):
        render_module(make_stack({"frogs": FROGS}), {})


def test_empty_stack_still_renders_a_module() -> None:
    files = render_module(make_stack({}), {})
    assert 'resource "' not in files["clusters.tf"]


def test_template_override_and_extra(tmp_path: Path, bundle: str) -> None:
    (tmp_path / "provider.tf.j2").write_text('provider "cockroach" {\n  # {{ stack.name }}\n}\n')
    (tmp_path / "extra.tf.j2").write_text("# extra for {{ clusters | length }} clusters\n")
    files = render_module(make_stack({"frogs": FROGS}, templates=str(tmp_path)), {"frogs": bundle})
    assert files["provider.tf"] == 'provider "cockroach" {\n  # demo\n}\n'
    assert files["extra.tf"] == "# extra for 1 clusters\n"
    assert "cockroach_client_ca_cert" in files["clusters.tf"]  # not overridden: built-in


def test_template_undefined_is_an_error(tmp_path: Path, bundle: str) -> None:
    (tmp_path / "provider.tf.j2").write_text("{{ no_such_thing }}\n")
    with pytest.raises(TerraformError, match=r"provider\.tf\.j2.*no_such_thing"):
        render_module(make_stack({"frogs": FROGS}, templates=str(tmp_path)), {"frogs": bundle})


def test_templates_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(TerraformError, match="not a folder"):
        render_module(make_stack({}, templates=str(tmp_path / "nope")), {})


def test_builtin_templates_found() -> None:
    assert (builtin_templates_dir() / "clusters.tf.j2").is_file()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("${x} %{y}", '"$${x} %%{y}"'),
        ("a\r\nb\t\x01", '"a\\r\\nb\\t\\u0001"'),
    ],
)
def test_hcl_string(text: str, expected: str) -> None:
    assert hcl_string(text) == expected


def _hcl_string_char_by_char(value: str) -> str:
    """hcl_string as it was before its fast path for text with nothing to escape (issue #29)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = [
        escapes[c] if c in escapes else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
        for c in value
    ]
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


@given(st.text(alphabet=st.sampled_from([*'ab$%{}\\"\n\r\t\x00\x1f\x7f\x80 é']), max_size=12) | st.text())
def test_hcl_string_fast_path_quotes_as_the_loop_does(text: str) -> None:
    assert hcl_string(text) == _hcl_string_char_by_char(text)


def test_the_sandbox_cli_config_quotes_with_the_same_hcl_string(tmp_path: Path) -> None:
    # One copy of HCL quoting: a mirror path holding quotes and template sigils stays literal there too.
    root = tmp_path / 'mirror "x" ${y} %{z}'
    text = cli_config_text(root, tmp_path / "cache")
    assert f"    path    = {hcl_string(str(root.absolute()))}\n" in text
    assert '\\"x\\" $${y} %%{z}' in text


def test_hcl_text_uses_heredoc_only_when_exact() -> None:
    assert hcl_text("a\n\nb\n", 2) == "<<-EOT\n    a\n\n    b\n  EOT"
    for awkward in ("no newline", "a\r\nb\r\n", " indented\n", "trailing \n", "${x}\n", "EOT\n", "é\n", ""):
        assert hcl_text(awkward).startswith('"'), awkward


# -- with the engine --------------------------------------------------------------------------------------

needs_engine = pytest.mark.skipif(not EMBEDDED.is_file(), reason="the embedded engine is not installed")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("ROACHCERT_TERRAFORM", str(EMBEDDED))
    return Engine(EMBEDDED, "ROACHCERT_TERRAFORM")


@needs_engine
@pytest.mark.integration
def test_rendered_files_are_fmt_clean(tmp_path: Path, engine: Engine, bundle: str) -> None:
    override = tmp_path / "tpl"
    override.mkdir()
    cases = {
        "plain": render_module(
            make_stack({"frogs": FROGS, "dingos": DINGOS}), {"frogs": bundle, "dingos": bundle}
        ),
        "forget": render_module(
            make_stack({"frogs": FROGS}), {"frogs": "odd ${x}\r\n"}, forget=["dingos", "z-old"]
        ),
        "empty": render_module(make_stack({}), {}),
        "pg": render_module(
            make_stack(
                {"a": FROGS},
                backend={
                    "type": "pg",
                    "config": {"conn_str": "postgres://h/db", "schema_name": "rc", "x": 3},
                },
            ),
            {"a": bundle},
        ),
    }
    for name, files in cases.items():
        folder = tmp_path / name / "mod"
        folder.mkdir(parents=True)
        for file, text in files.items():
            (folder / file).write_text(text)
        assert fmt_unclean(Terraform(folder, engine, os.environ)) == (), name


@needs_engine
@pytest.mark.integration
def test_text_reads_back_exactly(tmp_path: Path, engine: Engine, bundle: str) -> None:
    """What Terraform sends to the provider is byte for byte the bundle: heredoc and string forms alike."""
    samples = [
        bundle,
        bundle.rstrip("\n"),
        bundle.replace("\n", "\r\n"),
        "-----BEGIN CERTIFICATE-----\n  indented\n\tTab\ntrailing  \n${not} %{a} template\nEOT\n",
        "unicode é ✓\n\n\n",
        "",
    ]
    outputs = "\n".join(
        f'output "s{i}" {{\n  value = {hcl_text(text, 2)}\n}}\n' for i, text in enumerate(samples)
    )
    folder = tmp_path / "mod"
    folder.mkdir()
    (folder / "main.tf").write_text(outputs)
    tf = Terraform(folder, engine, os.environ)
    assert fmt_unclean(tf) == ()
    tf.init()
    assert tf.plan(folder / "p.tfplan").returncode == 2
    plan = tf.show_json(folder / "p.tfplan")
    for i, text in enumerate(samples):
        assert plan["output_changes"][f"s{i}"]["after"] == text, json.dumps(text)


# -- writing the working folder ---------------------------------------------------------------------------


def test_write_workdir_replaces_only_our_files(tmp_path: Path) -> None:
    root = tmp_path / ".roachcert" / "demo"
    write_workdir(root, {"a.tf": "A\n", "b.tf": "B\n"})
    (root / ".terraform").mkdir()
    (root / ".terraform" / "x").write_text("cache")
    for theirs in (".terraform.lock.hcl", "terraform.tfstate", "mine.tf"):
        (root / theirs).write_text(theirs)
    inode = (root / "a.tf").stat().st_ino
    write_workdir(root, {"a.tf": "A\n", "c.tf": "C\n"})
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [
            ".roachcert-files.json",
            ".terraform",
            ".terraform.lock.hcl",
            "a.tf",
            "c.tf",
            "mine.tf",
            "terraform.tfstate",
        ]
    )
    assert (root / "a.tf").stat().st_ino == inode  # unchanged: not rewritten
    assert (root / "c.tf").read_text() == "C\n"
    assert (root / ".terraform" / "x").read_text() == "cache"
    assert our_files(root) == ["a.tf", "c.tf"]
    write_workdir(root, {"a.tf": "A2\n"})
    assert (root / "a.tf").read_text() == "A2\n"
    assert not (root / "c.tf").exists()
    assert (root / "mine.tf").exists()


def test_write_workdir_of_unchanged_files_writes_nothing(tmp_path: Path) -> None:
    # A fast-path plan or a re-render of an unchanged stack costs reads, not atomic writes and fsyncs.
    root = tmp_path / ".roachcert" / "demo"
    write_workdir(root, {"a.tf": "A\n", "b.tf": "B\n"})
    inodes = {path.name: path.stat().st_ino for path in root.iterdir()}
    write_workdir(root, {"a.tf": "A\n", "b.tf": "B\n"})
    assert {path.name: path.stat().st_ino for path in root.iterdir()} == inodes
    write_workdir(root, {"a.tf": "A\n"})
    assert json.loads((root / ".roachcert-files.json").read_text()) == {"files": ["a.tf"]}


def test_write_workdir_refuses_foreign_names(tmp_path: Path) -> None:
    for name in (
        "../x.tf",
        "sub/x.tf",
        ".terraform.lock.hcl",
        "terraform.tfstate",
        ".roachcert-files.json",
        "",
    ):
        with pytest.raises(ValueError, match="not a file name"):
            write_workdir(tmp_path, {name: "x"})


def test_hand_edited_manifest_never_deletes_outside(tmp_path: Path) -> None:
    root = tmp_path / "w"
    root.mkdir()
    (tmp_path / "precious").write_text("keep")
    (root / "terraform.tfstate").write_text("state")
    (root / ".roachcert-files.json").write_text(json.dumps({"files": ["../precious", "terraform.tfstate"]}))
    write_workdir(root, {"a.tf": "A\n"})
    assert (tmp_path / "precious").read_text() == "keep"
    assert (root / "terraform.tfstate").read_text() == "state"


def test_plan_meta_round_trip(tmp_path: Path) -> None:
    assert load_plan_meta(tmp_path) is None
    meta = PlanMeta("roachcert.tfplan", "f" * 64, files_hash({"a.tf": "A"}), True, engine="Terraform v1.15.5")
    save_plan_meta(tmp_path, meta)
    assert load_plan_meta(tmp_path) == meta
    assert files_hash({"a.tf": "A"}) != files_hash({"a.tf": "B"})
    (tmp_path / ".roachcert-plan.json").write_text("{broken")
    assert load_plan_meta(tmp_path) is None
