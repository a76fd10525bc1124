"""Client certificates: the key made here (0600, written first), its CSR signed by Vault with the CA's
current issuer (`--vault-keygen`: Vault's `/issue` makes the key instead), written beside the cluster's
CA bundle (never overwritten without --force), and the `sslmode=verify-full` URL.

Layout: OUT/client.USER.key, OUT/client.USER.crt, OUT/client-ca.crt (the bundle the cluster trusts;
not `ca.crt`, which `cockroach sql --certs-dir` reads as the *server* CA). Default OUT:
certs/STACK/CLUSTER under the current folder; `--all` uses OUT/CLUSTER under certs/STACK.
Key and certificate are links into one switched pair (pairs.py), replaced under the folder's lock;
each delivery (or failed delivery) goes to the inventory (inventory.py) the rotation guard reads.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from roachcert import files, interrupts, paths
from roachcert.bundles import ClusterBundle, IssuerReader, cluster_bundles
from roachcert.certs import inventory, keys, layouts, pairs
from roachcert.certs.layouts import Layout
from roachcert.errors import RoachcertError
from roachcert.pem import CertInfo, cert_info
from roachcert.spec import Cluster, Stack, VaultCa
from roachcert.stack_lock import DEFAULT_TIMEOUT, Note, ignore_note

CA_BUNDLE_NAME = "client-ca.crt"
DEFAULT_JOBS = 8


class IssueError(RoachcertError):
    """A certificate cannot be issued as asked (unknown cluster or user, no Vault CA, file exists)."""


@dataclass(frozen=True)
class IssuedCert:
    certificate: str
    private_key: str = field(repr=False)
    serial_number: str = ""


@dataclass(frozen=True)
class SignedCert:
    certificate: str
    serial_number: str = ""


class CertIssuer(Protocol):
    def issue_cert(self, mount: str, issuer: str, role: str, common_name: str, ttl: str) -> IssuedCert: ...


class CsrSigner(Protocol):
    def sign_csr(
        self, mount: str, issuer: str, role: str, csr: str, common_name: str, ttl: str
    ) -> SignedCert: ...


class IssueVault(IssuerReader, CertIssuer, CsrSigner, Protocol):
    """What issuing needs from Vault: the bundle's issuer PEMs and one sign (or issue) call per user."""


@dataclass(frozen=True)
class ClientFiles:
    key: Path
    cert: Path
    ca: Path


@dataclass(frozen=True)
class IssueResult:
    cluster: str
    user: str
    files: ClientFiles
    serial_number: str
    not_after: datetime
    url: str


@dataclass(frozen=True)
class IssueFailure:
    cluster: str
    user: str
    message: str


def default_out(stack: Stack, cluster: str | None = None) -> Path:
    base = Path("certs") / stack.name
    return base / cluster if cluster else base


def client_files(out_dir: Path, user: str) -> ClientFiles:
    out = out_dir.absolute()
    return ClientFiles(
        key=out / f"client.{user}.key", cert=out / f"client.{user}.crt", ca=out / CA_BUNDLE_NAME
    )


def check_user(stack: Stack, cluster: str, user: str) -> Cluster:
    if cluster not in stack.clusters:
        known = ", ".join(stack.clusters) or "none"
        raise IssueError(f"no cluster {cluster!r} in stack {stack.name} (clusters: {known})")
    spec = stack.clusters[cluster]
    if user not in spec.users:
        declared = ", ".join(spec.users) or "none"
        raise IssueError(
            f"user {user!r} is not declared on cluster {cluster} (users: {declared}); "
            "add it to the stack first"
        )
    return spec


def signing_ca(stack: Stack, cluster: str) -> tuple[str, VaultCa]:
    """The first Vault-backed CA in the cluster's list; its current (last) issuer signs."""
    for name, ca in stack.cluster_cas(cluster):
        if isinstance(ca, VaultCa):
            return name, ca
    raise IssueError(f"cluster {cluster} trusts no Vault-backed CA; roachcert can only issue from Vault")


def default_sslrootcert(environ: Mapping[str, str]) -> Path:
    """Where libpq looks by default, and where the Cloud Console's Linux instructions save the cluster CA."""
    return paths.home(environ) / ".postgresql" / "root.crt"


def sslrootcert_for(cluster: Cluster, environ: Mapping[str, str], override: Path | None = None) -> Path:
    chosen = override or cluster.server_ca or default_sslrootcert(environ)
    return paths.expand_user(chosen, environ).absolute()


