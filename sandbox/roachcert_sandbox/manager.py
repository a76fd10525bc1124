"""`roachcert sandbox`: real OpenBao, the Cloud API emulator and a provider mirror (the real cockroach
provider when installed, else the stand-in), and with `--s3` a real S3 store (SeaweedFS), started once
under `.roachcert/.sandbox/` and found again by their PIDs."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import requests

from roachcert import mask
from roachcert.errors import RoachcertError
from roachcert.files import write_atomic, write_secret
from roachcert_sandbox import cluster_sql, providers, seaweed
from roachcert_sandbox.errors import OLD_FOLDER, SandboxError, sandbox_dir
from roachcert_sandbox.mirror import write_cli_config
from roachcert_sandbox.openbao import start_openbao
from roachcert_sandbox.processes import free_port, stop_pid, without_credentials
from roachcert_sandbox.provider_api import VERSION

if TYPE_CHECKING:  # `sandbox env|status|down` never parse a stack: keep pydantic out of them
    from roachcert.spec import Stack

STATE = "state.json"
PENDING_SECONDS = 1.0


@dataclass(frozen=True)
class SandboxState:
    root: str
    vault_addr: str
    vault_pid: int
    emulator_url: str
    emulator_pid: int
    cli_config: str
    engine: str
    python: str
    # Which cockroach provider the mirror holds (state files from before this field read as the stand-in).
    provider: str = "standin"
    provider_version: str = VERSION
    provider_path: str = ""
    provider_source: str = ""  # the binary the user brought (ROACHCERT_PROVIDER_BINARY / --provider-binary)
    provider_sha256: str = ""  # of the real binary in the mirror
    s3_endpoint: str = ""  # set while SeaweedFS runs (sandbox up --s3)
    s3_pid: int = 0


def _secret(root: Path, name: str) -> str:
    """A sandbox credential kept in a 0600 file, made once (an empty file from an interrupted run is redone)."""
    path = root / name
    value = path.read_text().strip() if path.exists() else ""
    if not value:
        prefix = {"vault-token": "dev", "s3-access-key": "RCSANDBOX"}.get(name, "crl-sandbox")
        value = f"{prefix}-{secrets.token_hex(20)}"
        write_secret(path, value + "\n", replace=path.exists())
    mask.register(value)
    return value


def vault_token(root: Path | None = None) -> str:
    return _secret(root or sandbox_dir(), "vault-token")


def api_key(root: Path | None = None) -> str:
    return _secret(root or sandbox_dir(), "api-key")


def s3_keys(root: Path | None = None) -> tuple[str, str]:
    """The sandbox S3 store's access key id and secret key (0600 files beside the others)."""
    root = root or sandbox_dir()
    return _secret(root, "s3-access-key"), _secret(root, "s3-secret-key")


