"""Atomic writes and secret files: 0600 from the first moment, never overwritten by accident."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from roachcert.files import FilesError, ensure_dir, write_atomic, write_secret

KEY = "-----BEGIN " + "PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every os.open the files module makes: (path, flags, mode)."""
    seen: list[tuple[str, int, int]] = []
    real = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        seen.append((str(path), flags, mode))
        return real(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr("roachcert.files.os.open", spy)
    return seen


def test_secret_is_created_exclusive_and_0600(tmp_path: Path, opens: list[tuple[str, int, int]]) -> None:
    key = tmp_path / "client.root.key"
    write_secret(key, KEY)
    assert key.read_text() == KEY
    assert mode(key) == 0o600
    [(path, flags, created_mode)] = opens
    assert path == str(key)
    assert flags & os.O_CREAT
    assert flags & os.O_EXCL
    assert created_mode == 0o600


def test_secret_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_secret(tmp_path / "k", KEY)
        write_secret(tmp_path / "k", KEY, replace=True)
    finally:
        os.umask(old)
    assert mode(tmp_path / "k") == 0o600


def test_existing_key_is_refused_and_kept(tmp_path: Path) -> None:
    key = tmp_path / "client.root.key"
    key.write_text("old")
    with pytest.raises(FilesError, match="exists; pass --force"):
        write_secret(key, KEY)
    assert key.read_text() == "old"


def test_symlink_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "client.root.key"
    link.symlink_to(target)
    with pytest.raises(FilesError):
        write_secret(link, KEY)
    assert not target.exists()


def test_replace_is_atomic_and_0600(tmp_path: Path, opens: list[tuple[str, int, int]]) -> None:
    key = tmp_path / "client.root.key"
    key.write_text("old")
    os.chmod(key, 0o644)
    before = key.stat().st_ino
    write_secret(key, KEY, replace=True)
    assert key.read_text() == KEY
    assert mode(key) == 0o600
    assert key.stat().st_ino != before  # a new file renamed over the old one, not a rewrite in place
    [(path, flags, created_mode)] = opens
    assert path != str(key)
    assert flags & os.O_EXCL
    assert created_mode == 0o600
    assert no_temp_files(tmp_path)


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "client.root.crt"
    write_atomic(target, "one\n")
    write_atomic(target, "two\n")
    assert target.read_text() == "two\n"
    assert mode(target) == 0o644
    assert no_temp_files(tmp_path)


def test_write_atomic_failure_is_one_error_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    with pytest.raises(FilesError, match="cannot write"):
        write_atomic(target, "x")  # renaming a file over a folder fails
    assert no_temp_files(tmp_path)


def test_ensure_dir_creates_private_folders(tmp_path: Path) -> None:
    folder = tmp_path / "certs" / "stack" / "cluster"
    ensure_dir(folder)
    assert folder.is_dir()
    assert mode(folder) & 0o077 == 0
    (tmp_path / "file").write_text("x")
    with pytest.raises(FilesError):
        ensure_dir(tmp_path / "file")
