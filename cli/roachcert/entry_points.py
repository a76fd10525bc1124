"""The entry points of one group across the installed distributions, read the way the PyPA entry points
specification writes them (`*.dist-info/entry_points.txt`, an INI file), without importlib.metadata.

Why not importlib.metadata: importing it (email, zipfile, csv, …) costs about as much as the rest of
`roachcert --help` besides typer, to learn the one `sandbox` command another distribution may add. Each
distribution is counted once, the first on `sys.path` winning, as importlib.metadata does; a zipped
distribution is not looked into (pip installs none).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

_METADATA_DIR = re.compile(r"^(?P<name>.+?)(?:-[^-]*)?\.(?:dist-info|egg-info)$")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str  # "module" or "module:attribute"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata_dirs(path: Iterable[str]) -> Iterable[tuple[str, str]]:
    """(distribution name, folder) of each distribution's metadata folder on `path`, first one wins."""
    seen: set[str] = set()
    for entry in path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # not a folder (a zip on sys.path), gone, or not readable
            continue
        for name in names:
            match = _METADATA_DIR.match(name)
            if match is None:
                continue
            distribution = _normalized(match["name"])
            if distribution not in seen:
                seen.add(distribution)
                yield distribution, os.path.join(entry or ".", name)


def parse(text: str, group: str) -> list[EntryPoint]:
    """The `name = value` lines of section `[group]` of an entry_points.txt."""
    found: list[EntryPoint] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        if current == group and "=" in line:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip()))
    return found


def entry_points(group: str, path: Iterable[str]) -> list[EntryPoint]:
    """Every entry point of `group` the distributions on `path` (sys.path) declare."""
    found: list[EntryPoint] = []
    for _distribution, folder in _metadata_dirs(path):
        try:
            with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError):
            continue
        found.extend(parse(text, group))
    return found