def load_state(root: Path | None = None) -> SandboxState | None:
    path = (root or sandbox_dir()) / STATE
    try:
        return SandboxState(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def engine_path() -> Path:
    """The embedded engine, so the sandbox never depends on whatever terraform this machine has."""
    path = Path(sys.executable).parent / "roachcert-terraform"
    if not path.exists():
        raise SandboxError(
            "the embedded engine is missing: pip install 'roachcert[engine]' (or run make setup)"
        )
    return path


def up(
    stacks: list[Stack],
    root: Path | None = None,
    pending_seconds: float = PENDING_SECONDS,
    provider: str | None = None,
    s3: bool = False,
    provider_binary: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> SandboxState:
    """Start what is not running; `provider` real|standin (None: real when installed, else the stand-in);
    `s3` also a SeaweedFS S3 store with the bucket roachcert-state (kept once started, until `down`);
    `provider_binary` a provider binary the user brings (default: $ROACHCERT_PROVIDER_BINARY). `environ`:
    the run's environment (where the sandbox lives, which provider, what the emulator starts with); None
    is the process's."""
    given = dict(os.environ if environ is None else environ)
    root = (root or sandbox_dir(given)).resolve()
    environ = dict(given)
    if provider_binary is not None:
        environ[providers.BINARY_ENV] = str(provider_binary)
    # Before anything starts: `--provider real` without it, or a brought file that is no plugin, is one line.
    kind = providers.resolve(provider, environ)
    root.mkdir(parents=True, exist_ok=True)
    token, key = vault_token(root), api_key(root)
    state = load_state(root)
    vault_ok = state is not None and _alive(state.vault_pid) and _healthy(f"{state.vault_addr}/v1/sys/health")
    emulator_ok = (
        state is not None and _alive(state.emulator_pid) and _healthy(f"{state.emulator_url}/_admin/health")
    )
    if state is not None and vault_ok and emulator_ok:
        vault_addr, vault_pid, url, pid = (
            state.vault_addr,
            state.vault_pid,
            state.emulator_url,
            state.emulator_pid,
        )
    else:
        if state is not None:
            _stop(state)
        bao = start_openbao(root / "openbao", token)
        vault_addr, vault_pid = bao.addr, bao.pid
        url, pid = _start_emulator(root, key, pending_seconds, given)
    s3_endpoint, s3_pid = _ensure_s3(root, state, s3, restarted=not (vault_ok and emulator_ok))
    setup = providers.install(kind, root, environ)
    # Each provider has its own plugin cache: the same version with other bytes must never be reused.
    cache = root.parent / setup.cache_name if kind == "standin" else root / setup.cache_name
    cli_config = write_cli_config(root / "terraformrc", setup.mirror.root, cache)
    fresh = SandboxState(
        root=str(root),
        vault_addr=vault_addr,
        vault_pid=vault_pid,
        emulator_url=url,
        emulator_pid=pid,
        cli_config=str(cli_config),
        engine=str(engine_path()),
        python=sys.executable,
        provider=kind,
        provider_version=setup.mirror.version,
        provider_path=str(setup.mirror.executable),
        provider_source=str(setup.source or ""),
        provider_sha256=setup.sha256,
        s3_endpoint=s3_endpoint,
        s3_pid=s3_pid,
    )
    if fresh != state:
        write_atomic(root / STATE, json.dumps(asdict(fresh), indent=2) + "\n")
    for stack in stacks:
        for name, cluster in stack.clusters.items():
            _register(fresh.emulator_url, cluster.id, name)
    return fresh


def _ensure_s3(root: Path, state: SandboxState | None, wanted: bool, *, restarted: bool) -> tuple[str, int]:
    """SeaweedFS when asked for now or started before; the running one is kept unless the rest restarted."""
    before = state is not None and state.s3_pid > 0
    if not (wanted or before):
        return "", 0
    if state is not None and before and not restarted and _alive(state.s3_pid):
        if seaweed.healthy(state.s3_endpoint):
            return state.s3_endpoint, state.s3_pid
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            seaweed.stop_seaweed(state.s3_pid)
    access, secret = s3_keys(root)
    running = seaweed.start_seaweed(root / "seaweedfs", access, secret)
    return running.endpoint, running.pid


def _spawn_emulator(
    root: Path, port: int, pending_seconds: float, env: dict[str, str], log: TextIO
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roachcert_sandbox.emulator",
            "--state",
            str(root / "emulator-state.json"),
            "--port",
            str(port),
            "--pending-seconds",
            str(pending_seconds),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def _start_emulator(
    root: Path, key: str, pending_seconds: float, environ: Mapping[str, str]
) -> tuple[str, int]:
    port = free_port()
    env = {**without_credentials(environ), "COCKROACH_API_KEY": key}  # its own key, none of the caller's
    with (root / "emulator.log").open("w") as log:  # the child keeps its own copy of the descriptor
        process = _spawn_emulator(root, port, pending_seconds, env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"the Cloud API emulator exited at start; see {root / 'emulator.log'}")
        if _healthy(f"{url}/_admin/health"):
            return url, process.pid
        time.sleep(0.05)
    stop_pid(process.pid)
    raise SandboxError("the Cloud API emulator did not start within 20 s")


def register_cluster(state: SandboxState, cluster_id: str, name: str) -> None:
    _register(state.emulator_url, cluster_id, name)


def _register(url: str, cluster_id: str, name: str) -> None:
    response = requests.post(
        f"{url}/_admin/clusters", json={"id": cluster_id, "name": name, "plan": "DEDICATED"}, timeout=10
    )
    if response.status_code >= 300:
        raise SandboxError(f"the emulator refused cluster {name} ({cluster_id}): {response.text.strip()}")


def provider_line(state: SandboxState) -> str:
    name = "real" if state.provider == "real" else "stand-in"
    where = state.provider_path or "unknown path"
    if state.provider_source:
        return (
            f"your terraform-provider-cockroach binary {state.provider_source} "
            f"(sha256 {state.provider_sha256}), as {state.provider_version} in {where}"
        )
    digest = f", sha256 {state.provider_sha256}" if state.provider_sha256 else ""
    return f"{name} terraform-provider-cockroach {state.provider_version} ({where}{digest})"


def env_lines(state: SandboxState) -> list[str]:
    # A comment first, so `eval` still works and a reader sees which provider Terraform runs.
    lines = [f"# cockroach provider: {provider_line(state)}"]
    return lines + [f"export {name}={_quote(value)}" for name, value in environment(state).items()]


def environment(state: SandboxState) -> dict[str, str]:
    """The same variables as `sandbox env`, for running roachcert against the sandbox from Python."""
    root = Path(state.root)
    s3: dict[str, str] = {}
    if state.s3_endpoint:
        access, secret = s3_keys(root)
        s3 = {
            "AWS_ACCESS_KEY_ID": access,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": state.s3_endpoint,
        }
    return {
        "VAULT_ADDR": state.vault_addr,
        "VAULT_TOKEN": vault_token(root),
        "COCKROACH_SERVER": state.emulator_url,
        "COCKROACH_CONSOLE_URL": state.emulator_url,  # the emulator also serves /clusters/ID/cert
        "COCKROACH_API_KEY": api_key(root),
        "TF_CLI_CONFIG_FILE": state.cli_config,
        "ROACHCERT_TERRAFORM": state.engine,
        "ROACHCERT_STANDIN_PYTHON": state.python,
        "ROACHCERT_PROVIDER": state.provider,
        **s3,
    }


def _quote(value: str) -> str:
    return shlex.quote(value)


def engine_line(state: SandboxState, environ: Mapping[str, str] | None = None) -> str:
    """The sandbox's engine in words, as reports name it: `Terraform v1.15.5 (embedded)`."""
    from roachcert.terraform.engine import Engine, engine_version

    engine = Engine(Path(state.engine), "embedded")
    try:
        return f"{engine_version(engine, os.environ if environ is None else environ)} ({engine.where}: {engine.path})"
    except RoachcertError as exc:
        return f"unknown ({exc})"


def status(root: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    state = load_state(root)
    if state is None:
        return {"sandbox": "not started (roachcert sandbox up)"}
    vault = "up" if _healthy(f"{state.vault_addr}/v1/sys/health") else "down"
    emulator = "up" if _healthy(f"{state.emulator_url}/_admin/health") else "down"
    return {
        "vault": f"{vault} {state.vault_addr} (pid {state.vault_pid})",
        "cloud api": f"{emulator} {state.emulator_url} (pid {state.emulator_pid})",
        "engine": engine_line(state, environ),
        "provider": provider_line(state),
        "cli config": state.cli_config,
        **(
            {"s3": f"{'up' if _s3_healthy(state) else 'down'} {state.s3_endpoint} (pid {state.s3_pid})"}
            if state.s3_endpoint
            else {}
        ),
    }


def _s3_healthy(state: SandboxState) -> bool:
    return seaweed.healthy(state.s3_endpoint)


def _stop(state: SandboxState) -> None:
    for pid in (state.vault_pid, state.emulator_pid):
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            stop_pid(pid)
    if state.s3_pid > 0:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            seaweed.stop_seaweed(state.s3_pid)


def down(root: Path | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Stop the sandbox in `root`; None: the one under the state root of `environ` (None: the process's)."""
    if root is None:
        # A sandbox an older release started in `.roachcert/sandbox/` (its state names that very folder,
        # which a stack's never does) is stopped too: nothing else would find its servers again.
        old = sandbox_dir(environ).parent / OLD_FOLDER
        state = load_state(old)
        stopped = state is not None and Path(state.root) == old.resolve() and down(old)
        return down(sandbox_dir(environ)) or stopped
    cluster_sql.stop(root)  # started by `sandbox sql`, whether or not the rest still runs
    state = load_state(root)
    if state is None:
        return False
    _stop(state)
    (root / STATE).unlink(missing_ok=True)
    return True
