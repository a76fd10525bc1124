"""The URL each layout prints, and which layout a folder already has."""

from __future__ import annotations

import shutil
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


def test_a_dangling_pk8_beside_a_live_key_is_an_old_layout_not_jdbc(tmp_path: Path) -> None:
    key = keys.new_key("ec", 256)
    jdbc = [
        pairs.Member("client.app.key", "client.key", keys.key_pem(key), secret=True),
        *layouts.extra_members(Layout.jdbc, "app", lambda: keys.key_pkcs8_der(key)),
    ]
    pairs.switch_pair(tmp_path, "app", jdbc)
    pk8 = tmp_path / "client.app.pk8"
    # Spelled another way (a restore tool's absolute link), it is still the pair's .pk8.
    pk8.unlink()
    pk8.symlink_to(tmp_path / ".roachcert-pairs" / "app" / "current" / "client.pk8")
    assert layouts.detect(tmp_path, "app") is Layout.jdbc
    # Left by an older roachcert after a switch to libpq: dangling while the key resolves.
    (tmp_path / ".roachcert-pairs" / "app" / "current" / "client.pk8").unlink()
    assert layouts.detect(tmp_path, "app") is Layout.libpq
    # The whole pair gone (links all dangle): the .pk8 still says what the folder was.
    shutil.rmtree(tmp_path / ".roachcert-pairs")
    assert layouts.detect(tmp_path, "app") is Layout.jdbc


def test_a_switch_drops_the_old_layouts_links_into_the_pair(tmp_path: Path) -> None:
    key = keys.new_key("ec", 256)
    plain = pairs.Member("client.app.key", "client.key", keys.key_pem(key), secret=True)
    pairs.switch_pair(tmp_path, "app", [plain, *layouts.extra_members(Layout.jdbc, "app", lambda: b"der")])
    (tmp_path / "client.app.mine").symlink_to("elsewhere")  # a user's own link: not ours to touch
    pairs.switch_pair(tmp_path, "app", [plain])
    assert not (tmp_path / "client.app.pk8").is_symlink()
    assert (tmp_path / "client.app.mine").is_symlink()
    assert layouts.detect(tmp_path, "app") is Layout.libpq


def test_the_sweep_removes_a_killed_first_issue_but_no_generation_a_link_may_use(tmp_path: Path) -> None:
    pair_dir = tmp_path / ".roachcert-pairs" / "app"
    (pair_dir / "gen-0123").mkdir(parents=True)
    (pair_dir / "gen-0123" / "client.key").write_text("a key no reader ever saw\n")
    assert pairs.sweep(tmp_path) == 1  # no current, no link into the pair: never live
    assert not (pair_dir / "gen-0123").exists()
    (pair_dir / "gen-4567").mkdir()
    (pair_dir / "gen-4567" / "client.key").write_text("the live key\n")
    (tmp_path / "client.app.key").symlink_to(".roachcert-pairs/app/current/client.key")
    assert pairs.sweep(tmp_path) == 0  # `current` lost (a restore), links kept: maybe live
    assert (pair_dir / "gen-4567" / "client.key").read_text() == "the live key\n"
