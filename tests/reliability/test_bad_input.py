"""Bad input, generated: random text and near-valid stacks into the stack loader, random and damaged PEM
into the PEM checks. Nothing escapes but roachcert's own errors, each with a `FILE:LINE:` line; nothing
hangs or blows up memory (nesting and alias bombs are refused by limits)."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certs_helper import key_pem, make_ca
from roachcert.errors import PemError, RoachcertError, SpecError
from roachcert.pem import check_ca_file, check_ca_pem, parse_certificates
from roachcert.spec import Stack, load_stack_text
from roachcert.spec.yamlsrc import MAX_DEPTH, MAX_VALUES

EXAMPLES = 200
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# A folder that does not exist: relative pem_file paths in generated stacks resolve to nothing.
STACK_PATH = Path("/nonexistent-roachcert-fuzz/stacks/fuzz.yaml")
LINE = re.compile(rf"^{re.escape(str(STACK_PATH))}:\d+: \S")
EXAMPLE_TEXT = (Path(__file__).resolve().parents[2] / "stacks" / "example.yaml").read_text(encoding="utf-8")
EXAMPLE: dict[str, Any] = yaml.safe_load(EXAMPLE_TEXT)


def load_or_error(text: str) -> Stack | SpecError:
    """The loader's whole contract: a Stack, or roachcert's error with a FILE:LINE: line per problem."""
    try:
        return load_stack_text(text, STACK_PATH)
    except SpecError as exc:
        error = exc
    except RoachcertError as exc:  # another of roachcert's own errors: still a FILE:LINE: line
        error = SpecError([str(exc)])
    assert error.problems
    for problem in error.problems:
        assert LINE.match(problem), problem
    return error


# -- the stack loader ----------------------------------------------------------------------------------
YAML_ALPHABET = st.sampled_from(
    [*":-[]{}&*!|>'\"#%@`,?<= \n", "  ", "\n  ", "a", "b", "1", "0x", "1e9", "~", "null", "yes", "version",
     "cas", "clusters", "mount", "id", "ca", "users", "é", "\u202e", "😀", "\x85", "\ufeff", "\u2028"]
)  # fmt: skip


@FUZZ
@given(st.text(max_size=400))
def test_random_text_is_a_stack_or_a_spec_error(text: str) -> None:
    load_or_error(text)


@FUZZ
@given(st.lists(YAML_ALPHABET, max_size=120).map("".join))
def test_yaml_shaped_noise_is_a_stack_or_a_spec_error(text: str) -> None:
    load_or_error(text)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**100, -(10**30), 2**63, 0, -1, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", " ", "é", "😀" * 10, "\u202e", "x" * 5000, "99999999999999999999h", "0h", "1y"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    """The example stack with a few structural mutations, dumped back to YAML."""
    doc = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _get(doc, path[:-1])
        kind = draw(st.sampled_from(["drop", "swap", "nest", "unicode_key", "rename"]))
        if kind == "drop":
            del parent[path[-1]]
        elif kind == "swap":
            parent[path[-1]] = draw(ODD_VALUES)
        elif kind == "nest":
            value = parent[path[-1]]
            for _level in range(draw(st.integers(1, 60))):
                value = draw(st.sampled_from([[value], {"k": value}]))
            parent[path[-1]] = value
        elif kind == "unicode_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(ODD_VALUES)
        elif kind == "rename" and isinstance(parent, dict):
            parent[
                draw(st.sampled_from(["x509_pem_cert", "issuer", "cluster_id", "token", "clsuters", "Mount"]))
            ] = parent.pop(path[-1])
    return yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=draw(st.booleans()))


@FUZZ
@given(mutated_example())
def test_a_mutated_example_is_a_stack_or_a_spec_error(text: str) -> None:
    load_or_error(text)


@st.composite
def damaged_example_text(draw: st.DrawFn) -> str:
    """The example's text with lines dropped, duplicated, re-indented, cut, or given anchors and aliases."""
    lines = EXAMPLE_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        kind = draw(
            st.sampled_from(["drop", "dup", "indent", "cut", "char", "anchor", "alias", "tag", "bomb"])
        )
        line = lines[index]
        if kind == "drop" and len(lines) > 1:
            del lines[index]
        elif kind == "dup":
            lines.insert(index, line)
        elif kind == "indent":
            lines[index] = " " * draw(st.integers(0, 9)) + line.lstrip()
        elif kind == "cut":
            lines[index] = line[: draw(st.integers(0, len(line)))]
        elif kind == "char":
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.characters(codec="utf-8")) + line[at:]
        elif kind == "anchor" and ": " in line:
            key, _, value = line.partition(": ")
            lines[index] = f"{key}: &{draw(st.sampled_from(['a', 'b']))} {value}"
        elif kind == "alias" and ": " in line:
            key, _, _value = line.partition(": ")
            lines[index] = f"{key}: *{draw(st.sampled_from(['a', 'b']))}"
        elif kind == "tag" and ": " in line:
            key, _, value = line.partition(": ")
            tag = draw(
                st.sampled_from(
                    [
                        "!!int",
                        "!!float",
                        "!!binary",
                        "!!timestamp",
                        "!!python/name:os.system",
                        "!x",
                        "!!set",
                        "!!str",
                    ]
                )
            )
            lines[index] = f"{key}: {tag} {value}"
        elif kind == "bomb":
            lines[index:index] = _bomb_lines(draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    return "\n".join(lines) + "\n"


def _bomb_lines(levels: int, width: int, key: str = "lol") -> list[str]:
    lines = [f'{key}0: &{key}0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*{key}{level - 1}"] * width)
        lines.append(f"{key}{level}: &{key}{level} [{refs}]")
    return lines


@FUZZ
@given(damaged_example_text())
def test_a_damaged_example_is_a_stack_or_a_spec_error(text: str) -> None:
    load_or_error(text)


def test_the_example_stack_loads() -> None:
    assert isinstance(load_or_error(EXAMPLE_TEXT), Stack)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nbomb:\n  " + "\n  ".join(_bomb_lines(9, 9)) + "\n", "aliases"),
        ("version: 1\nbomb: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested more than"),
        ("version: 1\nbomb: " + "{a: " * 20_000 + "b" + "}" * 20_000 + "\n", "nested more than"),
        ("version: 1\nbomb: &a [*a, *a]\n", "nested more than"),
        ("version: 1\nbomb:\n" + "".join(" " * n + "- \n" for n in range(0, 2000, 2)), "nested more than"),
        ("version: 1\nbomb: &a\n  <<: *a\n", "unknown field"),
        ("version: 1\nbomb: {<<: 1}\n", "YAML syntax error"),
        ("version: !!int abc\n", "does not fit its YAML tag !!int"),
        ("version: 1\nbomb: =\n", "unknown field"),
        ("version: !!python/name:os.system ''\n", "not supported"),
        ("version: !!python/object/apply:os.system [echo hi]\n", "unsupported version ['echo hi']"),
        ("version: 1\ncas: {x: {mount: m, common_name: c, issuers: [a], ttl: 99999999999999999999999h}}\n", "100 years"),
        ("version: 1\ncas: {x: {mount: m, common_name: c, issuers: [a], ttl: " + "9" * 5000 + "h}}\n", "100 years"),
    ],
    ids=["billion-laughs", "deep-flow-list", "deep-flow-map", "self-alias", "deep-block", "self-merge",
         "merge-scalar", "bad-int-tag", "plain-equals", "python-tag", "python-tag-on-a-list", "huge-ttl", "huge-ttl-digits"],
)  # fmt: skip
def test_bombs_and_tags_are_refused_quickly(text: str, expected: str) -> None:
    started = time.monotonic()
    outcome = load_or_error(text)
    assert isinstance(outcome, SpecError)
    assert expected in str(outcome), str(outcome)
    # A hang guard against exponential blow-up (a bomb takes hours), not a speed test: busy CI runners
    # with several suites at once have taken seconds here.
    assert time.monotonic() - started < 60


