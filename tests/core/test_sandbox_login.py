"""The demo's last step on the sandbox: PostgreSQL plays the cluster (`sandbox sql`), wearing a server
certificate signed by the emulator's cluster CA and trusting the client CAs the stack applied; `check`
logs in with verify-full against the cluster's host name at 127.0.0.1. Once the CA that signed the
certificate is removed from the stack and applied, the same login fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.app import run
from roachcert_sandbox import cluster_sql
from roachcert_sandbox.errors import SandboxError, sandbox_dir
from roachcert_sandbox.manager import SandboxState, register_cluster
from roachcert_sandbox.postgres import find_bindir

pytestmark = pytest.mark.integration

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Login Test client CA
    issuers: [ca-a]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
  partner: {{pem_file: partner.pem}}
clusters:
  frogs:
    id: {cluster_id}
    ca: [{cas}]
    host: frogs-123.gcp-us-east1.crdb.io
    users: [root]
"""


@pytest.fixture
def playing(sandbox: SandboxState) -> Iterator[Path]:
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    folder = sandbox_dir()
    yield folder
    cluster_sql.stop(folder)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_verify_full_login_then_refused_once_the_ca_is_removed_and_applied(
    sandbox: SandboxState, playing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    (tmp_path / "partner.pem").write_text(make_ca("Partner CA")[0])
    stack = tmp_path / "login.yaml"
    mount = f"pki_{uuid.uuid4().hex[:8]}"

    def write(cas: str) -> None:
        stack.write_text(STACK.format(mount=mount, cluster_id=cluster_id, cas=cas))

    write("client-ca, partner")
    assert cli(capsys, "ca", "ensure", str(stack))[0] == 0
    assert cli(capsys, "plan", str(stack))[0] == 2
    assert cli(capsys, "apply", str(stack))[0] == 0
    code, _, err = cli(capsys, "issue", str(stack), "frogs", "root", "--out", "certs")
    assert code == 0, err
    code, port, err = cli(capsys, "sandbox", "sql", str(stack), "frogs")
    assert code == 0, err
    assert "CN=Login Test client CA" in err
    login = ["check", str(stack), "frogs", "root", "--certs-dir", "certs", "--hostaddr", "127.0.0.1"]
    code, out, err = cli(capsys, *login, "--port", port.strip())
    assert (code, out) == (0, "root\n"), err

    write("partner")  # the CA that signed root's certificate leaves the stack
    assert cli(capsys, "plan", str(stack))[0] == 2
    code, out, err = cli(capsys, "apply", str(stack), "--allow-early-rotation")
    assert code == 0, out + err
    code, port_again, err = cli(capsys, "sandbox", "sql", str(stack), "frogs")
    assert port_again == port  # the same server, now trusting only what the cluster trusts
    assert "CN=Login Test client CA" not in err
    code, out, err = cli(capsys, *login, "--port", port.strip())
    assert code == 1
    assert "the cluster does not trust the CA that signed this certificate" in err


def test_verify_full_checks_the_host_name(
    sandbox: SandboxState, playing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    (tmp_path / "partner.pem").write_text(make_ca("Partner CA")[0])
    stack = tmp_path / "login.yaml"
    stack.write_text(
        STACK.format(mount=f"pki_{uuid.uuid4().hex[:8]}", cluster_id=cluster_id, cas="client-ca")
    )
    assert cli(capsys, "ca", "ensure", str(stack))[0] == 0
    assert cli(capsys, "issue", str(stack), "frogs", "root", "--out", "certs")[0] == 0
    code, port, err = cli(capsys, "sandbox", "sql", str(stack), "frogs")
    assert "trusts no client CA" in err  # nothing applied yet
    other = stack.read_text().replace("frogs-123.gcp-us-east1.crdb.io", "elsewhere.example.com")
    stack.write_text(other)
    argv = ["check", str(stack), "frogs", "root", "--certs-dir", "certs", "--hostaddr", "127.0.0.1"]
    code, _out, err = cli(capsys, *argv, "--port", port.strip())
    assert code == 1
    assert "not for host elsewhere.example.com" in err
