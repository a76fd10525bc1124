"""The no-change fast path: what a full `plan` that ended with no changes saw (the "seen" record), and the
check that lets a later `plan` say "no changes" without running Terraform.

Terraform's no-change verdict is a function of its inputs: the files in the working folder, the engine,
the provider binary, the state, the environment it is started with, and what the provider reads from the
Cloud API (each declared cluster's client CA: the built-in templates hold nothing else that reads
anything remote). When every one of them is what it was at a full no-change plan, and every cluster reads
IS_SET with exactly the declared bundle, a plan now would be no-change too. Anything not proven the same
(or not knowable without Terraform) is `None` here, and the plan runs Terraform as before.

The record is written only after a full no-change plan; `apply` and `adopt` remove it (they change state).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from roachcert import guard_facts
from roachcert.cloud.reads import CloudRead
from roachcert.errors import RoachcertError
from roachcert.files import write_atomic
from roachcert.mask import SECRET_ENV, SECRET_ENV_PREFIXES
from roachcert.spec import Stack
from roachcert.terraform.runner import LOCK_FILE, Terraform
from roachcert.terraform.workdir import read_json, remove_file
from roachcert.unmanaged import unmanaged_names

SEEN_FILE = ".roachcert-seen.json"  # in the stack's working folder; no rendered file takes a "." name
_VERSION = 1
# Files Terraform reads as configuration or variables from a root module's folder.
_CONFIG_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json")
# Variables that change what the engine or the provider does or whom it talks to (values are hashed).
_ENV_PREFIXES = ("TF_", "COCKROACH_", "SSL_CERT_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_ENV_PREFIXES_LOWER = ("http_proxy", "https_proxy", "no_proxy")


def verified_line(reads: int) -> str:
    """What every report format says of a plan the fast path answered."""
    return f"verified without Terraform: files, state and {reads} Cloud reads unchanged"


@dataclass(frozen=True)
class Seen:
    """Everything Terraform's verdict depends on, as identities (hashes and file identities)."""

    config: str  # every *.tf / *.tfvars file in the working folder, names and bytes
    lock_file: str  # sha256 of .terraform.lock.hcl
    init_stamp: str  # Terraform.init_stamp(): engine path, non-resource files, lock file, CLI config
    backend: str  # sha256 of .terraform/terraform.tfstate (the initialised backend's settings)
    engine: str  # version line, resolved path and file identity of the engine binary
    provider: str  # file identity of every file under .terraform/providers (followed through links)
    environment: str  # sha256 of the variables the engine and provider read
    state: str  # local: sha256 of the state file; other backends: lineage, serial, sha256 of `state pull`
    cloud: dict[str, str] = field(default_factory=dict)  # cluster → "STATUS:sha256 of the exact PEM read"
    version: int = _VERSION


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    try:
        return _sha256(path.read_bytes())
    except FileNotFoundError:
        return "<missing>"


def _identity(path: Path) -> str:
    """A file's identity without reading it: a replaced or rewritten binary changes inode or ctime (which no
    user can set back), and size or mtime."""
    info = path.stat()
    real = os.path.realpath(path)
    return f"{real}:{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def _config_hash(workdir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(workdir.iterdir()):
        if path.is_file() and path.name.endswith(_CONFIG_SUFFIXES):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _provider_identity(workdir: Path) -> str | None:
    root = workdir / ".terraform" / "providers"
    if not root.is_dir():
        return None
    lines = []
    for folder, _dirs, names in os.walk(root, followlinks=True):
        for name in names:
            path = Path(folder) / name
            lines.append(f"{path.relative_to(root)}={_identity(path)}")
    return _sha256("\n".join(sorted(lines)).encode()) if lines else None


def _environment_hash(env: Mapping[str, str]) -> str:
    """No secret's value goes into the record, not even hashed (a weak passphrase could be guessed from
    it): only that it is set. The Cloud API key needs no more: roachcert's own reads use the same key as
    the provider, so they see what it would. TF_ENCRYPTION, which would, stops the fast path instead."""
    chosen = sorted(
        (key, "<set>" if key in SECRET_ENV or key.startswith(SECRET_ENV_PREFIXES) else value)
        for key, value in env.items()
        if key.startswith(_ENV_PREFIXES) or key.startswith(_ENV_PREFIXES_LOWER)
    )
    return _sha256(json.dumps(chosen).encode())


