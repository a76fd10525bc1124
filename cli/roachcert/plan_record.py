"""The one record between `plan` and `apply`: what `plan` saved beside its plan file, and every check
`apply` makes with it (inputs unchanged, files unchanged, the same engine, the plan's own bytes) before
Terraform sees a private, verified copy of the plan.

`plan` writes it (`save_plan_meta`); `apply` reads it (`saved_plan`, `check_same_engine`, `verified_copy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from roachcert.errors import GuardError
from roachcert.files import write_atomic, write_secret
from roachcert.plan_summary import PlanSummary
from roachcert.spec import PemFileCa, Stack
from roachcert.terraform.workdir import PLAN_META, files_hash, our_files, read_json, remove_file

if TYPE_CHECKING:  # `render` clears a plan record without loading the Cloud API's client
    from roachcert.cloud.reads import CloudRead

PLAN_FILE = "roachcert.tfplan"
PLAN_LOG = "roachcert-plan.log"  # Terraform's plan output, masked: the "full plan" reports link to
_COPY_PREFIX = ".roachcert-apply-"  # the private copy of the verified plan that Terraform applies
MISSING = "no saved plan for stack {name}: run `roachcert plan {source}` first"


@dataclass(frozen=True)
class PlanMeta:
    """What `plan` saved beside its plan file, so `apply` can check it applies exactly the reviewed plan."""

    plan_file: str  # relative to the working folder
    fingerprint: str  # PlanSummary.fingerprint
    files_hash: str  # files_hash() of the rendered files the plan was made from
    has_changes: bool
    engine: str = ""  # the engine's version line, for the record
    spec_hash: str = ""  # the stack file and its PEM files: a plan made from other inputs is stale
    plan_sha256: str = ""  # the plan file's bytes: apply applies exactly these or refuses
    cloud: dict[str, str] = field(default_factory=dict)  # cluster → CloudRead.fingerprint at plan time
    cloud_read: bool = True  # False: planned with --no-cloud-read, so apply reads nothing either


def save_plan_meta(root: Path, meta: PlanMeta) -> None:
    write_atomic(root / PLAN_META, json.dumps(asdict(meta), indent=2, sort_keys=True) + "\n")


def load_plan_meta(root: Path) -> PlanMeta | None:
    data = read_json(root / PLAN_META)
    if not isinstance(data, dict):
        return None
    try:
        return PlanMeta(
            plan_file=str(data["plan_file"]),
            fingerprint=str(data["fingerprint"]),
            files_hash=str(data["files_hash"]),
            has_changes=bool(data["has_changes"]),
            engine=str(data.get("engine", "")),
            spec_hash=str(data.get("spec_hash", "")),
            plan_sha256=str(data.get("plan_sha256", "")),
            cloud={str(k): str(v) for k, v in (data.get("cloud") or {}).items()},
            cloud_read=bool(data.get("cloud_read", True)),
        )
    except (KeyError, TypeError):
        return None


def clear_plan_meta(root: Path) -> None:
    remove_file(root / PLAN_META)


def spec_hash(stack: Stack) -> str:
    """The stack file and every PEM file it names, as the loader read them (once: an edit made while
    `plan` runs is not what was planned, so it must not become the recorded hash)."""
    if stack.inputs_sha256:
        return stack.inputs_sha256
    digest = hashlib.sha256()
    if stack.source is not None:
        digest.update(stack.source.read_bytes())
    for name, ca in sorted(stack.cas.items()):
        if isinstance(ca, PemFileCa):
            digest.update(name.encode() + b"\0" + ca.pem_file.read_bytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rendered_hash(workdir: Path) -> str:
    """files_hash() of the rendered files as they are on disk now."""
    files: dict[str, str] = {}
    for name in our_files(workdir):
        try:
            files[name] = (workdir / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            files[name] = "<missing>"
    return files_hash(files)


def cloud_fingerprints(reads: Mapping[str, CloudRead]) -> dict[str, str]:
    return {name: read.fingerprint for name, read in sorted(reads.items())}


def with_cloud(summary: PlanSummary, fingerprints: Mapping[str, str]) -> PlanSummary:
    """The plan's fingerprint covers both sides: Terraform's change and what the Cloud API answered
    (`fingerprints`: cluster → CloudRead.fingerprint)."""
    if not fingerprints or summary.error is not None:
        return summary
    digest = hashlib.sha256(summary.fingerprint.encode())
    for name, fingerprint in sorted(fingerprints.items()):
        digest.update(f"\0{name}={fingerprint}".encode())
    return replace(summary, fingerprint=digest.hexdigest())


def saved_plan(stack: Stack, workdir: Path) -> PlanMeta:
    meta = load_plan_meta(workdir)
    # A no-change record has no plan file when the fast path made it (plan_seen): nothing to apply.
    if meta is None or (meta.has_changes and not (workdir / meta.plan_file).exists()):
        raise GuardError(MISSING.format(name=stack.name, source=stack.source))
    if meta.spec_hash != spec_hash(stack):
        raise GuardError(
            f"the saved plan of {stack.name} is stale: {stack.source} (or a PEM file it names) changed since; "
            "run `roachcert plan` again and review it"
        )
    if meta.files_hash != rendered_hash(workdir):
        raise GuardError(
            f"the saved plan of {stack.name} is stale: the rendered files in {workdir} changed since; "
            "run `roachcert plan` again and review it"
        )
    return meta


def check_same_engine(stack: Stack, meta: PlanMeta, engine: str) -> None:
    """A plan file is one engine's format: Terraform's and OpenTofu's (or two versions') are not the same."""
    planned, now = _version_part(meta.engine), _version_part(engine)
    if planned and planned != now:
        raise GuardError(
            f"the saved plan of {stack.name} was made with {planned}, but this apply would run {now}: "
            "apply with the engine that planned (--engine or terraform.engine), or run `roachcert plan` again"
        )


def _version_part(engine: str) -> str:
    return engine.rsplit(" (", 1)[0].strip()


@contextlib.contextmanager
def verified_copy(workdir: Path, meta: PlanMeta) -> Iterator[Path]:
    """The saved plan's bytes, read once into a private file (O_EXCL, 0600) and checked against the hash
    `plan` recorded; removed however the block ends. Everything apply checks and runs reads this copy."""
    source = workdir / meta.plan_file
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise GuardError(f"cannot read the saved plan {source}: {exc.strerror or exc}") from None
    if meta.plan_sha256 and hashlib.sha256(data).hexdigest() != meta.plan_sha256:
        raise GuardError(
            f"the plan file {source} changed after `roachcert plan` wrote it (its hash differs from the "
            "review record); run `roachcert plan` again and review it"
        )
    for stale in workdir.glob(f"{_COPY_PREFIX}*.tfplan"):  # left by a run that was killed (SIGKILL)
        with contextlib.suppress(OSError):
            stale.unlink()
    copy = workdir / f"{_COPY_PREFIX}{secrets.token_hex(6)}.tfplan"
    try:
        write_secret(copy, data)
        yield copy
    finally:
        with contextlib.suppress(OSError):
            copy.unlink()
