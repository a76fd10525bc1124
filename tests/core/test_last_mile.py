"""The last mile on the sandbox: the cluster's CA certificate fetched from the Console the emulator plays
(`GET /clusters/ID/cert`, public), cached, pinned, and used by `issue`, `connect-url` and `check`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from roachcert.app import run
from roachcert.bundles import cluster_bundles
from roachcert.pem import cert_info
from roachcert.spec import load_stack
from roachcert.vault.adapter import open_vault
from roachcert_sandbox import cluster_ca
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.manager import SandboxState, register_cluster
from roachcert_sandbox.postgres import RunningPostgres, find_bindir, start_postgres
from roachcert_sandbox.tls import make_server_tls

pytestmark = pytest.mark.integration

STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Last Mile client CA
    issuers: [ca-a]
    role: {{name: client, max_ttl: 24h, key_type: ec}}
clusters:
  frogs:
    id: {cluster_id}
    ca: client-ca
    host: frogs.example.crdb.io
    users: [root, app]
{extra}"""


@pytest.fixture
def stack(sandbox: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A stack whose cluster the emulator knows, its CA ensured in Vault."""
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    path = write(tmp_path, cluster_id)
    assert run(["ca", "ensure", str(path)]) == 0
    capsys.readouterr()
    return path


def write(tmp_path: Path, cluster_id: str, extra: str = "") -> Path:
    path = tmp_path / "lastmile.yaml"
    mount = f"pki_{uuid.uuid4().hex[:8]}"
    path.write_text(STACK.format(mount=mount, cluster_id=cluster_id, extra=extra))
    return path


def pin(path: Path, fingerprint: str) -> None:
    text = path.read_text()
    path.write_text(
        text.replace(
            "    users: [root, app]\n", f"    users: [root, app]\n    server_ca_sha256: '{fingerprint}'\n"
        )
    )


def emulator_ca(sandbox: SandboxState) -> str:
    return cluster_ca.load_or_make(Path(sandbox.root)).cert_pem


def url_files(url: str) -> dict[str, Path]:
    query = parse_qs(urlsplit(url).query)
    return {name: Path(query[name][0]) for name in ("sslrootcert", "sslcert", "sslkey")}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cockroach_layout_holds_the_cluster_ca_and_every_url_file_exists(
    sandbox: SandboxState, stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys, "issue", str(stack), "frogs", "root", "--layout", "cockroach", "--out", "certs"
    )
    assert code == 0, err
    certs = tmp_path / "certs"
    assert (certs / "ca.crt").read_text() == emulator_ca(sandbox)  # the emulator's cluster CA
    assert {"ca.crt", "client.root.crt", "client.root.key"} <= {p.name for p in certs.iterdir()}
    assert "fetched the CA certificate of cluster frogs (sha256 " in err
    assert "does not exist" not in err
    assert all(path.is_file() for path in url_files(out.strip()).values())
    cached = tmp_path / ".roachcert" / "cluster-ca" / f"{load_stack(stack).clusters['frogs'].id}.crt"
    assert cached.read_text() == emulator_ca(sandbox)
    for layout in ("libpq", "cockroach"):
        code, out, err = cli(
            capsys, "connect-url", str(stack), "frogs", "root", "--layout", layout, "--out", "certs"
        )
        assert code == 0, err
        files = url_files(out.strip())
        assert all(path.is_file() for path in files.values()), (layout, files)
        assert cert_info(files["sslrootcert"].read_text()).pem == emulator_ca(sandbox)
        assert "fetched" not in err  # the cached copy: one GET per cluster, not per command
    code, out, err = cli(
        capsys, "connect-url", str(stack), "frogs", "root", "--layout", "jdbc", "--out", "certs"
    )
    assert code == 0
    assert f"sslrootcert={cached}" in out


def test_a_pinned_fingerprint_that_differs_is_refused_and_nothing_is_written(
    sandbox: SandboxState, stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "ab" * 32
    unpinned = stack.read_text()
    pin(stack, ":".join(["AB"] * 32))  # colons and capitals are read as the same fingerprint
    code, out, err = cli(
        capsys, "issue", str(stack), "frogs", "root", "--layout", "cockroach", "--out", "certs"
    )
    actual = cert_info(emulator_ca(sandbox)).sha256
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("roachcert: refusing the CA certificate of cluster frogs from ")
    assert actual in err
    assert wrong in err
    assert not (tmp_path / "certs").exists()
    assert not (tmp_path / ".roachcert" / "cluster-ca").exists()
    for command in ("connect-url", "check"):
        assert cli(capsys, command, str(stack), "frogs", "root")[0] == 1
    stack.write_text(unpinned)
    pin(stack, actual)
    code, out, err = cli(
        capsys, "issue", str(stack), "frogs", "root", "--layout", "cockroach", "--out", "certs"
    )
    assert code == 0, err
    assert (tmp_path / "certs" / "ca.crt").read_text() == emulator_ca(sandbox)


def test_no_fetch_and_an_unreachable_console_keep_the_old_behaviour_with_a_note(
    stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root_crt = Path.home() / ".postgresql" / "root.crt"
    code, out, err = cli(
        capsys, "issue", str(stack), "frogs", "root", "--layout", "cockroach", "--out", "certs", "--no-fetch"
    )
    assert code == 0, err
    assert "note: --no-fetch: the CA certificate of cluster frogs was not fetched" in err
    assert not (tmp_path / "certs" / "ca.crt").exists()
    assert f"sslrootcert={tmp_path}/certs/ca.crt" in out
    code, out, err = cli(capsys, "connect-url", str(stack), "frogs", "root", "--no-fetch")
    assert f"sslrootcert={root_crt}&" in out
    assert f"note: {root_crt} does not exist yet" in err
    assert not (tmp_path / ".roachcert" / "cluster-ca").exists()  # nothing was fetched
    monkeypatch.setenv("COCKROACH_CONSOLE_URL", "http://127.0.0.1:1")
    code, out, err = cli(capsys, "connect-url", str(stack), "frogs", "root")
    assert code == 0
    assert "note: cannot fetch the CA certificate of cluster frogs from http://127.0.0.1:1/clusters/" in err
    assert f"sslrootcert={root_crt}&" in out


@pytest.fixture
def cluster_postgres(sandbox: SandboxState, stack: Path) -> Iterator[RunningPostgres]:
    """PostgreSQL playing the cluster: its server certificate signed by the emulator's cluster CA."""
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    loaded = load_stack(stack)
    tls = make_server_tls("127.0.0.1", ca=cluster_ca.load_or_make(Path(sandbox.root)))
    server = start_postgres(
        cluster_bundles(loaded, open_vault(loaded, os.environ))["frogs"].pem, server_tls=tls
    )
    try:
        server.ensure_users(["root", "app"])
        yield server
    finally:
        server.stop()


def test_check_verifies_the_server_with_the_fetched_ca(
    stack: Path, cluster_postgres: RunningPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "issue", str(stack), "frogs", "app")[0] == 0
    argv = ["check", str(stack), "frogs", "app", "--host", "127.0.0.1", "--port", str(cluster_postgres.port)]
    code, out, err = cli(capsys, *argv)
    assert (code, out) == (0, "app\n"), err
    code, out, err = cli(capsys, *argv, "--sslrootcert", str(Path.home() / "nope.crt"))
    assert code == 1  # the fetched CA is what made it verify


def test_issue_all_lays_the_cluster_ca_in_each_cluster_folder(
    sandbox: SandboxState, stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "issue", str(stack), "--all", "--layout", "cockroach", "--out", "certs")
    assert code == 0, out + err
    folder = tmp_path / "certs" / "frogs"
    assert (folder / "ca.crt").read_text() == emulator_ca(sandbox)
    assert {"client.root.crt", "client.root.key", "client.app.crt", "client.app.key"} <= {
        p.name for p in folder.iterdir()
    }
    assert err.count("fetched the CA certificate of cluster frogs") == 1  # once per cluster, not per user
