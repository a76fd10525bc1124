"""A stack's Terraform working folder: our rendered files (written atomically); the saved plan's record is
plan_record's.

Only files listed in our manifest are ever replaced or removed; `.terraform/`, the lock file and state are
Terraform's and are left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roachcert.files import FilesError, ensure_dir, write_atomic
from roachcert.terraform.resources import RESOURCE_TYPE

MANIFEST = ".roachcert-files.json"
PLAN_META = ".roachcert-plan.json"
# Names that belong to Terraform or to us; a rendered file may never take one of them.
_RESERVED = frozenset({MANIFEST, PLAN_META, ".terraform", ".terraform.lock.hcl", "terraform.tfstate"})


def _check_name(name: str) -> None:
    if (
        not name
        or name in _RESERVED
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or name.startswith("terraform.tfstate")
    ):
        raise ValueError(f"{name!r} is not a file name roachcert may write in a working folder")


def may_write(name: str) -> bool:
    """Whether a rendered file may take this name (not Terraform's state, lock or folder, nor ours)."""
    try:
        _check_name(name)
    except ValueError:
        return False
    return True


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def our_files(root: Path) -> list[str]:
    """The files the last write_workdir put in `root` (empty when none, or the manifest is unreadable)."""
    data = read_json(root / MANIFEST)
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return []
    names = [name for name in data["files"] if isinstance(name, str)]
    valid = []
    for name in names:
        try:
            _check_name(name)
        except ValueError:
            continue  # a hand-edited manifest never makes us delete outside our own files
        valid.append(name)
    return valid


def write_workdir(root: Path, files: Mapping[str, str]) -> None:
    """Make `root` hold exactly these rendered files among ours; unchanged files are not rewritten."""
    for name in files:
        _check_name(name)
    ensure_dir(root, 0o777)  # the umask narrows it, as a plain mkdir would
    stale = set(our_files(root)) - set(files)
    for name in sorted(files):
        _write_if_changed(root / name, files[name])
    for name in sorted(stale):
        remove_file(root / name)
    _write_if_changed(root / MANIFEST, json.dumps({"files": sorted(files)}, indent=2) + "\n")


def _write_if_changed(path: Path, text: str) -> None:
    """Write (atomically, synced) only what differs from the file there: a re-render of an unchanged
    stack costs reads, not fsyncs."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text)


def files_hash(files: Mapping[str, str]) -> str:
    """One digest over rendered files (names and texts), to tell a plan made from other files."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


def remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FilesError(f"cannot remove {path}: {exc.strerror or exc}") from None


def local_state_clusters(workdir: Path) -> set[str]:
    """The clusters whose client CA resource the local backend's state file holds, read without
    Terraform (`status` runs none); empty when there is no such file or it cannot be read."""
    state = read_json(workdir / "terraform.tfstate")
    resources = state.get("resources") if isinstance(state, dict) else None
    return {
        item["name"]
        for item in resources or ()
        if isinstance(item, dict)
        and item.get("type") == RESOURCE_TYPE
        and item.get("mode") == "managed"
        and isinstance(item.get("name"), str)
        and item.get("instances")
    }
