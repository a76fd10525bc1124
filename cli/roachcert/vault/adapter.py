"""The Vault PKI API roachcert uses, over `vault.transport`: issuer reads, mounts and roots for
`ca ensure`, roles, issuing and signing, and the list of issued certificates."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from roachcert.errors import VaultError
from roachcert.spec import Stack
from roachcert.vault.answers import data_of, int_of, is_name, names_of, pem_of, shape_error, text_of
from roachcert.vault.transport import (
    VaultSettings,
    VaultTransport,
    find_token,
    no_issuer,
    resolve_settings,
    vault_errors,
)

# What issuing, `ca ensure` and rotation get back is imported by the methods that make it: a plan reads
# issuers only, and the key, CSR and rotation code behind those results is not loaded for it.
if TYPE_CHECKING:
    from roachcert.certs.issue import IssuedCert, SignedCert
    from roachcert.vault.ca_ensure import IssuerState, MountState
    from roachcert.vault.rotation import IssuedRecord

__all__ = ["VaultAdapter", "VaultSettings", "find_token", "open_vault", "resolve_settings"]


def open_vault(stack: Stack, env: Mapping[str, str]) -> VaultAdapter:
    """An adapter for the stack's Vault. Nothing is contacted (and nothing is required) until first use."""
    return VaultAdapter(resolve_settings(stack.vault, env), env)