def test_a_large_honest_stack_is_within_the_limits() -> None:
    clusters = "".join(
        f"  c{n}:\n    id: 00000000-0000-4000-8000-{n:012d}\n    ca: client-ca\n"
        f"    host: c{n}.example.crdb.io\n    users: [root, app, ops]\n"
        for n in range(5000)
    )
    text = EXAMPLE_TEXT.split("clusters:")[0] + "clusters:\n" + clusters
    stack = load_or_error(text)
    assert isinstance(stack, Stack)
    assert len(stack.clusters) == 5000
    assert MAX_DEPTH >= 8
    assert MAX_VALUES > 5000 * 8


def test_a_pem_file_that_would_block_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    stack = tmp_path / "fifo.yaml"
    text = "version: 1\ncas:\n  legacy:\n    pem_file: ca.pem\nclusters: {}\n"
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        load_stack_text(text, stack)
    # A hang guard against exponential blow-up (a bomb takes hours), not a speed test: busy CI runners
    # with several suites at once have taken seconds here.
    assert time.monotonic() - started < 60
    assert f"{stack}:4: cas.legacy.pem_file: " in caught.value.problems[0]
    assert "not a regular file" in caught.value.problems[0]
    for special in (Path("/dev/zero"), tmp_path):
        with pytest.raises(PemError):
            check_ca_file(special)


