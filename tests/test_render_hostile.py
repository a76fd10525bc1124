"""Every template rendered with hostile values in every field: what comes out parses (python-hcl2, and the
real engine's `terraform validate`) to exactly the blocks roachcert writes, each value reads back as given,
and a hostile name is refused instead of written. Nothing a stack holds can add a block, end a comment or
start an interpolation."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_choice import fmt_unclean
from roachcert.errors import TerraformError
from roachcert.spec import Backend, Cluster, Stack, TerraformSpec
from roachcert.terraform.module import render_module

UUID = "2186fbdb-598c-4797-a463-aaaee865903e"
INJECTIONS = [
    '"\n}\nresource "null_resource" "evil" {\n#',
    'x\nterraform {\n  required_version = ">= 99"\n}\n',
    '${file("/etc/passwd")}',
    "%{ if true }x%{ endif }",
    "$${already} %%{doubled}",
    'back\\slash\\" quote\\',
    "cr\r\nlf\n\ttab\x0bvt\x0cff",
    "\x1b]0;title\x07 esc and bel",
    "\u2028line sep\u2029 \x85nel \u202e",
    "EOT\n<<EOT\nEOT",
    "*/ /* // #",
    "é 😀 \U000e0001",
    "",
]
SETTLE = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def hostile_stack(value: str, *, name: str = "prod", backend: str = "s3") -> Stack:
    """A stack whose every free-text field holds `value` (names stay names: they are checked where they enter,
    and refused by render below). Built without the loader, as a hand-made or future caller could."""
    cluster = Cluster.model_construct(id=value or UUID, ca=("ca",), host="h", port=26257, users=())
    config: dict[str, Any] = {"bucket": value, "key": value, "workspaces": {"name": value}}
    terraform = TerraformSpec.model_construct(
        provider_version=value,
        required_version=value,
        backend=Backend.model_construct(type=backend, config=config),
        templates=None,
    )
    return Stack.model_construct(
        version=1, cas={}, clusters={"frogs": cluster}, terraform=terraform, name=name, source=None
    )


def unquote(token: str) -> str:
    """An HCL quoted string (as python-hcl2 hands it back, quotes and escapes kept) or heredoc, decoded."""
    if token.startswith("<<-EOT\n"):
        lines = token.removeprefix("<<-EOT\n").rsplit("\n", 1)[0].split("\n")
        indent = min((len(line) - len(line.lstrip(" ")) for line in lines if line), default=0)
        return "".join(line[indent:] + "\n" for line in lines)
    assert token.startswith('"'), token
    assert token.endswith('"'), token
    body = token[1:-1]
    escapes = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            follow = body[i + 1]
            if follow == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if follow == "U":
                out.append(chr(int(body[i + 2 : i + 10], 16)))
                i += 10
                continue
            out.append(escapes[follow])
            i += 2
        elif body.startswith(("$${", "%%{"), i):
            out.append(body[i + 1 : i + 3])
            i += 3
        else:
            assert body.startswith(("${", "%{"), i) is False, f"an interpolation got through: {token!r}"
            out.append(char)
            i += 1
    return "".join(out)


def structure(files: dict[str, str]) -> dict[str, Any]:
    return {name: hcl2.loads(text) for name, text in files.items()}


def check(files: dict[str, str], value: str) -> None:
    parsed = structure(files)
    assert set(parsed) == {"versions.tf", "provider.tf", "backend.tf", "clusters.tf"}
    for name, text in files.items():
        # One comment line per line roachcert writes: the value never adds or ends one.
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        assert len(comments) == {"versions.tf": 1, "provider.tf": 2, "backend.tf": 2, "clusters.tf": 4}[name]
        doc = parsed[name]
        assert (
            set(doc) - {"__comments__"}
            == {
                "versions.tf": {"terraform"},
                "provider.tf": {"provider"},
                "backend.tf": {"terraform"},
                "clusters.tf": {"resource"},
            }[name]
        ), (name, doc)
    [versions] = parsed["versions.tf"]["terraform"]
    assert set(versions) - {"__is_block__"} == {"required_version", "required_providers"}
    assert unquote(versions["required_version"]) == value
    [providers] = versions["required_providers"]
    assert unquote(providers["cockroach"]["version"]) == value
    assert [list(p) for p in parsed["provider.tf"]["provider"]] == [['"cockroach"']]
    [terraform] = parsed["backend.tf"]["terraform"]
    [backend] = terraform["backend"]
    assert list(backend) == ['"s3"']
    body = backend['"s3"']
    assert set(body) - {"__is_block__"} == {"bucket", "key", "workspaces"}
    assert unquote(body["bucket"]) == unquote(body["key"]) == value
    assert unquote(body["workspaces"][0]["name"]) == value
    resources = parsed["clusters.tf"]["resource"]
    assert [(next(iter(r)), next(iter(next(iter(r.values()))))) for r in resources] == [
        ('"terraform_data"', '"frogs_id"'),
        ('"cockroach_client_ca_cert"', '"frogs"'),
    ]
    cert = resources[1]['"cockroach_client_ca_cert"']['"frogs"']
    assert set(cert) - {"__is_block__"} == {"id", "x509_pem_cert", "lifecycle"}
    assert unquote(cert["id"]) == (value or UUID)
    assert unquote(cert["x509_pem_cert"]) == value
    assert cert["lifecycle"][0]["replace_triggered_by"] == ["${terraform_data.frogs_id}"]


@pytest.mark.parametrize("value", INJECTIONS, ids=range(len(INJECTIONS)))
def test_a_hostile_value_in_every_field_stays_a_value(value: str) -> None:
    check(render_module(hostile_stack(value), {"frogs": value}), value)


@pytest.mark.parametrize("value", [*INJECTIONS[:4], "a\nb", "a\rb", "x\x1b"], ids=range(7))
def test_a_hostile_stack_name_stays_inside_its_comment(value: str) -> None:
    files = render_module(hostile_stack("v", name=value), {"frogs": "v"})
    check(files, "v")
    for text in files.values():
        first = text.splitlines()[0]
        assert first.startswith("# Written by roachcert from stack ")
        assert first.endswith(": edit the stack file, not this file.")


@SETTLE
@given(st.text(max_size=60), st.text(max_size=20))
def test_any_text_in_every_field_stays_a_value(value: str, name: str) -> None:
    check(render_module(hostile_stack(value, name=name), {"frogs": value}), value)


@pytest.mark.parametrize("bad", ['a" "b', "a\n", "a.b", "1a", "", "a b", "a}", "frogs\nresource"])
def test_a_hostile_resource_or_argument_name_is_refused_not_written(bad: str) -> None:
    stack = hostile_stack("v")
    stack_bad_cluster = stack.model_copy(update={"clusters": {bad: stack.clusters["frogs"]}})
    with pytest.raises(TerraformError):
        render_module(stack_bad_cluster, {bad: "v"})
    with pytest.raises(TerraformError):
        render_module(stack, {"frogs": "v"}, forget=[bad])
    bad_key = Backend.model_construct(type="s3", config={bad: "v"})
    with pytest.raises(TerraformError):
        render_module(
            stack.model_copy(update={"terraform": stack.terraform.model_copy(update={"backend": bad_key})}),
            {"frogs": "v"},
        )


def test_a_hostile_backend_type_is_quoted() -> None:
    files = render_module(hostile_stack("v", backend='s3" {\n}\nresource "x" "y'), {"frogs": "v"})
    [terraform] = hcl2.loads(files["backend.tf"])["terraform"]
    [backend] = terraform["backend"]
    assert len(backend) == 1
    assert re.fullmatch(r'"s3\\" \{\\n\}\\nresource \\"x\\" \\"y"', next(iter(backend)))


# -- the real engine: `terraform validate` reads the same blocks ---------------------------------------------
@pytest.mark.integration
def test_the_engine_validates_hostile_values(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roachcert.terraform.engine import resolve_engine
    from roachcert.terraform.runner import Terraform

    engine = resolve_engine(os.environ)
    for index, value in enumerate(INJECTIONS):
        stack = hostile_stack(value, name=value)
        # Version constraints must parse as constraints; every other field keeps the hostile value.
        terraform = stack.terraform.model_copy(
            update={"provider_version": "~> 1.22", "required_version": ">= 1.7"}
        )
        stack = stack.model_copy(update={"terraform": terraform})
        folder = tmp_path / f"case{index}"
        folder.mkdir()
        for name, text in render_module(stack, {"frogs": value}).items():
            (folder / name).write_text(text, encoding="utf-8")
        tf = Terraform(folder, engine, os.environ)  # the sandbox's TF_CLI_CONFIG_FILE
        init = tf.run("init", "-backend=false", "-input=false", "-no-color", stream=False)
        assert init.returncode == 0, init.output
        # `validate -json` (needs init): its diagnostics are data, printed even when it fails.
        result = json.loads(tf.run("validate", "-json", "-no-color", stream=False, data=True).stdout)
        assert result.get("valid") is True, (value, result)
        assert result.get("warning_count", 0) == 0, (value, result)
        assert fmt_unclean(tf) == (), value
