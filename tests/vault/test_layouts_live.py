"""Each `--layout` against a real OpenBao and a real PostgreSQL with `cert` auth: issue, a forced
renewal (which keeps the layout), then a real TLS SQL login with the renewed pair."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from roachcert.app import run
from roachcert.bundles import cluster_bundles
from roachcert.certs import keys, renewal
from roachcert.certs.layouts import Layout
from roachcert.pem import cert_info
from roachcert.spec import load_stack
from roachcert.vault.adapter import open_vault
from roachcert_sandbox.errors import SandboxError
from roachcert_sandbox.postgres import RunningPostgres, find_bindir, start_postgres

pytestmark = pytest.mark.integration


@pytest.fixture
def ensured(ensure_stack: Callable[..., Path]) -> Path:
    return ensure_stack()


@pytest.fixture
def postgres(ensured: Path) -> Iterator[RunningPostgres]:
    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    stack = load_stack(ensured)
    server = start_postgres(cluster_bundles(stack, open_vault(stack, os.environ))["frogs"].pem)
    try:
        server.ensure_users(["root", "app"])
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("layout", list(Layout))
def test_layout_files_url_and_login_after_renewal(
    ensured: Path,
    postgres: RunningPostgres,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    layout: Layout,
) -> None:
    server_ca = str(postgres.server_ca)
    assert run(["issue", str(ensured), "frogs", "app", "--layout", layout, "--sslrootcert", server_ca]) == 0
    url = capsys.readouterr().out.strip()
    out = tmp_path / "certs" / "teststack" / "frogs"
    stack = load_stack(ensured)
    first = (out / "client.app.crt").read_bytes()
    late = cert_info(first.decode()).not_after - timedelta(hours=1)
    [result] = renewal.renew(
        stack,
        [("frogs", "app")],
        lambda _c: out,
        open_vault(stack, os.environ),
        now=lambda: late,
        environ=os.environ,
    )
    assert result.outcome == "renewed"
    assert (out / "client.app.crt").read_bytes() != first
    key = serialization.load_pem_private_key((out / "client.app.key").read_bytes(), None)
    assert isinstance(key, keys.PrivateKey)
    assert keys.certifies((out / "client.app.crt").read_text(), key)
    pk8 = out / "client.app.pk8"
    root = server_ca
    if layout is Layout.jdbc:
        assert url.startswith(
            "jdbc:postgresql://frogs.example.test:26257/defaultdb?user=app&sslmode=verify-full"
        )
        assert f"&sslkey={pk8}" in url
        assert stat.S_IMODE(pk8.stat().st_mode) == 0o600
        from_der = serialization.load_der_private_key(pk8.read_bytes(), None)
        assert isinstance(from_der, keys.PrivateKey)
        assert keys.public_der(from_der) == keys.public_der(key)  # renewed with the pair
    else:
        assert not pk8.exists()
        assert url.startswith("postgresql://app@frogs.example.test:26257/defaultdb?sslmode=verify-full")
    if layout is Layout.cockroach:
        assert (out / "ca.crt").read_bytes() == postgres.server_ca.read_bytes()
        assert f"sslrootcert={out}/ca.crt" in url
        root = str(out / "ca.crt")  # what `cockroach sql --certs-dir` would verify the server with
    else:
        assert not (out / "ca.crt").exists()
    argv = ["check", str(ensured), "frogs", "app", "--host", "127.0.0.1", "--port", str(postgres.port)]
    assert run([*argv, "--sslrootcert", root, "--certs-dir", str(out)]) == 0
    assert capsys.readouterr().out == "app\n"
    assert (
        run(["connect-url", str(ensured), "frogs", "app", "--layout", layout, "--sslrootcert", server_ca])
        == 0
    )
    assert capsys.readouterr().out.strip() == url