# -- the PEM checks ------------------------------------------------------------------------------------
SOURCE = "ca.pem"
CA_PEM, CA_KEY = make_ca("Fuzz CA")
CA_DER = x509.load_pem_x509_certificate(CA_PEM.encode()).public_bytes(serialization.Encoding.DER)
KEY_PEM = key_pem(CA_KEY)


def pem_or_error(text: str) -> None:
    for check in (lambda: parse_certificates(text, SOURCE), lambda: check_ca_pem(text, SOURCE)):
        try:
            check()
        except PemError as exc:
            message = str(exc)
            assert message.startswith(f"{SOURCE}: "), message
            assert "PRIVATE KEY-----\n" not in message
            assert KEY_PEM.splitlines()[1] not in message  # never a line of a key


def _armor(der: bytes, label: str = "CERTIFICATE") -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


@FUZZ
@given(st.text(max_size=600))
def test_random_text_is_certificates_or_a_pem_error(text: str) -> None:
    pem_or_error(text)


@FUZZ
@given(st.binary(max_size=600))
def test_random_der_is_certificates_or_a_pem_error(der: bytes) -> None:
    pem_or_error(_armor(der))


@st.composite
def damaged_der(draw: st.DrawFn) -> bytes:
    der = bytearray(CA_DER)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(der) - 1))
        kind = draw(st.sampled_from(["flip", "set", "drop", "insert"]))
        if kind == "flip":
            der[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            der[at] = draw(st.integers(0, 255))
        elif kind == "drop":
            del der[at]
        else:
            der.insert(at, draw(st.integers(0, 255)))
    return bytes(der)


@FUZZ
@given(damaged_der())
def test_a_damaged_certificate_is_a_pem_error_or_parses(der: bytes) -> None:
    pem_or_error(_armor(der))


@st.composite
def damaged_pem_text(draw: st.DrawFn) -> str:
    """The CA's PEM, with the mistakes people make when they copy certificates around."""
    blocks = [CA_PEM] * draw(st.integers(1, 3))
    if draw(st.booleans()):
        blocks.insert(draw(st.integers(0, len(blocks))), KEY_PEM)
    text = "".join(blocks)
    lines = text.splitlines()
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "cut", "char", "label", "indent", "insert"]))
        if kind == "drop" and len(lines) > 1:
            del lines[index]
        elif kind == "dup":
            lines.insert(index, lines[index])
        elif kind == "cut":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        elif kind == "char":
            at = draw(st.integers(0, len(lines[index])))
            lines[index] = lines[index][:at] + draw(st.characters()) + lines[index][at:]
        elif kind == "label":
            lines[index] = lines[index].replace(
                "CERTIFICATE", draw(st.sampled_from(["CERTIFICATE REQUEST", "X509 CRL", "PKCS7", "WHAT"]))
            )
        elif kind == "indent":
            lines[index] = "   " + lines[index]
        else:
            lines.insert(index, draw(st.text(max_size=20)))
    text = "\n".join(lines)
    wrap = draw(st.sampled_from(["none", "crlf", "bom", "json", "escaped", "vault"]))
    if wrap == "crlf":
        text = text.replace("\n", "\r\n")
    elif wrap == "bom":
        text = "\ufeff" + text
    elif wrap == "json":
        text = json.dumps({"x509_pem_cert": text})
    elif wrap == "escaped":
        text = text.replace("\n", "\\n")
    elif wrap == "vault":
        text = json.dumps({"data": {"certificate": text, "private_key": KEY_PEM}})
    return text


@FUZZ
@given(damaged_pem_text())
def test_damaged_pem_text_is_a_pem_error_or_parses(text: str) -> None:
    pem_or_error(text)


