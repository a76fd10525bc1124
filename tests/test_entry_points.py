"""roachcert's reader of entry points answers as importlib.metadata does, for every group installed here."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from roachcert.entry_points import EntryPoint, entry_points, parse


def _theirs(group: str) -> list[tuple[str, str]]:
    return sorted((point.name, point.value) for point in importlib.metadata.entry_points(group=group))


@pytest.mark.parametrize("group", ["console_scripts", "roachcert.commands", "pytest11", "no.such.group"])
def test_it_finds_what_importlib_metadata_finds(group: str) -> None:
    ours = sorted((point.name, point.value) for point in entry_points(group, sys.path))
    assert ours == _theirs(group)


def test_the_sandbox_command_is_found() -> None:
    assert EntryPoint("sandbox", "roachcert_sandbox.plugin") in entry_points("roachcert.commands", sys.path)


def test_the_first_distribution_on_the_path_wins_and_other_sections_are_ignored(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, value in ((first, "mine.plugin"), (second, "shadowed.plugin")):
        meta = folder / "my_plugin-1.0.dist-info"
        meta.mkdir(parents=True)
        (meta / "entry_points.txt").write_text(
            f"[console_scripts]\nx = y:z\n\n[roachcert.commands]\n# a comment\nhello = {value}\n",
            encoding="utf-8",
        )
    (tmp_path / "not-a-folder.dist-info").write_text("")  # a file by that name is skipped
    path = [str(first), str(second), str(tmp_path), str(tmp_path / "missing")]
    assert entry_points("roachcert.commands", path) == [EntryPoint("hello", "mine.plugin")]


def test_parse_reads_one_section() -> None:
    text = "[a]\nx = 1\n[b]\n  y=mod:attr  \n; note\n[c]\nz = 3\n"
    assert parse(text, "b") == [EntryPoint("y", "mod:attr")]
    assert parse(text, "d") == []
