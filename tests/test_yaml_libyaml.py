"""libyaml composes the stack file; the pure-Python loader only where libyaml refuses it or is missing.

Whatever the path, `parse` gives the same values, the same lines, and the same one-line problems.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roachcert.spec import yamlsrc
from roachcert.spec.yamlsrc import YamlProblem, parse

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FILES = sorted(
    [
        *(TESTS / "bad_stacks").glob("*.yaml"),
        *(REPO / "stacks").glob("*.yaml"),
        *(REPO / "examples").rglob("*.yaml"),
    ]
)

# Texts where the two composers could part: syntax errors, odd characters, tags, anchors, nesting.
SNIPPETS = [
    "",
    "# only a comment\n",
    "---\n...\n",
    "a: 1\n---\nb: 2\n",
    "a: [1, 2\n",
    "a: {b: 1\n",
    "a: b: c\n",
    "- a\nb: 1\n",
    "a:\n  - 1\n - 2\n",
    "a: 'unterminated\n",
    'a: "bad \\q escape"\n',
    "a: @x\n",
    "a: `x\n",
    "%YAML 1.2\n---\na: 1\n",
    "%YAML 2.0\n---\na: 1\n",
    "%TAG ! tag:example.com,2000:\n---\na: !foo 1\n",
    "a: !!int abc\n",
    "a: !custom x\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!timestamp 2026-01-01\n",
    "a: 2026-01-01\n",
    "a: =\n",
    "? [x, y]\n: 1\n",
    "? complex\n: 1\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "a: {<<: [1]}\n",
    "a: *nope\n",
    "a: &x [1, *x]\n",
    "a: &a [1]\nb: &b [*a, *a]\nc: [*b, *b]\n",
    "a: 1\na: 2\n",
    "a:\r\n  b: 1\r\n",
    "\ufeffa: 1\n",
    "a: x\ufeffy\n",
    "a: \x07\n",
    "a: \x85\n",
    "a: \u2028x\n",
    "a: \U0001f600\n",
    "a: \ud800\n",
    "a: 0o17\nb: 0x1F\nc: 1_000\nd: .inf\ne: ~\nf: yes\ng: 1e3\n",
    "a: |\n  one\n  two\nb: >-\n  three\n  four\n",
    "a:   \n  b: 1\n",
    "[" * 40 + "]" * 40 + "\n",
    "[" * 1200 + "]" * 1200 + "\n",
    "".join(" " * i + "k:\n" for i in range(60)) + " " * 60 + "x\n",
    "- " * 40 + "x\n",
    "- " * 1100 + "x\n",
    "a: 1\n\tb: 2\n",
]


def _outcome(text: str) -> tuple[str, object]:
    try:
        data, lines = parse(text)
    except YamlProblem as problem:
        return "problem", (problem.line, problem.message)
    return "parsed", (data, lines.values, lines.keys, lines.duplicates)


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, object], tuple[str, object]]:
    fast = _outcome(text)
    with monkeypatch.context() as patch:
        patch.setattr(yamlsrc, "_CLoader", None)
        slow = _outcome(text)
    return fast, slow


def test_libyaml_is_there_and_composes_a_good_stack() -> None:
    # The wheel installed here has libyaml: a good stack must not fall back to the slow path.
    assert yaml.__with_libyaml__
    text = (REPO / "stacks" / "example.yaml").read_text(encoding="utf-8")
    assert yamlsrc._compose_fast(text) is not yamlsrc._UNREADABLE


def test_refused_text_is_left_to_the_pure_python_loader() -> None:
    assert yamlsrc._compose_fast("a: [1, 2\n") is yamlsrc._UNREADABLE


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_stack_file_parses_alike_on_both_paths(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(path.read_text(encoding="utf-8"), monkeypatch)
    assert fast == slow


@pytest.mark.parametrize("text", SNIPPETS, ids=range(len(SNIPPETS)))
def test_odd_text_parses_or_fails_alike_on_both_paths(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(text, monkeypatch)
    assert fast == slow


def test_a_big_stack_parses_alike_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    clusters = "".join(
        f"  c{index}:\n    id: {index:08x}-0000-4000-8000-000000000000\n    ca: [a, b]\n    users: [root, app]\n"
        for index in range(300)
    )
    fast, slow = _both(f"version: 1\nclusters:\n{clusters}", monkeypatch)
    assert fast[0] == "parsed"
    assert fast == slow