def test_certificates_the_parser_used_to_choke_on_are_pem_errors() -> None:
    """Errors cryptography raises outside ValueError (crafted: random damage seldom reaches them)."""
    duplicate_extension = CA_DER.replace(b"\x55\x1d\x0f", b"\x55\x1d\x13", 1)  # keyUsage → basicConstraints
    version = CA_DER.find(b"\xa0\x03\x02\x01\x02")
    bad_version = CA_DER[:version] + b"\xa0\x03\x02\x01\x07" + CA_DER[version + 5 :]
    for der in (duplicate_extension, bad_version):
        with pytest.raises(PemError) as caught:
            check_ca_pem(_armor(der), SOURCE)
        assert str(caught.value).startswith(f"{SOURCE}: line 1: ")


# -- hostile input over the CLI: names from file names, spellings of secrets (issue 18) -----------------------
BAD_STACKS = Path(__file__).resolve().parents[1] / "bad_stacks"
HOSTILE_CORPUS = (
    "secret_key_capitalised.yaml",
    "secret_key_newline.yaml",
    "secret_nested_key_padded.yaml",
    "conn_str_percent_encoded.yaml",
    "conn_str_sslpassword.yaml",
    "conn_str_unreadable.yaml",
)
VALID_STACK = """\
version: 1
cas:
  client-ca: {mount: pki_client, common_name: Client CA, issuers: [ca-a]}
clusters:
  frogs: {id: 2186fbdb-598c-4797-a463-aaaee865903e, ca: client-ca, host: frogs.example.test}
"""
# File names whose stack name would leave .roachcert/ (`..`), sit in it (`""`), or break a line or a path.
HOSTILE_FILE_NAMES = (
    "...yaml",
    ".yaml",
    "..yml",
    "a\nb.yaml",
    "x y.yaml",
    "-rf.yaml",
    "plugin-cache.yaml",  # a folder of roachcert's own beside the stacks'
    "é.yaml",
)


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (but what roachcert may keep in .roachcert/STACK/) with its content."""
    found: dict[str, bytes] = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if relative.parts[:1] == (".roachcert",) and len(relative.parts) > 2:
            continue
        found[str(relative)] = path.read_bytes() if path.is_file() else b"<dir>"
    return found


def _fails_in_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from roachcert.app import run

    capsys.readouterr()
    code = run(args)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code == 1, f"roachcert {args} exited {code}:\n{text}"
    assert "Traceback" not in text
    assert "internal error" not in text
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, f"roachcert {args}:\n{captured.err}"
    return lines[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding its own Terraform files, as the current folder."""
    (tmp_path / "versions.tf").write_text("# the project's own\n", encoding="utf-8")
    (tmp_path / "stacks").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", ["validate", "render", "plan"])
@pytest.mark.parametrize("name", HOSTILE_CORPUS)
def test_hostile_corpus_is_one_line_and_writes_nothing(
    project: Path, name: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "stacks" / name
    path.write_bytes((BAD_STACKS / name).read_bytes())
    before = _tree(project)
    line = _fails_in_one_line([command, str(path)], capsys)
    assert line.startswith(f"{path}:")
    assert "hunter2" not in line
    assert _tree(project) == before


@pytest.mark.parametrize("command", ["validate", "render", "plan", "status", "ca ensure", "unmanage"])
@pytest.mark.parametrize("file_name", HOSTILE_FILE_NAMES)
def test_a_file_name_that_is_no_stack_name_is_one_line_and_writes_nothing(
    project: Path, file_name: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "stacks" / file_name
    path.write_text(VALID_STACK, encoding="utf-8")
    before = _tree(project)
    args = [*command.split(), str(path), *(["gone"] if command == "unmanage" else [])]
    line = _fails_in_one_line(args, capsys)
    assert "rename the file" in line
    assert "\n" not in line
    assert _tree(project) == before


def test_planning_a_folder_with_a_dot_dot_stack_leaves_the_project_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "stacks" / "...yaml").write_text(VALID_STACK, encoding="utf-8")
    (project / "stacks" / "prod.yaml").write_text(VALID_STACK, encoding="utf-8")
    before = _tree(project)
    line = _fails_in_one_line(["plan", "stacks/"], capsys)
    assert "'..'" in line
    assert _tree(project) == before
    assert (project / "versions.tf").read_text(encoding="utf-8") == "# the project's own\n"