def issue_client(
    stack: Stack,
    cluster: str,
    user: str,
    out_dir: Path,
    vault: IssueVault,
    *,
    environ: Mapping[str, str],
    force: bool = False,
    bundle: ClusterBundle | None = None,
    sslrootcert: Path | None = None,
    locked: bool = False,
    lock_timeout: float = DEFAULT_TIMEOUT,
    note: Note = ignore_note,
    vault_keygen: bool = False,
    layout: Layout = Layout.libpq,
) -> IssueResult:
    """Issue USER's certificate for CLUSTER and write key, cert and the cluster's CA bundle, holding the
    folder's lock (`locked`: the caller holds it already)."""
    if not locked:
        with pairs.folder_session(out_dir, lock_timeout, note):
            return issue_client(
                stack,
                cluster,
                user,
                out_dir,
                vault,
                environ=environ,
                force=force,
                bundle=bundle,
                sslrootcert=sslrootcert,
                locked=True,
                note=note,
                vault_keygen=vault_keygen,
                layout=layout,
            )
    spec = check_user(stack, cluster, user)
    _ca_name, ca = signing_ca(stack, cluster)
    paths = client_files(out_dir, user)
    refuse_existing_key(out_dir, user, force)
    if bundle is None:
        bundle = cluster_bundles(stack, vault, clusters=[cluster])[cluster]
    event: inventory.Delivery | None = None
    try:
        with pairs.staged_pair(out_dir, user) as staged:
            key, private, certificate, serial, info = _obtain(vault, ca, user, paths, staged, vault_keygen)
            signer = inventory.signing_issuer(certificate, bundle.certs)
            event = inventory.Delivery(
                cluster=cluster,
                user=user,
                folder=str(out_dir.absolute()),
                at=datetime.now(UTC),
                delivered=True,
                serial=serial,
                mount=ca.mount,
                issuer=f"{ca.mount}/{ca.current_issuer}",
                issuer_sha256=signer.sha256 if signer else "",
                not_before=info.not_before,
                not_after=info.not_after,
            )
            members = [key, pairs.Member(paths.cert.name, "client.crt", certificate)]
            members += layouts.extra_members(layout, user, lambda: keys.key_pkcs8_der(private))
            for member in members[1:]:
                staged.write(member)
            staged.switch(members)
        _write_bundle(paths.ca, bundle.pem)
        root = sslrootcert_for(spec, environ, sslrootcert)
        if not layouts.place_server_ca(layout, out_dir, root):
            note(
                f"note: {root} does not exist: put the cluster's CA certificate in {layouts.server_ca_path(out_dir)}"
            )
    except RoachcertError as exc:
        # Vault may have stored it, the user never got it: they still count on whatever they had
        # before, and `rotate status` says why.
        failed = event or inventory.Delivery(
            cluster=cluster, user=user, folder=str(out_dir.absolute()), at=datetime.now(UTC), delivered=False
        )
        with contextlib.suppress(OSError, files.FilesError):  # the first error is the one to tell
            inventory.record(
                environ, stack.name, replace(failed, at=datetime.now(UTC), delivered=False, error=str(exc))
            )
        raise
    with interrupts.deferred():
        inventory.record(environ, stack.name, event)
    return IssueResult(
        cluster=cluster,
        user=user,
        files=paths,
        serial_number=serial,
        not_after=info.not_after,
        url=layouts.url(layout, spec, user, out_dir, sslrootcert_for(spec, environ, sslrootcert)),
    )


def refuse_existing_key(out_dir: Path, user: str, force: bool) -> None:
    """IssueError when a key is there to keep (checked again under the folder's lock)."""
    paths = client_files(out_dir, user)
    if not force and _holds_key(paths, user):
        raise IssueError(f"{paths.key} exists; pass --force to replace it")


