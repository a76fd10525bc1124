"""Install the cockroach provider (the stand-in, or the real binary) into a filesystem mirror Terraform
can use offline.

The stand-in's executable is a fixed `sh` launcher: the interpreter comes from ROACHCERT_STANDIN_PYTHON,
not from the file, so its bytes (and the `h1:` hash Terraform locks) never change between installs. The
real binary is hardlinked (or copied) from its cache, so its hash is as stable as that cache.

The same package sits under both registry hosts: `cockroachdb/cockroach` means registry.terraform.io to
Terraform and registry.opentofu.org to OpenTofu.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from roachcert.terraform.hcl import hcl_string
from roachcert_sandbox.provider_api import ADDRESS, VERSION

TOFU_ADDRESS = "registry.opentofu.org/" + ADDRESS.split("/", 1)[1]
ADDRESSES = (ADDRESS, TOFU_ADDRESS)
PYTHON_ENV = "ROACHCERT_STANDIN_PYTHON"
PLATFORM = "linux_amd64"
EXECUTABLE = f"terraform-provider-cockroach_v{VERSION}"

LAUNCHER = f"""#!/bin/sh
# roachcert's stand-in for {ADDRESS} {VERSION} (tests and the sandbox only).
# The Python that runs it is named by ${PYTHON_ENV}, so these bytes never change.
if [ -z "${PYTHON_ENV}" ]; then
  echo "terraform-provider-cockroach (roachcert stand-in): set {PYTHON_ENV} to a Python with roachcert" >&2
  exit 1
fi
exec "${PYTHON_ENV}" -m roachcert_sandbox.provider "$@"
"""


@dataclass(frozen=True)
class MirrorInfo:
    root: Path  # the filesystem_mirror path
    executable: Path
    address: str
    version: str
    h1: str  # the hash `terraform init` writes to .terraform.lock.hcl
    env: dict[str, str] = field(default_factory=dict)  # what Terraform's environment needs


def launcher_hash_v1() -> str:
    return package_hash_v1(LAUNCHER.encode())


def package_hash_v1(executable: bytes) -> str:
    """Terraform's h1 (dirhash Hash1) of the unpacked package: one file, named relative to its folder."""
    file_sum = hashlib.sha256(executable).hexdigest()
    summary = f"{file_sum}  {EXECUTABLE}\n".encode()
    return "h1:" + base64.b64encode(hashlib.sha256(summary).digest()).decode()


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_provider_mirror(root: Path, python: Path | str = sys.executable) -> MirrorInfo:
    """Write (or leave as is) the unpacked mirror layout under `root`; idempotent."""
    root = Path(root).absolute()
    executable = root / ADDRESS / VERSION / PLATFORM / EXECUTABLE
    for address in ADDRESSES:
        _write_if_changed(root / address / VERSION / PLATFORM / EXECUTABLE, LAUNCHER, 0o755)
    return MirrorInfo(
        root=root,
        executable=executable,
        address=ADDRESS,
        version=VERSION,
        h1=launcher_hash_v1(),
        env={PYTHON_ENV: str(python)},
    )


def install_binary_mirror(root: Path, binary: Path, *, copy: bool = False) -> MirrorInfo:
    """Place `binary` (the real provider from its cache) at the registry layout under `root`: a hardlink
    where the filesystem allows, else a copy; left alone when it already holds the same bytes.
    `copy`: always a copy of the bytes read now (a user's build folder may rewrite the file in place)."""
    root = Path(root).absolute()
    data = Path(binary).read_bytes()
    for address in ADDRESSES:
        _place(root / address / VERSION / PLATFORM / EXECUTABLE, Path(binary), data, link=not copy)
    executable = root / ADDRESS / VERSION / PLATFORM / EXECUTABLE
    return MirrorInfo(
        root=root, executable=executable, address=ADDRESS, version=VERSION, h1=package_hash_v1(data)
    )


def _place(executable: Path, binary: Path, data: bytes, link: bool = True) -> None:
    if not (executable.is_file() and executable.read_bytes() == data):
        executable.parent.mkdir(parents=True, exist_ok=True)
        tmp = executable.with_name(f".{EXECUTABLE}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            try:
                if not link:
                    raise OSError("a copy was asked for")
                os.link(binary, tmp)
            except OSError:  # another filesystem, or links not allowed: a copy has the same bytes
                tmp.write_bytes(data)
                os.chmod(tmp, 0o755)  # noqa: S103 - an executable Terraform must run
            os.replace(tmp, executable)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def cli_config_text(mirror_root: Path, plugin_cache_dir: Path | None = None) -> str:
    address = ", ".join(hcl_string(name) for name in ADDRESSES)
    lines = [
        "# Written by roachcert: the cockroach provider comes from the local mirror.",
        "disable_checkpoint = true",
    ]
    if plugin_cache_dir is not None:
        lines.append(f"plugin_cache_dir   = {hcl_string(str(Path(plugin_cache_dir).absolute()))}")
    lines += [
        "",
        "provider_installation {",
        "  filesystem_mirror {",
        f"    path    = {hcl_string(str(Path(mirror_root).absolute()))}",
        f"    include = [{address}]",
        "  }",
        "  direct {",
        f"    exclude = [{address}]",
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def write_cli_config(path: Path, mirror_root: Path, plugin_cache_dir: Path | None = None) -> Path:
    """Write the CLI config (TF_CLI_CONFIG_FILE) that installs the provider from the mirror; idempotent."""
    path = Path(path)
    _write_if_changed(path, cli_config_text(mirror_root, plugin_cache_dir), 0o644)
    return path
