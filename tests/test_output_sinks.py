"""The sink rule: only the CLI edge (`app`, `runtime`) writes to the process's stdout and stderr, so every
line a command prints passes the run's mask and escape. Two programs of their own are exempt: the
emulator's server process and the embedded engine's executable."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cli" / "roachcert"
EDGE = {"app.py", "runtime.py"}
OWN_PROGRAMS = {"terraform/shim.py"}


def _writes(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("stdout", "stderr")
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"line {node.lineno}: sys.{node.attr}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "print":
                found.append(f"line {node.lineno}: print()")
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("echo", "secho")
                and isinstance(func.value, ast.Name)
            ):
                found.append(f"line {node.lineno}: {func.value.id}.{func.attr}()")
    return found


def test_only_the_edge_writes_to_the_process_streams() -> None:
    offenders: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in EDGE or relative in OWN_PROGRAMS:
            continue
        found = _writes(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[relative] = found
    assert offenders == {}


def test_the_rule_sees_each_kind_of_write() -> None:
    source = "import sys, typer\nsys.stderr.write('x')\nprint('y')\ntyper.echo('z')\n"
    assert len(_writes(ast.parse(source))) == 3
