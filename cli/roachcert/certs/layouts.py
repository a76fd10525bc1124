"""Driver-ready file layouts beside the pair, and the URL each driver takes.

libpq:     client.USER.key, client.USER.crt, client-ca.crt (the bundle the cluster trusts); URL
           postgresql://…?sslmode=verify-full&sslrootcert=…&sslcert=…&sslkey=…
cockroach: the same plus ca.crt, a copy of the cluster's *server* CA, which `cockroach sql
           --certs-dir=OUT` reads; the URL points sslrootcert at it.
jdbc:      the same as libpq plus client.USER.pk8 (the key as PKCS#8 DER, 0600: the only key form
           pgjdbc reads), a member of the same pair; URL jdbc:postgresql://…?user=…&sslmode=verify-full&…
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from roachcert import files
from roachcert.certs import pairs

if TYPE_CHECKING:  # `issue --help` and its option types need neither the models nor cryptography
    from roachcert.spec import Cluster

SERVER_CA_NAME = "ca.crt"


class Layout(StrEnum):
    libpq = "libpq"
    cockroach = "cockroach"
    jdbc = "jdbc"


def pk8_path(folder: Path, user: str) -> Path:
    return folder.absolute() / f"client.{user}.pk8"


def server_ca_path(folder: Path) -> Path:
    return folder.absolute() / SERVER_CA_NAME


def detect(folder: Path, user: str) -> Layout:
    """The layout a folder was issued with (renew keeps it): a .pk8 link into the pair means jdbc (a
    dangling one only while the key dangles too: the whole pair is gone, not just an old layout's
    member), a ca.crt cockroach."""
    pk8 = pk8_path(folder, user)
    if pairs.links_into(pk8, folder, user) and (pk8.exists() or not (folder / f"client.{user}.key").exists()):
        return Layout.jdbc
    if server_ca_path(folder).is_file():
        return Layout.cockroach
    return Layout.libpq


def drop_server_ca(folder: Path) -> bool:
    """Leaving the cockroach layout: its ca.crt would make `detect` read the folder as cockroach."""
    try:
        server_ca_path(folder).unlink()
    except FileNotFoundError:
        return False
    return True


def extra_members(layout: Layout, user: str, pkcs8_der: Callable[[], bytes]) -> list[pairs.Member]:
    """Files switched in with the key and certificate, so they never disagree with them. The key comes
    as a function (the caller's cryptography), so this module loads none for `issue --help`."""
    if layout is Layout.jdbc:
        return [pairs.Member(f"client.{user}.pk8", "client.pk8", pkcs8_der(), secret=True)]
    return []


def place_server_ca(layout: Layout, folder: Path, sslrootcert: Path) -> bool:
    """For `cockroach`, copy the server CA to OUT/ca.crt; False when there is none to copy yet."""
    if layout is not Layout.cockroach:
        return True
    try:
        pem = sslrootcert.read_bytes()
    except OSError:
        return False
    target = server_ca_path(folder)
    try:
        if target.read_bytes() == pem:
            return True
    except OSError:
        pass
    files.write_atomic(target, pem)
    return True


def url(layout: Layout, cluster: Cluster, user: str, folder: Path, sslrootcert: Path) -> str:
    def q(value: str | Path) -> str:
        return quote(str(value), safe="/")

    out = folder.absolute()
    cert, key = out / f"client.{user}.crt", out / f"client.{user}.key"
    if layout is Layout.jdbc:
        return (
            f"jdbc:postgresql://{cluster.host}:{cluster.port}/{q(cluster.database)}?user={q(user)}"
            f"&sslmode=verify-full&sslcert={q(cert)}&sslkey={q(pk8_path(folder, user))}"
            f"&sslrootcert={q(sslrootcert)}"
        )
    root = server_ca_path(folder) if layout is Layout.cockroach else sslrootcert
    return (
        f"postgresql://{q(user)}@{cluster.host}:{cluster.port}/{q(cluster.database)}?sslmode=verify-full"
        f"&sslrootcert={q(root)}&sslcert={q(cert)}&sslkey={q(key)}"
    )
