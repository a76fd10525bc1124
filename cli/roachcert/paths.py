"""Where roachcert keeps its working files: `.roachcert/` in the current folder (ROACHCERT_HOME overrides)."""

from __future__ import annotations

import os
import pwd
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


def home(environ: Mapping[str, str]) -> Path:
    """The run's home folder: its HOME, else the user's from the password database (what Python falls
    back to). Never Path.home(): that reads the process's HOME, not the run's."""
    if environ.get("HOME"):
        return Path(environ["HOME"])
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:  # a container's arbitrary uid: no entry in the password database
        raise RoachcertError(
            f"HOME is not set and user id {os.getuid()} has no home in the password database: set HOME"
        ) from None


def expand_user(path: Path, environ: Mapping[str, str]) -> Path:
    """`~/x` under the run's home (Path.expanduser reads the process's HOME); `~user/x` under that user's."""
    text = str(path)
    if not text.startswith("~"):
        return path
    name, _, rest = text[1:].partition("/")
    if not name:
        return home(environ) / rest
    try:
        return Path(pwd.getpwnam(name).pw_dir) / rest
    except KeyError:  # no such user: the path as written, as Path.expanduser would refuse it
        return path


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
