"""Where roachcert keeps its working files: `.roachcert/` in the current folder (ROACHCERT_HOME overrides)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from roachcert.errors import RoachcertError
from roachcert.names import RESERVED, RULE, is_name


def state_root(environ: Mapping[str, str]) -> Path:
    home = environ.get("ROACHCERT_HOME")
    if home:
        return Path(home)
    try:
        return Path.cwd() / ".roachcert"
    except FileNotFoundError:
        raise RoachcertError(
            "the current folder no longer exists (removed while roachcert ran from it); cd to the project"
        ) from None


def _check_folder(folder: Path) -> None:
    """Refuse, in one line and before anything is written, a working folder that cannot be one: a link or a
    file in its place, or a file where one of its parents should be a folder."""
    if folder.is_symlink():
        raise RoachcertError(
            f"{folder} is a symbolic link; roachcert writes only in a folder of its own there"
        )
    for place in (folder, *folder.parents):
        if place.exists():
            if not place.is_dir():
                what = "roachcert's working folder" if place == folder else f"a parent of {folder}"
                raise RoachcertError(f"{place} is a file, not a folder, but it is {what}; move it away")
            return
        if place.is_symlink():  # a dangling link on the way
            raise RoachcertError(f"{place} is a broken symbolic link on the way to {folder}; remove it")


def stack_dir(name: str, environ: Mapping[str, str]) -> Path:
    """One Terraform root module, and one state, per stack: always a folder right under the state root."""
    if not is_name(name):
        raise RoachcertError(f"a stack cannot be named {name!r} ({RULE}); rename the file")
    if name in RESERVED:
        raise RoachcertError(
            f"a stack cannot be named {name!r}: roachcert keeps its own files there; rename the file"
        )
    folder = state_root(environ) / name
    # Never followed out of the state root: a link planted there would send every write elsewhere.
    _check_folder(folder)
    return folder