class VaultAdapter(VaultTransport):
    """Implements `bundles.IssuerReader`, `ca_ensure.PkiAdmin` and `issue.CertIssuer` over the transport."""

    # -- reads (bundles.IssuerReader) ----------------------------------------------------------------
    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        """An issuer's certificate PEM (an unauthenticated read in Vault); `None` when it is not there."""
        path = f"{mount}/issuer/{issuer}/json"
        body = self._call("get", path, absent=lambda r: r.status_code == 404 or no_issuer(r))
        return (
            None
            if body is None
            else pem_of(
                data_of(body, self._what("get", path)), "certificate", self._what("get", path)
            ).strip()
            + "\n"
        )

    # -- ca_ensure.PkiAdmin -----------------------------------------------------------------------------
    def read_mount(self, mount: str) -> MountState | None:
        from roachcert.vault.ca_ensure import MountState  # lazy: see the imports above

        path = f"sys/mounts/{mount}"
        body = self._call("get", path, absent=lambda r: "no secret engine mount" in vault_errors(r).lower())
        if body is None:
            return None
        kind = text_of(data_of(body, self._what("get", path)), "type", self._what("get", path))
        tuned = self._call("get", f"{path}/tune")
        tune = data_of(tuned, self._what("get", f"{path}/tune")) if tuned is not None else {}
        return MountState(
            type=kind, max_lease_ttl=int_of(tune, "max_lease_ttl", self._what("get", f"{path}/tune"))
        )

    def enable_pki(self, mount: str, max_lease_ttl: str) -> None:
        self._call("post", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": max_lease_ttl}})

    def tune_max_lease_ttl(self, mount: str, max_lease_ttl: str) -> None:
        self._call("post", f"sys/mounts/{mount}/tune", {"max_lease_ttl": max_lease_ttl})

    def list_issuers(self, mount: str) -> tuple[IssuerState, ...]:
        from roachcert.vault.ca_ensure import IssuerState  # lazy: see the imports above

        path = f"{mount}/issuers"
        listed = self._call("list", path)
        if listed is None:
            return ()
        what = self._what("list", path)
        data = data_of(listed, what)
        info = data.get("key_info") or {}
        if not isinstance(info, dict):
            raise shape_error(what, data, "a `key_info` object")
        found = []
        for issuer_id in names_of(data, "keys", what):
            pem = self.read_issuer_pem(mount, issuer_id) or ""
            entry = info.get(issuer_id) or {}
            name = (entry.get("issuer_name") if isinstance(entry, dict) else None) or ""
            if name and not is_name(name):  # shown in `rotate status`: a line break would forge a line
                raise shape_error(what, data, "an `issuer_name` that is a name")
            found.append(IssuerState(issuer_id=issuer_id, name=name, pem=pem))
        return tuple(found)

    def default_issuer_id(self, mount: str) -> str | None:
        path = f"{mount}/config/issuers"
        body = self._call("get", path)
        if body is None:
            return None
        data = data_of(body, self._what("get", path))
        return text_of(data, "default", self._what("get", path)) if data.get("default") else None

    def generate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        return self._new_issuer(f"{mount}/root/generate/internal", issuer, common_name, ttl)

    def rotate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        return self._new_issuer(f"{mount}/root/rotate/internal", issuer, common_name, ttl)

    def _new_issuer(self, path: str, issuer: str, common_name: str, ttl: str) -> str:
        body = self._call("post", path, {"common_name": common_name, "issuer_name": issuer, "ttl": ttl})
        data = data_of(body, self._what("post", path)) if body else {}
        if not data or "private_key" in data:
            raise VaultError(f"Vault answered {path} without a certificate (or with a key): refusing")
        return pem_of(data, "certificate", self._what("post", path)).strip() + "\n"

    def set_default_issuer(self, mount: str, issuer: str) -> None:
        self._call("post", f"{mount}/config/issuers", {"default": issuer})

    def read_role(self, mount: str, role: str) -> Mapping[str, Any] | None:
        path = f"{mount}/roles/{role}"
        body = self._call("get", path)
        return data_of(body, self._what("get", path)) if body is not None else None

    def write_role(self, mount: str, role: str, params: Mapping[str, Any]) -> None:
        self._call("post", f"{mount}/roles/{role}", params)

    # -- issue.CertIssuer ----------------------------------------------------------------------------
    def issue_cert(self, mount: str, issuer: str, role: str, common_name: str, ttl: str) -> IssuedCert:
        from roachcert.certs.issue import IssuedCert  # lazy: see the imports above

        path = f"{mount}/issuer/{issuer}/issue/{role}"
        # Vault also puts the CN in a DNS SAN, as the product doc's certificates have; strict verifiers
        # (cryptography's) require a SAN, and without the serverAuth EKU it cannot serve TLS.
        data, what = self._role_call(path, {"common_name": common_name, "ttl": ttl})
        return IssuedCert(
            certificate=pem_of(data, "certificate", what).strip() + "\n",
            private_key=text_of(data, "private_key", what).strip() + "\n",
            serial_number=text_of(data, "serial_number", what),
        )

    def sign_csr(
        self, mount: str, issuer: str, role: str, csr: str, common_name: str, ttl: str
    ) -> SignedCert:
        """The role signs a CSR made here: only the public key and CN go to Vault, nothing secret."""
        from roachcert.certs.issue import SignedCert  # lazy: see the imports above

        path = f"{mount}/issuer/{issuer}/sign/{role}"
        data, what = self._role_call(path, {"csr": csr, "common_name": common_name, "ttl": ttl})
        return SignedCert(
            certificate=pem_of(data, "certificate", what).strip() + "\n",
            serial_number=text_of(data, "serial_number", what),
        )

    def _role_call(self, path: str, payload: dict[str, str]) -> tuple[dict[str, Any], str]:
        """A role's issue or sign: its answer's `data` and what to call the request in an error."""
        body = self._call("post", path, payload)
        if body is None:
            raise VaultError(f"{path} does not exist on {self.where}: run `roachcert ca ensure` first")
        what = self._what("post", path)
        return data_of(body, what), what

    # -- rotation: the certificates a mount has issued -----------------------------------------------
    def list_issued(self, mount: str, jobs: int = 8) -> list[IssuedRecord]:
        """Every unrevoked client certificate the mount stored (LIST MOUNT/certs, then each
        MOUNT/cert/SERIAL, `jobs` at a time), with the issuer that signed it. Roles with
        `no_store` leave nothing here."""
        from roachcert.vault.rotation import records_from_pems  # lazy: see the imports above

        listed = self._call("list", f"{mount}/certs")
        what = self._what("list", f"{mount}/certs")
        serials = names_of(data_of(listed, what), "keys", what) if listed is not None else []
        if not serials:
            return []

        def read(serial: str) -> tuple[str, str] | None:
            path = f"{mount}/cert/{serial}"
            body = self._call("get", path)
            data = data_of(body, self._what("get", path)) if body is not None else {}
            if not data.get("certificate") or int_of(data, "revocation_time", self._what("get", path)) > 0:
                return None
            return serial, pem_of(data, "certificate", self._what("get", path))

        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(serials)))) as pool:
            found = [pair for pair in pool.map(read, serials) if pair is not None]
        return records_from_pems(mount, found, self.list_issuers(mount))
