"""A stack's Terraform working folder: our rendered files (written atomically) and the saved plan's metadata.

Only files listed in our manifest are ever replaced or removed; `.terraform/`, the lock file and state are
Terraform's and are left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from roachcert.files import FilesError, ensure_dir, write_atomic

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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def our_files(root: Path) -> list[str]:
    """The files the last write_workdir put in `root` (empty when none, or the manifest is unreadable)."""
    data = _read_json(root / MANIFEST)
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
        path = root / name
        try:
            if path.read_text(encoding="utf-8") == files[name]:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        write_atomic(path, files[name])
    for name in sorted(stale):
        _remove(root / name)
    write_atomic(root / MANIFEST, json.dumps({"files": sorted(files)}, indent=2) + "\n")


def files_hash(files: Mapping[str, str]) -> str:
    """One digest over rendered files (names and texts), to tell a plan made from other files."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class PlanMeta:
    """What `plan` saved beside its plan file, so `apply` can check it applies exactly the reviewed plan."""

    plan_file: str  # relative to the working folder
    fingerprint: str  # PlanSummary.fingerprint
    files_hash: str  # files_hash() of the rendered files the plan was made from
    has_changes: bool
    deletions: tuple[str, ...] = ()  # cluster names that lose their CA
    engine: str = ""  # the engine's version line, for the record
    spec_hash: str = ""  # the stack file and its PEM files: a plan made from other inputs is stale
    plan_sha256: str = ""  # the plan file's bytes: apply applies exactly these or refuses
    cloud: dict[str, str] = field(default_factory=dict)  # cluster → CloudRead.fingerprint at plan time
    cloud_read: bool = True  # False: planned with --no-cloud-read, so apply reads nothing either


def save_plan_meta(root: Path, meta: PlanMeta) -> None:
    write_atomic(root / PLAN_META, json.dumps(asdict(meta), indent=2, sort_keys=True) + "\n")


def load_plan_meta(root: Path) -> PlanMeta | None:
    data = _read_json(root / PLAN_META)
    if not isinstance(data, dict):
        return None
    try:
        return PlanMeta(
            plan_file=str(data["plan_file"]),
            fingerprint=str(data["fingerprint"]),
            files_hash=str(data["files_hash"]),
            has_changes=bool(data["has_changes"]),
            deletions=tuple(str(name) for name in data.get("deletions", ())),
            engine=str(data.get("engine", "")),
            spec_hash=str(data.get("spec_hash", "")),
            plan_sha256=str(data.get("plan_sha256", "")),
            cloud={str(k): str(v) for k, v in (data.get("cloud") or {}).items()},
            cloud_read=bool(data.get("cloud_read", True)),
        )
    except (KeyError, TypeError):
        return None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FilesError(f"cannot remove {path}: {exc.strerror or exc}") from None


def clear_plan_meta(root: Path) -> None:
    _remove(root / PLAN_META)
