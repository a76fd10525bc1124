"""Only roachcert.environment reads the process environment (the sandbox's own processes aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from roachcert import environment

PACKAGE = Path(__file__).resolve().parent.parent / "cli" / "roachcert"
_READERS = frozenset({"environ", "environb", "getenv", "getenvb"})
# Calls that read HOME from the process environment: `Path.home()`, `expanduser` (paths.home reads the run's).
_HOME_READERS = frozenset({"home", "expanduser"})


def readers(relative: str, source: str) -> list[str]:
    """`FILE:LINE` of each read of os.environ / os.getenv (or an import of them) in `source`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        attribute = (
            isinstance(node, ast.Attribute)
            and node.attr in _READERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )
        imported = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in _READERS for alias in node.names)
        )
        home = (
            isinstance(node, ast.Attribute)
            and node.attr in _HOME_READERS
            and (node.attr == "expanduser" or (isinstance(node.value, ast.Name) and node.value.id == "Path"))
        )
        if attribute or imported or home:
            found.append(f"{relative}:{getattr(node, 'lineno', 0)}")
    return found


def test_only_the_environment_module_reads_the_environment() -> None:
    found = [
        place
        for path in sorted(PACKAGE.rglob("*.py"))
        for place in readers(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        if not place.startswith(("environment.py:", "sandbox/"))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("import os\nx = os.environ.get('A')\n", 1),
        ("import os\nx = os.getenv('A')\n", 1),
        ("from os import environ\n", 1),
        ("from roachcert import environment\nx = environment.process()\n", 0),
        ("import os\nx = os.sep\n", 0),
        ("from pathlib import Path\nx = Path.home()\n", 1),
        ("x = path.expanduser()\n", 1),
        ("import os\nx = os.path.expanduser('~')\n", 1),
        ("x = paths.home(environ)\n", 0),
    ],
)
def test_the_rule_sees_each_way_of_reading(source: str, count: int) -> None:
    assert len(readers("m.py", source)) == count


def test_the_environment_is_the_live_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROACHCERT_ENV_PROBE", "seen")
    assert environment.process()["ROACHCERT_ENV_PROBE"] == "seen"
    monkeypatch.delenv("ROACHCERT_ENV_PROBE")
    assert "ROACHCERT_ENV_PROBE" not in environment.process()


def askers(relative: str, source: str) -> list[str]:
    """`FILE:LINE` of each `environment.process` in `source`: a module asking for the process's environment
    instead of being handed the run's."""
    return [
        f"{relative}:{node.lineno}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr == "process"
        and isinstance(node.value, ast.Name)
        and node.value.id == "environment"
    ]


def test_only_the_runtime_asks_for_the_process_environment() -> None:
    # Every other module is handed the run's environment (runtime.Runtime.environ) as an argument.
    found = [
        place
        for path in sorted(PACKAGE.rglob("*.py"))
        for place in askers(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        if not place.startswith("runtime.py:")
    ]
    assert found == []


def test_the_asking_rule_sees_a_lookup() -> None:
    assert askers("m.py", "from roachcert import environment\nx = environment.process()['A']\n") == ["m.py:2"]
    assert askers("m.py", "def f(environ):\n    return environ['A']\n") == []
