"""The layer rule: data flows one way, from the command edge down to the base, never back up.

A unit is a top-level module or a package (`certs`, `vault`, `cloud`, `terraform`, `reports`, `spec`, ...).
A unit imports units of its own layer or below; within a layer the imports form no cycle.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cli" / "roachcert"

# Top to bottom. `__init__` is the package itself (its `__version__`).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__main__", "app", "commands", "runtime", "crash_log"}),
    frozenset({"applying", "planning", "rendering", "plan_pool", "adoption"}),
    frozenset(
        {
            "adapters",
            "reports",
            "terraform",
            "github",
            "certs",
            "vault",
            "cloud",
            "unmanaged",
            "bundles",
            "guard_facts",
            "plan_record",
            "plan_seen",
        }
    ),
    frozenset({"spec", "pem", "plan_summary", "stack_lock"}),
    frozenset(
        {
            "__init__",
            "errors",
            "exit_status",
            "environment",
            "credentials",
            "outside_json",
            "entry_points",
            "mask",
            "escape",
            "names",
            "paths",
            "files",
            "progress",
            "interrupts",
            "backoff",
            "http_session",
        }
    ),
)


def unit_of(relative: str) -> str:
    """`certs/issue.py` → `certs`; `planning.py` → `planning`."""
    first = relative.split("/")[0]
    return first.removesuffix(".py")


def imported_units(source: str) -> set[str]:
    """The roachcert units a module's source imports (any depth: a command body's lazy import counts)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "roachcert":
                names = [f"roachcert.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "roachcert":
                continue
            target = parts[1] if len(parts) > 1 else "__init__"
            found.add("__init__" if target == "__version__" else target)
    return found


def rank(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise LookupError(unit)


def upward(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """`a -> b` for each import of a unit in a higher layer, or of a unit no layer lists."""
    found: list[str] = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            try:
                if rank(target) < rank(source):
                    found.append(f"{source} -> {target}: imports a higher layer")
            except LookupError as exc:
                found.append(f"{source} -> {target}: {exc} is in no layer")
    return found


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each import cycle between units, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> None:
        if unit in path:
            found.append([*path[path.index(unit) :], unit])
            return
        if unit in done:
            return
        for target in sorted(edges.get(unit, ())):
            visit(target, [*path, unit])
        done.add(unit)

    for unit in sorted(edges):
        visit(unit, [])
    return found


def package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of(path.relative_to(PACKAGE).as_posix())
        targets = imported_units(path.read_text(encoding="utf-8")) - {unit}
        edges.setdefault(unit, set()).update(targets)
    return edges


def test_every_unit_is_in_a_layer() -> None:
    assert [unit for unit in package_edges() if not any(unit in layer for layer in LAYERS)] == []


def test_no_unit_imports_a_higher_layer() -> None:
    assert upward(package_edges()) == []


def test_units_import_each_other_without_cycles() -> None:
    assert cycles(package_edges()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from roachcert.certs.issue import issue_all\n", {"certs"}),
        ("from roachcert import environment, mask\n", {"environment", "mask"}),
        ("from roachcert import __version__\n", {"__init__"}),
        ("def f():\n    from roachcert.vault import adapter\n", {"vault"}),
        ("import roachcert.cloud.client\nimport yaml\n", {"cloud"}),
        ("from . import sibling\nfrom typing import Any\n", set()),
    ],
)
def test_imported_units_reads_every_form(source: str, expected: set[str]) -> None:
    assert imported_units(source) == expected


def test_upward_names_an_import_of_a_higher_layer_and_an_unknown_unit() -> None:
    assert upward({"pem": {"errors", "certs"}, "certs": {"nowhere"}}) == [
        "certs -> nowhere: nowhere is in no layer",
        "pem -> certs: imports a higher layer",
    ]


def test_cycles_finds_a_cycle_within_a_layer() -> None:
    assert cycles({"certs": {"vault"}, "vault": {"certs"}, "pem": {"errors"}}) == [
        ["certs", "vault", "certs"]
    ]
    assert cycles({"vault": {"certs"}, "certs": {"bundles"}}) == []


def test_the_readme_layer_table_names_the_same_units() -> None:
    """The README's table is what a newcomer reads: it must say what this test holds."""
    readme = (PACKAGE.parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("| layer | units |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    named = [{name.rstrip("/") for name in re.findall(r"`([a-z_]+/?)`", row.split("|")[2])} for row in rows]
    listed = [set(layer) - {"__init__", "__main__"} for layer in LAYERS]
    assert named == listed
