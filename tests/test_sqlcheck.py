"""`roachcert check` against a real local PostgreSQL with `cert` auth (the user comes from the CN, as
in CockroachDB): success, and each common failure explained in one line. Plus the pure `explain`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs_helper import PrivateKey, key_pem, make_ca, make_leaf
from roachcert.app import run
from roachcert.certs.issue import client_files
from roachcert.certs.sqlcheck import SqlTarget, explain
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.postgres import RunningPostgres, find_bindir, start_postgres

pytestmark = pytest.mark.integration
FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"


@pytest.fixture(scope="module")
def client_ca() -> tuple[str, PrivateKey]:
    return make_ca("Check test client CA")


@pytest.fixture(scope="module")
def postgres(client_ca: tuple[str, PrivateKey]) -> Iterator[RunningPostgres]:
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    server = start_postgres(client_ca[0])
    try:
        server.ensure_users(["root", "app"])
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack(tmp_path: Path, client_ca: tuple[str, PrivateKey]) -> Path:
    (tmp_path / "ca.pem").write_text(client_ca[0])
    path = tmp_path / "st.yaml"
    path.write_text(
        "version: 1\ncas:\n  legacy: {pem_file: ca.pem}\nclusters:\n"
        f"  frogs: {{id: {FROGS}, ca: legacy, host: frogs.example.test, users: [root, app]}}\n"
    )
    return path


def write_client(folder: Path, user: str, ca: tuple[str, PrivateKey], cn: str | None = None) -> None:
    """client.USER.crt/.key as `issue` lays them out; the key 0600."""
    cert, key = make_leaf(cn or user, ca[0], ca[1])
    files = client_files(folder, user)
    folder.mkdir(parents=True, exist_ok=True)
    files.cert.write_text(cert)
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_pem(key))


def check(stack: Path, pg: RunningPostgres, user: str, certs: Path, root: Path | None = None) -> int:
    return run(
        ["check", str(stack), "frogs", user, "--host", "127.0.0.1", "--port", str(pg.port),
         "--sslrootcert", str(root or pg.server_ca), "--certs-dir", str(certs)]
    )  # fmt: skip


def test_login_prints_the_user(
    stack: Path, postgres: RunningPostgres, client_ca: tuple[str, PrivateKey], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_client(tmp_path / "certs", "root", client_ca)
    assert check(stack, postgres, "root", tmp_path / "certs") == 0
    assert capsys.readouterr().out == "root\n"


def test_certificate_from_another_ca_is_refused(
    stack: Path, postgres: RunningPostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_client(tmp_path / "certs", "app", make_ca("Some other CA"))
    assert check(stack, postgres, "app", tmp_path / "certs") == 1
    assert capsys.readouterr().err == (
        f"roachcert: app@127.0.0.1:{postgres.port}: the cluster does not trust the CA that signed this "
        "certificate: plan/apply the stack, or re-issue from the current issuer\n"
    )


def test_certificate_for_another_user(
    stack: Path, postgres: RunningPostgres, client_ca: tuple[str, PrivateKey], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_client(tmp_path / "certs", "app", client_ca, cn="root")  # root's certificate under app's name
    assert check(stack, postgres, "app", tmp_path / "certs") == 1
    err = capsys.readouterr().err
    assert "the certificate's CN is 'root', not 'app'" in err
    assert err.count("\n") == 1


def test_key_readable_by_others_is_explained(
    stack: Path, postgres: RunningPostgres, client_ca: tuple[str, PrivateKey], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_client(tmp_path / "certs", "root", client_ca)
    key = client_files(tmp_path / "certs", "root").key
    key.chmod(0o644)
    assert check(stack, postgres, "root", tmp_path / "certs") == 1
    err = capsys.readouterr().err
    assert f"has group or world access; run `chmod 0600 {key}`" in err
    assert err.count("\n") == 1


def test_wrong_server_ca(
    stack: Path, postgres: RunningPostgres, client_ca: tuple[str, PrivateKey], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_client(tmp_path / "certs", "root", client_ca)
    wrong = tmp_path / "not-the-server-ca.crt"
    wrong.write_text(make_ca("Not the server CA")[0])
    assert check(stack, postgres, "root", tmp_path / "certs", root=wrong) == 1
    assert "sslrootcert is not the cluster's server CA" in capsys.readouterr().err


def test_missing_files_say_run_issue(
    stack: Path, postgres: RunningPostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(stack, postgres, "root", tmp_path / "nothing") == 1
    err = capsys.readouterr().err
    assert f"run `roachcert issue {stack} frogs root --out {tmp_path / 'nothing'}`" in err


def test_undeclared_user_is_refused_before_connecting(
    stack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["check", str(stack), "frogs", "nobody"]) == 1
    assert "user 'nobody' is not declared on cluster frogs" in capsys.readouterr().err


# -- pure ---------------------------------------------------------------------------------------------
TARGET = SqlTarget(
    "h.example", 26257, "defaultdb", "app", Path("/ca.crt"), client_files(Path("/certs"), "app")
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('connection to server at "h" (1.2.3.4), port 26257 failed: SSL error: tlsv1 alert unknown ca',
         "does not trust the CA that signed this certificate"),
        ('FATAL:  certificate authentication failed for user "app"', "the certificate's CN is 'root', not 'app'"),
        ('private key file "/certs/client.app.key" has group or world access; file must have permissions',
         "run `chmod 0600 /certs/client.app.key`"),
        ("SSL error: certificate verify failed", "sslrootcert is not the cluster's server CA"),
        ('server certificate for "x" does not match host name "h.example"', "not for host h.example"),
        ('FATAL:  role "app" does not exist', "user 'app' does not exist on the cluster"),
        ('connection to server at "h", port 26257 failed: Connection refused\n\tIs the server running',
         "cannot reach the server (Connection refused)"),
        ("connection to server at \"h\", port 26257 failed: something new", "app@h.example:26257: something new"),
    ],
)  # fmt: skip
def test_explain(message: str, expected: str) -> None:
    line = explain(message, TARGET, "root")
    assert expected in line
    assert "\n" not in line


def test_a_fetched_cluster_ca_that_no_longer_verifies_says_how_to_fetch_it_again() -> None:
    cached = Path("/w/.roachcert/cluster-ca") / f"{FROGS}.crt"
    target = SqlTarget("h.example", 26257, "defaultdb", "app", cached, client_files(Path("/certs"), "app"))
    line = explain("SSL error: certificate verify failed", target, "app")
    assert "remove that file to fetch it again" in line
    assert str(cached) in line


def test_a_password_in_the_environment_never_stands_in_for_the_certificate(
    stack: Path, client_ca: tuple[str, PrivateKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # A server that takes passwords: with PGPASSWORD (or ~/.pgpass) in the process's environment, libpq
    # logged in with it and `check` said the certificate works.
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    server = start_postgres(client_ca[0], tcp_auth="scram-sha-256")
    try:
        server.ensure_login("app", "pw-from-the-environment", "defaultdb")
        monkeypatch.setenv("PGPASSWORD", "pw-from-the-environment")
        write_client(tmp_path / "certs", "app", client_ca)
        assert check(stack, server, "app", tmp_path / "certs") == 1
        _out, err = capsys.readouterr()
        assert "password" in err
    finally:
        server.stop()
