"""Which cockroach provider the sandbox and the tests run: the real one or roachcert's stand-in.

The real one is the binary `scripts/ensure-provider.sh` (run by `make setup`) installs with `go install`
into `${ROACHCERT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/roachcert}/provider/VERSION/`; it counts as installed
only when the sha256 the script wrote after `go version -m` vouched for it still matches the file.
When it is missing, the script left one line saying why (`unavailable.txt`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from roachcert.errors import SandboxError
from roachcert.sandbox.mirror import MirrorInfo, install_binary_mirror, install_provider_mirror
from roachcert.sandbox.provider_api import VERSION

ProviderKind = Literal["real", "standin"]
KINDS: tuple[ProviderKind, ...] = ("real", "standin")
TEST_CHOICE_ENV = "ROACHCERT_TEST_PROVIDER"  # real|standin: what the tests' sandbox runs (default: auto)
BINARY = "terraform-provider-cockroach"
STAMP = "verified.sha256"
UNAVAILABLE = "unavailable.txt"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    root = env.get("ROACHCERT_CACHE") or ""
    if not root:
        xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
        root = str(Path(xdg) / "roachcert")
    return Path(root) / "provider" / VERSION


def real_binary(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cached real provider, or None when it is absent, not executable, or not the vouched-for file."""
    folder = cache_dir(environ)
    binary, stamp = folder / BINARY, folder / STAMP
    if not (binary.is_file() and os.access(binary, os.X_OK) and stamp.is_file()):
        return None
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    return binary if stamp.read_text(encoding="utf-8").strip() == digest else None


def unavailable_reason(environ: Mapping[str, str] | None = None) -> str:
    """The one line scripts/ensure-provider.sh left, or what to run when it never ran."""
    note = cache_dir(environ) / UNAVAILABLE
    if note.is_file():
        lines = note.read_text(encoding="utf-8").strip().splitlines()
        if lines:
            return lines[0]
    return f"not in {cache_dir(environ)} (run scripts/ensure-provider.sh or make setup)"


def resolve(requested: str | None, environ: Mapping[str, str] | None = None) -> ProviderKind:
    """`requested` real|standin, or None/"" for the default: real when installed, else the stand-in."""
    if requested in (None, ""):
        return "real" if real_binary(environ) is not None else "standin"
    if requested == "standin":
        return "standin"
    if requested == "real":
        if real_binary(environ) is None:
            raise SandboxError(f"the real cockroach provider is not installed: {unavailable_reason(environ)}")
        return "real"
    raise SandboxError(f"unknown provider {requested!r}: choose real or standin")


@dataclass(frozen=True)
class ProviderSetup:
    kind: ProviderKind
    mirror: MirrorInfo

    @property
    def describe(self) -> str:
        name = "real" if self.kind == "real" else "stand-in"
        return f"{name} terraform-provider-cockroach {self.mirror.version} ({self.mirror.executable})"


def install(
    kind: ProviderKind, sandbox_root: Path, environ: Mapping[str, str] | None = None
) -> ProviderSetup:
    """Fill this provider's own mirror under `sandbox_root` (one per kind: switching never overwrites
    the bytes a lock file or plugin cache already recorded for the other)."""
    if kind == "standin":
        return ProviderSetup(kind, install_provider_mirror(sandbox_root / "mirror"))
    binary = real_binary(environ)
    if binary is None:
        raise SandboxError(f"the real cockroach provider is not installed: {unavailable_reason(environ)}")
    return ProviderSetup(kind, install_binary_mirror(sandbox_root / "mirror-real", binary))