def _obtain(
    vault: IssueVault, ca: VaultCa, user: str, paths: ClientFiles, staged: pairs.Staged, vault_keygen: bool
) -> tuple[pairs.Member, keys.PrivateKey, str, str, CertInfo]:
    """The key (written into the staged generation), its certificate PEM, serial and facts. Made here by
    default: the key file exists, 0600, before Vault is asked anything, and only the CSR leaves."""
    ttl = ca.role.max_ttl.vault
    if vault_keygen:
        issued = vault.issue_cert(ca.mount, ca.current_issuer, ca.role.name, user, ttl)
        info = _check_cn(issued.certificate, user)
        key = pairs.Member(paths.key.name, "client.key", issued.private_key, secret=True)
        staged.write(key)
        return key, keys.load_key(issued.private_key), issued.certificate, issued.serial_number, info
    private = keys.new_key(ca.role.key_type, ca.role.bits)
    key = pairs.Member(paths.key.name, "client.key", keys.key_pem(private), secret=True)
    staged.write(key)
    csr = keys.csr_pem(private, user)
    signed = vault.sign_csr(ca.mount, ca.current_issuer, ca.role.name, csr, user, ttl)
    info = _check_cn(signed.certificate, user)
    if not keys.certifies(signed.certificate, private):
        raise IssueError(f"Vault signed a certificate for another public key than {user}'s; nothing written")
    return key, private, signed.certificate, signed.serial_number, info


def check_key_mode(key: Path) -> None:
    """A key others can read was not written by roachcert: someone's to look at, not to overwrite."""
    try:
        mode = key.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        raise IssueError(
            f"{key} has mode {stat.S_IMODE(mode):04o}, wider than 0600: not replacing it; "
            f"check who could read it, then chmod 600 or remove it"
        )


def _check_cn(certificate: str, user: str) -> CertInfo:
    """The certificate's facts (parsed once per issue), when it names `user`."""
    info = cert_info(certificate)
    if info.subject_cn != user:
        raise IssueError(
            f"Vault issued a certificate for CN={info.subject_cn!r}, not {user!r}; nothing written"
        )
    return info


def _holds_key(paths: ClientFiles, user: str) -> bool:
    """A key is there to keep: any file or link at the key's name, except our own link to a pair that
    is gone (its folder removed by hand): nothing would be overwritten."""
    if pairs.is_our_link(paths.key, user, "client.key") and not paths.key.exists():
        return False
    return paths.key.exists() or paths.key.is_symlink()


def _write_bundle(path: Path, pem: str) -> None:
    """The cluster's CA bundle, shared by its users' files: written only when it differs."""
    try:
        if path.read_text(encoding="utf-8") == pem:
            return
    except (OSError, UnicodeDecodeError):
        pass
    files.write_atomic(path, pem)


def all_users(stack: Stack) -> list[tuple[str, str]]:
    return [(cluster, user) for cluster, spec in stack.clusters.items() for user in spec.users]


def issue_all(
    stack: Stack,
    out_root: Path,
    vault: IssueVault,
    *,
    environ: Mapping[str, str],
    force: bool = False,
    jobs: int = DEFAULT_JOBS,
    on_done: Callable[[IssueResult | IssueFailure], None] | None = None,
    lock_timeout: float = DEFAULT_TIMEOUT,
    note: Note = ignore_note,
    vault_keygen: bool = False,
    layout: Layout = Layout.libpq,
    sslrootcerts: Mapping[str, Path] | None = None,
) -> list[IssueResult | IssueFailure]:
    """Every declared user of every cluster, `jobs` at a time; one user's failure does not stop the rest.
    Files go to OUT/CLUSTER/ so users of different clusters never collide."""
    wanted = all_users(stack)
    issuing = [name for name in stack.clusters if any(c == name for c, _ in wanted)]
    bundles = cluster_bundles(stack, vault, clusters=issuing)  # one read per issuer, before any issue

    def one(pair: tuple[str, str]) -> IssueResult | IssueFailure:
        cluster, user = pair
        if interrupts.cancelled():  # a signal came: start no new user, finish the ones under way
            return IssueFailure(cluster, user, "not issued: interrupted")
        try:
            outcome: IssueResult | IssueFailure = issue_client(
                stack,
                cluster,
                user,
                out_root / cluster,
                vault,
                environ=environ,
                force=force,
                bundle=bundles[cluster],
                sslrootcert=(sslrootcerts or {}).get(cluster),
                locked=True,
                vault_keygen=vault_keygen,
                layout=layout,
            )
        except RoachcertError as exc:
            outcome = IssueFailure(cluster, user, str(exc))  # masked where it is shown
        if on_done is not None:
            on_done(outcome)
        return outcome

    # Every cluster folder's lock first (in one order, so two runs cannot each hold one and wait).
    with contextlib.ExitStack() as held:
        for cluster in sorted(issuing):
            held.enter_context(pairs.folder_session(out_root / cluster, lock_timeout, note))
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="issue") as pool:
            return list(pool.map(one, wanted))
