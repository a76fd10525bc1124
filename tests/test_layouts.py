"""The URL each layout prints, and which layout a folder already has."""

from __future__ import annotations

from pathlib import Path

from roachcert.certs import keys, layouts, pairs
from roachcert.certs.layouts import Layout
from roachcert.spec.models import Cluster


def cluster() -> Cluster:
    return Cluster.model_validate(
        {
            "id": "2186fbdb-598c-4797-a463-aaaee865903e",
            "ca": "client-ca",
            "host": "db.example.test",
            "port": 26258,
            "database": "app$db",
            "users": ["app"],
        }
    )


def test_urls_per_layout(tmp_path: Path) -> None:
    out = tmp_path / "my certs"
    base = f"{tmp_path}/my%20certs"
    root = Path("/etc/ssl/root.crt")
    assert layouts.url(Layout.libpq, cluster(), "app", out, root) == (
        "postgresql://app@db.example.test:26258/app%24db?sslmode=verify-full&sslrootcert=/etc/ssl/root.crt"
        f"&sslcert={base}/client.app.crt&sslkey={base}/client.app.key"
    )
    assert layouts.url(Layout.cockroach, cluster(), "app", out, root) == (
        f"postgresql://app@db.example.test:26258/app%24db?sslmode=verify-full&sslrootcert={base}/ca.crt"
        f"&sslcert={base}/client.app.crt&sslkey={base}/client.app.key"
    )
    assert layouts.url(Layout.jdbc, cluster(), "app", out, root) == (
        "jdbc:postgresql://db.example.test:26258/app%24db?user=app&sslmode=verify-full"
        f"&sslcert={base}/client.app.crt&sslkey={base}/client.app.pk8&sslrootcert=/etc/ssl/root.crt"
    )


def test_detect_reads_the_folder(tmp_path: Path) -> None:
    assert layouts.detect(tmp_path, "app") is Layout.libpq
    (tmp_path / "ca.crt").write_text("server CA")
    assert layouts.detect(tmp_path, "app") is Layout.cockroach
    key = keys.new_key("ec", 256)
    members = [
        pairs.Member("client.app.key", "client.key", keys.key_pem(key), secret=True),
        *layouts.extra_members(Layout.jdbc, "app", lambda: keys.key_pkcs8_der(key)),
    ]
    pairs.switch_pair(tmp_path, "app", members)
    assert layouts.detect(tmp_path, "app") is Layout.jdbc
    assert (tmp_path / "client.app.pk8").read_bytes() == keys.key_pkcs8_der(key)


def test_place_server_ca_only_for_cockroach(tmp_path: Path) -> None:
    root = tmp_path / "root.crt"
    assert layouts.place_server_ca(Layout.cockroach, tmp_path, root) is False  # nothing to copy yet
    root.write_text("server CA\n")
    assert layouts.place_server_ca(Layout.libpq, tmp_path, root) is True
    assert not (tmp_path / "ca.crt").exists()
    assert layouts.place_server_ca(Layout.cockroach, tmp_path, root) is True
    assert (tmp_path / "ca.crt").read_text() == "server CA\n"