def _state_identity(stack: Stack, tf: Terraform) -> str:
    backend = stack.terraform.backend
    if backend.type == "local" and not backend.config:
        return "local:" + _file_sha256(tf.workdir / "terraform.tfstate")
    # `state pull` reads the backend only: no provider starts, nothing is refreshed.
    state = tf.state_pull()
    text = json.dumps(state, sort_keys=True)
    return f"pulled:{state.get('lineage')}:{state.get('serial')}:{_sha256(text.encode())}"


def why_not(
    stack: Stack,
    workdir: Path,
    reads: Mapping[str, CloudRead],
    pems: Mapping[str, str],
    env: Mapping[str, str],
) -> str:
    """Why this plan cannot be answered without Terraform ("" when nothing stands in the way): the
    conditions checked before any identity is computed."""
    if not reads or set(reads) != set(stack.clusters):
        return "no Cloud read of every cluster"
    if stack.terraform.templates is not None:
        return "the stack's own templates (their resources may read more than the Cloud reads cover)"
    if any(key.startswith("TF_CLI_ARGS") or key == "TF_WORKSPACE" for key in env):
        return "TF_CLI_ARGS or TF_WORKSPACE is set"
    if env.get("TF_ENCRYPTION"):
        return "TF_ENCRYPTION is set (its keys are never recorded)"
    workspace = workdir / ".terraform" / "environment"
    if workspace.exists() and workspace.read_text(encoding="utf-8", errors="replace").strip() != "default":
        return "a workspace other than default is selected"
    if unmanaged_names(workdir):
        return "clusters recorded by `unmanage`"
    if guard_facts.load_hand_set(workdir):
        return "CAs set by hand are recorded"
    for name, read in reads.items():
        if read.status != "IS_SET":
            return f"{name} is {read.status}"
        if read.pem != pems.get(name):
            return f"{name} does not trust exactly the declared bundle"
    return ""


def observe(
    stack: Stack, tf: Terraform, reads: Mapping[str, CloudRead], pems: Mapping[str, str], engine: str
) -> Seen | None:
    """What Terraform's verdict depends on now, or None when the fast path cannot vouch for it."""
    workdir = tf.workdir
    if why_not(stack, workdir, reads, pems, tf.environ) or tf.needs_init():
        return None
    provider = _provider_identity(workdir)
    if provider is None:
        return None
    try:
        engine_id = f"{engine}\0{_identity(tf.engine.path)}"
        return Seen(
            config=_config_hash(workdir),
            lock_file=_file_sha256(workdir / LOCK_FILE),
            init_stamp=tf.init_stamp(),
            backend=_file_sha256(workdir / ".terraform" / "terraform.tfstate"),
            engine=engine_id,
            provider=provider,
            environment=_environment_hash(tf.environment()),
            state=_state_identity(stack, tf),
            cloud={
                name: f"{read.status}:{_sha256(read.pem.encode())}" for name, read in sorted(reads.items())
            },
        )
    except (OSError, RoachcertError):  # a state that cannot be pulled: Terraform says why
        return None


def save(workdir: Path, seen: Seen) -> None:
    write_atomic(workdir / SEEN_FILE, json.dumps(asdict(seen), indent=2, sort_keys=True) + "\n")


def load(workdir: Path) -> Seen | None:
    data = read_json(workdir / SEEN_FILE)
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return None
    try:
        cloud = data["cloud"]
        if not isinstance(cloud, dict):
            return None
        return Seen(
            config=str(data["config"]),
            lock_file=str(data["lock_file"]),
            init_stamp=str(data["init_stamp"]),
            backend=str(data["backend"]),
            engine=str(data["engine"]),
            provider=str(data["provider"]),
            environment=str(data["environment"]),
            state=str(data["state"]),
            cloud={str(k): str(v) for k, v in cloud.items()},
        )
    except KeyError:
        return None


def clear(workdir: Path) -> None:
    remove_file(workdir / SEEN_FILE)
