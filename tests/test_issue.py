"""Issuing client certificates through a fake Vault; the connection URL; the CLI's refusals."""

from __future__ import annotations

import os
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs_helper import key_pem, make_ca, make_leaf
from roachcert.app import run
from roachcert.certs import keys, layouts
from roachcert.certs.issue import (
    ClientFiles,
    IssuedCert,
    IssueError,
    IssueFailure,
    IssueResult,
    SignedCert,
    check_user,
    client_files,
    default_out,
    issue_all,
    issue_client,
    signing_ca,
    sslrootcert_for,
)
from roachcert.certs.layouts import Layout
from roachcert.pem import cert_info
from roachcert.spec import load_stack

STACK = """\
version: 1
cas:
  client-ca:
    mount: m1
    common_name: Client CA
    issuers: [old, new]
    role: {{name: client, max_ttl: 48h, key_type: ec}}
  legacy:
    pem_file: legacy.pem
clusters:
  frogs:
    id: 2186fbdb-598c-4797-a463-aaaee865903e
    ca: [legacy, client-ca]
    host: frogs.example.test
    users: [root, app]
  dingos:
    id: 5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10
    ca: client-ca
    host: dingos.example.test
    port: 26258
    database: app$db
    users: [app{extra}]
  legacy-only:
    id: 5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c11
    ca: legacy
    host: legacy.example.test
    users: [root]
"""


class FakeVault:
    def __init__(self) -> None:
        self.cas = {name: make_ca(f"CA {name}") for name in ("old", "new")}
        self.reads: Counter[tuple[str, str]] = Counter()
        self.issued: list[tuple[str, str, str, str, str]] = []
        self.lock = threading.Lock()
        self.wrong_cn = False
        self.csrs: list[str] = []
        self.methods: list[str] = []
        self.other_key = False  # sign_csr answers a certificate for another public key
        self.before_sign: list[Any] = []  # callbacks run when Vault is asked to sign

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        with self.lock:
            self.reads[(mount, issuer)] += 1
        return self.cas[issuer][0] if mount == "m1" and issuer in self.cas else None

    def issue_cert(self, mount: str, issuer: str, role: str, common_name: str, ttl: str) -> IssuedCert:
        with self.lock:
            self.issued.append((mount, issuer, role, common_name, ttl))
            self.methods.append("issue")
        ca_pem, ca_key = self.cas[issuer]
        cert, key = make_leaf("someone" if self.wrong_cn else common_name, ca_pem, ca_key)
        return IssuedCert(certificate=cert, private_key=key_pem(key), serial_number="01:02")

    def sign_csr(
        self, mount: str, issuer: str, role: str, csr: str, common_name: str, ttl: str
    ) -> SignedCert:
        with self.lock:
            self.issued.append((mount, issuer, role, common_name, ttl))
            self.csrs.append(csr)
            self.methods.append("sign")
        for check in self.before_sign:
            check()
        ca_pem, ca_key = self.cas[issuer]
        request = x509.load_pem_x509_csr(csr.encode())
        public = None if self.other_key else request.public_key()
        cert, _key = make_leaf("someone" if self.wrong_cn else common_name, ca_pem, ca_key, public_key=public)
        return SignedCert(certificate=cert, serial_number="01:02")


@pytest.fixture
def stack_path(tmp_path: Path) -> Path:
    (tmp_path / "legacy.pem").write_text(make_ca("Legacy")[0])
    path = tmp_path / "stack.yaml"
    path.write_text(STACK.format(extra=""))
    return path


