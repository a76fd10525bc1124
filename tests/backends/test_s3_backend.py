"""The `s3` backend on a real S3 store (SeaweedFS from `roachcert sandbox up --s3`), on both engines:
the state and its native lock (`use_lockfile`) live in the bucket, credentials only in the environment;
two runners (two checkouts, two ROACHCERT_HOMEs, real concurrent processes) share one state: the second
waits for the lock or stops in one line naming the holder, and a plan overtaken by the other runner's
apply is refused as stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from roachcert_sandbox import manager
from roachcert_sandbox.manager import SandboxState, register_cluster
from roachcert_sandbox.seaweed import BUCKET, REGION

pytestmark = pytest.mark.integration

LATENCY = 3.0  # seconds per Cloud API call while the first runner's apply holds the lock

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: s3 backend test client CA
    ttl: 2160h
    issuers: [ca-a]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
clusters:
  frogs:
    id: {cluster_id}
    ca: client-ca
    host: frogs.example.crdb.io
    users: [app]
terraform:
  engine: {engine}
  backend:
    type: s3
    config: {{bucket: roachcert-state, key: {key}, region: us-east-1, use_lockfile: true,
             use_path_style: true, skip_credentials_validation: true, skip_requesting_account_id: true,
             skip_region_validation: true, skip_metadata_api_check: true}}
"""


