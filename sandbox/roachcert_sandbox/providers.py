"""Which cockroach provider the sandbox and the tests run: the real one or roachcert's stand-in.

The real one is the binary `scripts/ensure-provider.sh` (run by `make setup`) installs with `go install`
into `${ROACHCERT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/roachcert}/provider/VERSION/`; it counts as installed
only when the sha256 the script wrote after `go version -m` vouched for it still matches the file.
When it is missing, the script left one line saying why (`unavailable.txt`).

A provider binary the user brings (ROACHCERT_PROVIDER_BINARY=PATH, or `sandbox up --provider-binary PATH`:
one built from source, or fetched through a registry mirror) takes the go-installed one's place once it
answers as a Terraform plugin (plugin_probe); it gets a mirror of its own, keyed by its sha256.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.mirror import PYTHON_ENV, MirrorInfo, install_binary_mirror, install_provider_mirror
from roachcert_sandbox.plugin_probe import probe_plugin
from roachcert_sandbox.processes import without_credentials
from roachcert_sandbox.provider_api import VERSION

ProviderKind = Literal["real", "standin"]
KINDS: tuple[ProviderKind, ...] = ("real", "standin")
TEST_CHOICE_ENV = "ROACHCERT_TEST_PROVIDER"  # real|standin: what the tests' sandbox runs (default: auto)
BINARY = "terraform-provider-cockroach"
STAMP = "verified.sha256"
UNAVAILABLE = "unavailable.txt"
BINARY_ENV = "ROACHCERT_PROVIDER_BINARY"  # a provider binary the user brings, used instead of the cache's


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    root = env.get("ROACHCERT_CACHE") or ""
    if not root:
        xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
        root = str(Path(xdg) / "roachcert")
    return Path(root) / "provider" / VERSION


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def user_binary(environ: Mapping[str, str] | None = None) -> Path | None:
    """The provider binary ROACHCERT_PROVIDER_BINARY names, once it answered as a Terraform plugin; None
    when the variable is unset. A file that is no executable or no plugin is a one-line SandboxError."""
    env = os.environ if environ is None else environ
    raw = env.get(BINARY_ENV, "")
    if not raw:
        return None
    path = Path(raw).expanduser().absolute()
    if not path.is_file():
        raise SandboxError(f"{BINARY_ENV}: the provider binary {path} does not exist (or is not a file)")
    _probed(path, sha256_of(path), env.get(PYTHON_ENV) or sys.executable)
    return path


@functools.cache
def _probed(path: Path, digest: str, python: str) -> str:
    """Probe each (file, bytes) once per process; the digest keys it, so a rebuilt file is asked again.
    The stand-in's launcher (a fine "binary you bring" in tests) needs its Python named."""
    return probe_plugin(path, {**without_credentials(os.environ), PYTHON_ENV: python})


def real_binary(environ: Mapping[str, str] | None = None) -> Path | None:
    """The provider binary the user brought (ROACHCERT_PROVIDER_BINARY), else the cached real provider;
    None when neither is there (a cached file not executable or not the vouched-for one counts as absent)."""
    brought = user_binary(environ)
    if brought is not None:
        return brought
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
    source: Path | None = None  # the binary the user brought (ROACHCERT_PROVIDER_BINARY), if any
    sha256: str = ""  # of the binary in the mirror (real ones only)

    @property
    def describe(self) -> str:
        name = "real" if self.kind == "real" else "stand-in"
        return f"{name} terraform-provider-cockroach {self.mirror.version} ({self.mirror.executable})"

    @property
    def cache_name(self) -> str:
        """The plugin cache folder of this provider's bytes (never shared with other bytes of 1.22.0)."""
        if self.kind == "standin":
            return "plugin-cache"
        return f"plugin-cache-bin-{self.sha256[:16]}" if self.source is not None else "plugin-cache-real"


def install(
    kind: ProviderKind, sandbox_root: Path, environ: Mapping[str, str] | None = None
) -> ProviderSetup:
    """Fill this provider's own mirror under `sandbox_root` (one per kind, and one per brought binary's
    bytes: switching never overwrites the bytes a lock file or plugin cache already recorded for another)."""
    if kind == "standin":
        return ProviderSetup(kind, install_provider_mirror(sandbox_root / "mirror"))
    brought = user_binary(environ)
    binary = brought or real_binary(environ)
    if binary is None:
        raise SandboxError(f"the real cockroach provider is not installed: {unavailable_reason(environ)}")
    digest = sha256_of(binary)
    folder = sandbox_root / (f"mirror-bin-{digest[:16]}" if brought is not None else "mirror-real")
    mirror = install_binary_mirror(folder, binary, copy=brought is not None)
    return ProviderSetup(kind, mirror, brought, digest)
