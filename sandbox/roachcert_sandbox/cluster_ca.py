"""The emulator's cluster CA: the certificate the Console's "Download CA Cert" serves for every cluster of
this emulator (real clusters each have their own; one per emulator is enough to test the last mile).
Made at the emulator's first start and kept in its state folder, so a restarted emulator serves the same
one and the sandbox can sign its PostgreSQL's server certificate with it."""

from __future__ import annotations

from pathlib import Path

from roachcert.files import write_atomic, write_secret
from roachcert_sandbox.tls import Ca, make_ca

CERT_NAME = "emulator-cluster-ca.crt"
KEY_NAME = "emulator-cluster-ca.key"


def load_or_make(folder: Path) -> Ca:
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    if cert.is_file() and key.is_file():
        return Ca(cert_pem=cert.read_text(encoding="utf-8"), key_pem=key.read_text(encoding="utf-8"))
    made = make_ca("roachcert emulator cluster CA")
    folder.mkdir(parents=True, exist_ok=True)
    write_secret(key, made.key_pem, replace=True)
    write_atomic(cert, made.cert_pem)
    return made