def signed_get(url: str, access_key: str, secret_key: str) -> requests.Response:
    """A GET signed by botocore's SigV4 signer (AWS's own client library), as any S3 client signs it."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", REGION).add_auth(request)
    return requests.get(url, headers=dict(request.headers.items()), timeout=10)


def s3_get(path: str) -> requests.Response:
    """A signed GET on the sandbox store, with the keys `sandbox env` exported."""
    url = f"{os.environ['AWS_ENDPOINT_URL_S3']}/{BUCKET}/{path}"
    return signed_get(url, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])


@dataclass(frozen=True)
class Runner:
    """One CI runner: its own checkout of the stack and its own ROACHCERT_HOME."""

    name: str
    stack: Path
    home: Path

    def start(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "ROACHCERT_HOME": str(self.home)}
        return subprocess.Popen(
            [sys.executable, "-m", "roachcert", *args],
            cwd=self.stack.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, *args: str) -> tuple[int, str]:
        process = self.start(*args)
        output, _ = process.communicate(timeout=300)
        return process.returncode, output


@dataclass(frozen=True)
class S3Stack:
    text: str
    key: str
    cluster_id: str

    def runner(self, base: Path, name: str) -> Runner:
        checkout = base / name / "checkout"
        checkout.mkdir(parents=True)
        stack = checkout / "shared.yaml"
        stack.write_text(self.text)
        return Runner(name, stack, base / name / "home")

    def state(self) -> dict[str, Any]:
        response = s3_get(self.key)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def locked(self) -> bool:
        return s3_get(f"{self.key}.tflock").status_code == 200


@pytest.fixture
def s3_stack(s3_sandbox: SandboxState, engine: str) -> S3Stack:
    cluster_id = str(uuid.uuid4())
    register_cluster(s3_sandbox, cluster_id, "frogs")
    key = f"{engine}-{uuid.uuid4().hex[:8]}.tfstate"
    text = STACK.format(mount=f"pki_{uuid.uuid4().hex[:8]}", cluster_id=cluster_id, engine=engine, key=key)
    return S3Stack(text, key, cluster_id)


def ca_resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in state.get("resources", []) if r["type"] == "cockroach_client_ca_cert"]


def assert_no_credentials(folders: list[Path], outputs: list[str]) -> None:
    texts = list(outputs)
    for folder in folders:
        texts += [p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()]
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    assert len(secret) > 20
    for text in texts:
        assert secret not in text


def test_sandbox_up_s3_serves_a_bucket_with_keys_in_0600_files_and_down_stops_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "sandbox"
    state = manager.up([], root=root, pending_seconds=0.2, s3=True)
    try:
        env = manager.environment(state)
        assert env["AWS_REGION"] == "us-east-1"
        assert env["AWS_ENDPOINT_URL_S3"] == state.s3_endpoint
        assert state.s3_endpoint.startswith("http://127.0.0.1:")
        for name in ("s3-access-key", "s3-secret-key", "seaweedfs/s3-identities.json"):
            assert (root / name).stat().st_mode & 0o777 == 0o600, name
        lines = manager.env_lines(state)
        assert f"export AWS_ACCESS_KEY_ID={env['AWS_ACCESS_KEY_ID']}" in lines
        assert any(line.startswith("export AWS_SECRET_ACCESS_KEY=") for line in lines)
        url = f"{state.s3_endpoint}/"
        listing = signed_get(url, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
        assert listing.status_code == 200
        assert f"<Name>{BUCKET}</Name>" in listing.text
        # Other keys get nothing: the store checks signatures.
        assert signed_get(url, env["AWS_ACCESS_KEY_ID"], "not-the-secret-key").status_code == 403
        # `sandbox up` again keeps the running store.
        again = manager.up([], root=root, pending_seconds=0.2)
        assert (again.s3_pid, again.s3_endpoint) == (state.s3_pid, state.s3_endpoint)
        assert manager.status(root)["s3"].startswith(f"up {state.s3_endpoint}")
    finally:
        manager.down(root)
    with pytest.raises(ProcessLookupError):
        os.kill(state.s3_pid, 0)


def test_plan_and_apply_keep_state_and_lock_in_the_bucket(s3_stack: S3Stack, tmp_path: Path) -> None:
    runner = s3_stack.runner(tmp_path, "solo")
    stack = str(runner.stack)
    outputs: list[str] = []

    def cli(*args: str) -> int:
        code, output = runner.run(*args)
        outputs.append(output)
        return code

    assert cli("ca", "ensure", stack) == 0, outputs[-1]
    assert cli("render", stack) == 0, outputs[-1]
    backend = (runner.home / "shared" / "backend.tf").read_text()
    assert 'backend "s3" {' in backend
    assert cli("plan", stack) == 2, outputs[-1]
    assert s3_get(s3_stack.key).status_code == 404  # a plan writes no state
    assert cli("apply", stack) == 0, outputs[-1]
    [resource] = ca_resources(s3_stack.state())
    assert resource["instances"][0]["attributes"]["id"] == s3_stack.cluster_id
    assert not list((runner.home / "shared").glob("*.tfstate*"))
    assert not s3_stack.locked()  # the lock object went with the apply
    assert cli("plan", stack) == 0, outputs[-1]
    assert_no_credentials([runner.home], outputs)


def test_two_runners_one_state_wait_or_stop_on_the_lock_and_refuse_a_stale_plan(
    s3_sandbox: SandboxState, s3_stack: S3Stack, tmp_path: Path
) -> None:
    """Runners A and B plan the same stack; A applies while each Cloud API call is slowed down, so it
    holds the S3 lock: B's plan without waiting stops in one line naming the holder, B's plan that waits
    succeeds after A is done; B's older saved plan is refused as stale; the state has one resource."""
    a, b = s3_stack.runner(tmp_path, "a"), s3_stack.runner(tmp_path, "b")
    outputs: list[str] = []
    code, output = a.run("ca", "ensure", str(a.stack))
    assert code == 0, output
    # A skips roachcert's Cloud-side read, which would catch its stale plan before Terraform does
    # (tests/core/test_cloud_side.py): here it is the shared S3 state that must refuse it.
    for runner, extra in ((a, ("--no-cloud-read",)), (b, ())):
        code, output = runner.run("plan", str(runner.stack), *extra)
        assert code == 2, output
    code, output = b.run("apply", str(b.stack))  # B applies first: A's saved plan is now stale
    assert code == 0, output
    serial = s3_stack.state()["serial"]
    code, output = a.run("apply", str(a.stack), "--allow-unread-cloud")  # A planned without reading
    assert code == 1
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "the saved plan is stale" in lines[0]
    assert "run `roachcert plan` again" in lines[0]
    assert s3_stack.state()["serial"] == serial

    faults = f"{s3_sandbox.emulator_url}/_admin/faults"
    first: subprocess.Popen[str] | None = None
    waiting: subprocess.Popen[str] | None = None
    try:
        # Drift made out of band, so A's apply has a change to make: slowly, holding the S3 lock.
        requests.delete(
            f"{s3_sandbox.emulator_url}/api/v1/clusters/{s3_stack.cluster_id}/client-ca-cert",
            headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
            timeout=10,
        ).raise_for_status()
        time.sleep(0.5)  # the emulator's pending delete settles
        code, output = a.run("plan", str(a.stack))
        assert code == 2, output
        requests.post(faults, json={"latency_seconds": LATENCY}, timeout=10).raise_for_status()
        first = a.start("apply", str(a.stack))
        deadline = time.monotonic() + 120
        while not s3_stack.locked():
            assert first.poll() is None, f"A's apply ended before it locked: {first.communicate()[0]}"
            assert time.monotonic() < deadline, "A's apply never took the S3 lock"
            time.sleep(0.05)
        # B skips the Cloud-side read: A's change is PENDING now, which would stop B's plan before it
        # reaches the state lock (tests/core/test_cloud_side.py); the S3 lock is what is tested here.
        # The 0s plan goes first: a waiting plan of B's would hold B's own stack lock and stop it there.
        code, output = b.run("plan", str(b.stack), "--lock-timeout", "0s", "--no-cloud-read")
        outputs.append(output)
        assert first.poll() is None, "not concurrent: A's apply ended before B gave up"
        waiting = b.start("plan", str(b.stack), "--lock-timeout", "300s", "--no-cloud-read")
        assert code == 1
        [line] = [line for line in output.splitlines() if "could not lock" in line]
        tool = "tofu" if "engine: tofu" in s3_stack.text else "terraform"
        assert line.startswith(f"shared: {tool} plan could not lock the state: another "), line
        assert " held by " in line, line
        assert " for apply " in line, line
        assert " since " in line, line
        assert "Wait for that run to finish, then run again" in line
        assert f"{tool} force-unlock" in line
        assert "Traceback" not in output
        first_output, _ = first.communicate(timeout=300)
        outputs.append(first_output)
        assert first.returncode == 0, first_output
        waited_output, _ = waiting.communicate(timeout=300)
        outputs.append(waited_output)
        assert waiting.returncode == 0, waited_output  # it waited for A, then saw A's result: no changes
    finally:
        requests.delete(faults, timeout=10)
        for process in (first, waiting):
            if process is not None and process.poll() is None:
                process.terminate()  # roachcert passes it on to the engine, which stops its provider
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    assert not s3_stack.locked()
    assert len(ca_resources(s3_stack.state())) == 1
    code, output = b.run("plan", str(b.stack))
    assert code == 0, output
    assert_no_credentials([a.home, b.home], outputs)
    json.dumps(outputs)  # all text