def test_issue_writes_key_cert_and_bundle(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    result = issue_client(stack, "frogs", "root", tmp_path / "out", fake, environ=os.environ)
    assert fake.issued == [("m1", "new", "client", "root", "48h")]  # the current issuer, the role's max_ttl
    files = result.files
    assert files == ClientFiles(
        key=tmp_path / "out/client.root.key",
        cert=tmp_path / "out/client.root.crt",
        ca=tmp_path / "out/client-ca.crt",
    )
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in files.key.read_text()
    assert cert_info(files.cert.read_text()).subject_cn == "root"
    bundle = files.ca.read_text()
    assert bundle.count("BEGIN CERTIFICATE") == 3  # legacy, old, new: what the cluster trusts
    assert result.serial_number == "01:02"


def test_key_is_made_here_and_only_its_csr_goes_to_vault(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    out = tmp_path / "out"
    seen_at_sign: list[tuple[int, bool]] = []

    def key_already_on_disk() -> None:
        [key] = out.glob(".roachcert-pairs/root/gen-*/client.key")  # staged, not yet switched in
        seen_at_sign.append((stat.S_IMODE(key.stat().st_mode), (out / "client.root.key").exists()))

    fake.before_sign.append(key_already_on_disk)
    result = issue_client(stack, "frogs", "root", out, fake, environ=os.environ)
    assert fake.methods == ["sign"]
    assert seen_at_sign == [(0o600, False)]
    key = serialization.load_pem_private_key(result.files.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # the role's key_type (ec, 256 by default)
    assert key.curve.key_size == 256
    [csr] = fake.csrs
    assert "PRIVATE KEY" not in csr
    request = x509.load_pem_x509_csr(csr.encode())
    assert request.subject.rfc4514_string() == "CN=root"
    assert keys.certifies(result.files.cert.read_text(), key)


def test_vault_keygen_uses_issue(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    result = issue_client(
        stack, "frogs", "root", tmp_path / "out", fake, vault_keygen=True, environ=os.environ
    )
    assert fake.methods == ["issue"]
    assert fake.csrs == []
    key = serialization.load_pem_private_key(result.files.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert keys.certifies(result.files.cert.read_text(), key)


def test_certificate_for_another_key_writes_nothing(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    fake.other_key = True
    with pytest.raises(IssueError, match="another public key"):
        issue_client(stack, "frogs", "root", tmp_path / "out", fake, environ=os.environ)
    assert not (tmp_path / "out").exists()  # the staged key went with its generation


def test_existing_key_is_refused_before_asking_vault(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    out = tmp_path / "out"
    out.mkdir()
    (out / "client.root.key").write_text("keep me")
    with pytest.raises(IssueError, match="exists; pass --force"):
        issue_client(stack, "frogs", "root", out, fake, environ=os.environ)
    assert fake.issued == []
    assert (out / "client.root.key").read_text() == "keep me"


def test_force_replaces_the_key(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    first = issue_client(stack, "frogs", "root", tmp_path, fake, environ=os.environ)
    old_key = first.files.key.read_text()
    issue_client(stack, "frogs", "root", tmp_path, fake, force=True, environ=os.environ)
    assert first.files.key.read_text() != old_key
    assert stat.S_IMODE(first.files.key.stat().st_mode) == 0o600


def test_wrong_cn_from_vault_writes_nothing(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    fake.wrong_cn = True
    with pytest.raises(IssueError, match="CN='someone'"):
        issue_client(stack, "frogs", "root", tmp_path / "out", fake, environ=os.environ)
    assert not (tmp_path / "out").exists()


def test_undeclared_user_and_unknown_cluster(stack_path: Path) -> None:
    stack = load_stack(stack_path)
    with pytest.raises(IssueError, match=r"user 'bob' is not declared on cluster frogs \(users: root, app\)"):
        check_user(stack, "frogs", "bob")
    with pytest.raises(IssueError, match="no cluster 'toads'"):
        check_user(stack, "toads", "root")


def test_signing_ca_is_the_first_vault_ca(stack_path: Path) -> None:
    stack = load_stack(stack_path)
    assert signing_ca(stack, "frogs")[0] == "client-ca"
    with pytest.raises(IssueError, match="trusts no Vault-backed CA"):
        signing_ca(stack, "legacy-only")


def test_connection_url(stack_path: Path, tmp_path: Path) -> None:
    stack = load_stack(stack_path)
    paths = client_files(tmp_path / "my certs", "app")
    url = layouts.url(
        Layout.libpq, stack.clusters["dingos"], "app", paths.key.parent, Path("/etc/ssl/root ca.crt")
    )
    base = f"{tmp_path}/my%20certs"
    assert url == (
        "postgresql://app@dingos.example.test:26258/app%24db?sslmode=verify-full"
        f"&sslrootcert=/etc/ssl/root%20ca.crt&sslcert={base}/client.app.crt&sslkey={base}/client.app.key"
    )


def test_sslrootcert_precedence(stack_path: Path, tmp_path: Path) -> None:
    cluster = load_stack(stack_path).clusters["frogs"]
    home = Path.home()
    assert sslrootcert_for(cluster, os.environ) == home / ".postgresql" / "root.crt"
    with_server_ca = cluster.model_copy(update={"server_ca": tmp_path / "frogs-ca.crt"})
    assert sslrootcert_for(with_server_ca, os.environ) == tmp_path / "frogs-ca.crt"
    assert sslrootcert_for(with_server_ca, os.environ, Path("/x/ca.crt")) == Path("/x/ca.crt")


def test_default_out(stack_path: Path) -> None:
    stack = load_stack(stack_path)
    assert default_out(stack, "frogs") == Path("certs/stack/frogs")
    assert default_out(stack) == Path("certs/stack")


def test_issue_all_lays_out_per_cluster_and_keeps_going(tmp_path: Path, stack_path: Path) -> None:
    stack, fake = load_stack(stack_path), FakeVault()
    (tmp_path / "out" / "frogs").mkdir(parents=True)
    (tmp_path / "out" / "frogs" / "client.app.key").write_text("keep me")
    seen: list[Any] = []
    outcomes = issue_all(stack, tmp_path / "out", fake, jobs=3, on_done=seen.append, environ=os.environ)
    assert len(seen) == len(outcomes) == 4
    results = {(o.cluster, o.user): o for o in outcomes}
    assert isinstance(results[("frogs", "root")], IssueResult)
    assert isinstance(results[("dingos", "app")], IssueResult)
    failure = results[("frogs", "app")]
    assert isinstance(failure, IssueFailure)
    assert "exists" in failure.message
    assert isinstance(results[("legacy-only", "root")], IssueFailure)
    assert (tmp_path / "out/dingos/client.app.key").exists()  # same user, other cluster: no collision
    assert (tmp_path / "out/frogs/client.app.key").read_text() == "keep me"
    assert set(fake.reads.values()) == {1}  # one read per issuer for all clusters


# -- the CLI ---------------------------------------------------------------------------------------------
def test_cli_undeclared_user_is_one_line(stack_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["issue", str(stack_path), "frogs", "bob"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "user 'bob' is not declared on cluster frogs" in err


def test_cli_needs_cluster_and_user_or_all(stack_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["issue", str(stack_path), "frogs"]) == 1
    assert run(["issue", str(stack_path), "frogs", "root", "--all"]) == 1
    assert "not both" in capsys.readouterr().err


def test_cli_connect_url(
    stack_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["connect-url", str(stack_path), "frogs", "root"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "postgresql://root@frogs.example.test:26257/defaultdb?sslmode=verify-full"
        f"&sslrootcert={Path.home()}/.postgresql/root.crt"
        f"&sslcert={tmp_path}/certs/stack/frogs/client.root.crt&sslkey={tmp_path}/certs/stack/frogs/client.root.key\n"
    )
    assert "does not exist yet" in captured.err
    assert run(["connect-url", str(stack_path), "frogs", "bob"]) == 1


def test_issue_all_asks_the_console_for_every_cluster_ca_at_once_and_notes_them_in_stack_order(
    stack_path: Path, tmp_path: Path
) -> None:
    # `issue --all` asks the Console for each cluster's CA: at once (issue #29), not one round trip after
    # another. The first cluster's answer is the slowest; the notes still follow the stack's order.
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from roachcert.certs import server_ca  # noqa: F401  (loaded before the clock starts: requests)
    from roachcert.commands.cert_args import cluster_ca_files
    from roachcert.runtime import Runtime

    stack = load_stack(stack_path)
    clusters = list(stack.clusters)
    delays = {stack.clusters[name].id: 1.2 - 0.4 * index for index, name in enumerate(clusters)}

    class Slow404(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delays[self.path.split("/")[2]])
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow404)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    environ = {
        "COCKROACH_CONSOLE_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "ROACHCERT_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path),
    }
    notes: list[str] = []
    try:
        start = time.monotonic()
        roots = cluster_ca_files(Runtime(environ=environ), stack, clusters, None, False, notes, jobs=8)
        took = time.monotonic() - start
    finally:
        server.shutdown()
        server.server_close()
    assert list(roots) == clusters
    assert all(root == tmp_path / ".postgresql" / "root.crt" for root in roots.values())
    assert [next(name for name in clusters if f"cluster {name} " in note) for note in notes] == clusters
    assert took < sum(delays.values()) - 0.6, took  # one after another: 2.4 s; at once: 1.2 s
