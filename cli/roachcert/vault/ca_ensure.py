"""`ca ensure`: compare what Vault holds for each Vault-backed CA with the stack, then make it so.

`plan_ca` is pure (observed state + spec → actions, warnings, problems); `observe` and `apply` go
through the narrow `PkiAdmin` interface that the Vault adapter implements and unit tests fake.
What cannot be fixed without harm (an issuer with another subject, a CA shorter than asked, an
undeclared issuer) is reported, never "fixed" by adding issuers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from roachcert.errors import PemError
from roachcert.pem import cert_info
from roachcert.spec import Stack, VaultCa
from roachcert.spec.durations import Duration, parse_duration

# Vault backdates notBefore by 30 s; allow for that and for clock skew.
LIFETIME_SLACK = timedelta(minutes=5)

ActionKind = Literal[
    "enable_mount", "tune_mount", "generate_root", "rotate_root", "set_default", "write_role"
]


@dataclass(frozen=True)
class MountState:
    type: str
    max_lease_ttl: int  # seconds, as in effect (the system default when the mount sets none)


@dataclass(frozen=True)
class IssuerState:
    issuer_id: str
    name: str
    pem: str


@dataclass(frozen=True)
class Observed:
    mount: MountState | None
    issuers: tuple[IssuerState, ...] = ()
    default_issuer_id: str | None = None
    role: Mapping[str, Any] | None = None


class PkiAdmin(Protocol):
    """What `ca ensure` needs from Vault (the adapter implements it; unit tests fake it)."""

    def read_mount(self, mount: str) -> MountState | None: ...
    def list_issuers(self, mount: str) -> tuple[IssuerState, ...]: ...
    def default_issuer_id(self, mount: str) -> str | None: ...
    def read_role(self, mount: str, role: str) -> Mapping[str, Any] | None: ...
    def enable_pki(self, mount: str, max_lease_ttl: str) -> None: ...
    def tune_max_lease_ttl(self, mount: str, max_lease_ttl: str) -> None: ...
    def generate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str: ...
    def rotate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str: ...
    def set_default_issuer(self, mount: str, issuer: str) -> None: ...
    def write_role(self, mount: str, role: str, params: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    description: str
    issuer: str = ""
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class CaPlan:
    ca: str
    mount: str
    spec: VaultCa
    actions: tuple[Action, ...]
    warnings: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # things that differ and are left alone: exit 1


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def role_params(ca: VaultCa) -> dict[str, Any]:
    """The role as the stack wants it: client-only certificates, any CN (the SQL user), no SANs. A CSR
    made here gives only its public key: the CN comes from the request, its SANs are ignored."""
    return {
        "client_flag": True,
        "server_flag": False,
        "allow_any_name": True,
        "enforce_hostnames": False,
        "allow_ip_sans": False,
        "allow_localhost": False,
        "use_csr_common_name": False,
        "use_csr_sans": False,
        "max_ttl": ca.role.max_ttl.vault,
        "key_type": ca.role.key_type,
        "key_bits": ca.role.bits,
    }


def observe(admin: PkiAdmin, ca: VaultCa) -> Observed:
    mount = admin.read_mount(ca.mount)
    if mount is None or mount.type != "pki":
        return Observed(mount=mount)
    return Observed(
        mount=mount,
        issuers=admin.list_issuers(ca.mount),
        default_issuer_id=admin.default_issuer_id(ca.mount),
        role=admin.read_role(ca.mount, ca.role.name),
    )


def plan_ca(name: str, ca: VaultCa, seen: Observed) -> CaPlan:
    actions: list[Action] = []
    warnings: list[str] = []
    problems: list[str] = []
    ttl = ca.ttl.vault
    if seen.mount is None:
        actions.append(Action("enable_mount", f"enable a PKI mount at {ca.mount} with max lease TTL {ttl}"))
    elif seen.mount.type != "pki":
        problems.append(
            f"{name}: mount {ca.mount} is a {seen.mount.type!r} engine, not pki: choose another mount"
        )
        return CaPlan(name, ca.mount, ca, (), (), tuple(problems))
    elif seen.mount.max_lease_ttl < ca.ttl.seconds:
        have = Duration(seen.mount.max_lease_ttl, f"{seen.mount.max_lease_ttl}s").vault
        actions.append(
            Action("tune_mount", f"raise {ca.mount}'s max lease TTL from {have} to {ttl} (before any CA)")
        )

    by_name = {issuer.name: issuer for issuer in seen.issuers if issuer.name}
    default_after = seen.default_issuer_id and next(
        (i.name or i.issuer_id for i in seen.issuers if i.issuer_id == seen.default_issuer_id), None
    )
    mount_empty = not seen.issuers
    for index, issuer in enumerate(ca.issuers):
        current = index == len(ca.issuers) - 1
        if issuer in by_name:
            _check_issuer(name, ca, by_name[issuer], current, warnings, problems)
            continue
        if mount_empty:
            actions.append(
                Action(
                    "generate_root",
                    f"generate root issuer {issuer} (key stays in Vault, CN={ca.common_name}, ttl {ttl})",
                    issuer,
                )
            )
            default_after, mount_empty = issuer, False
        else:
            actions.append(
                Action(
                    "rotate_root",
                    f"add issuer {issuer} by rotation (key stays in Vault, CN={ca.common_name}, ttl {ttl})",
                    issuer,
                )
            )
    for state in seen.issuers:
        if state.name not in ca.issuers:
            label = state.name or f"{state.issuer_id} (unnamed)"
            warnings.append(
                f"{name}: issuer {label} in {ca.mount} is not declared; left alone, and no cluster "
                "trusts it through this stack"
            )
    if default_after != ca.current_issuer:
        actions.append(
            Action("set_default", f"make {ca.current_issuer} the default issuer", ca.current_issuer)
        )

    want = role_params(ca)
    if seen.role is None:
        actions.append(
            Action(
                "write_role",
                f"create role {ca.role.name} (client certificates only, max_ttl "
                f"{ca.role.max_ttl.vault}, {ca.role.key_type} {ca.role.bits})",
                params=_items(want),
            )
        )
    else:
        diffs = _role_diffs(want, seen.role)
        if diffs:
            actions.append(
                Action("write_role", f"update role {ca.role.name}: {', '.join(diffs)}", params=_items(want))
            )
    if ca.role.max_ttl.seconds > ca.ttl.seconds:
        warnings.append(f"{name}: role max_ttl {ca.role.max_ttl} is longer than the CA's ttl {ca.ttl}")
    return CaPlan(name, ca.mount, ca, tuple(actions), tuple(warnings), tuple(problems))


def _items(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(params.items())


def _check_issuer(
    name: str, ca: VaultCa, issuer: IssuerState, current: bool, warnings: list[str], problems: list[str]
) -> None:
    """An existing declared issuer: its subject and lifetime. Only the current (last) one must match;
    an older one kept for trust during a rotation may carry an earlier common_name or ttl."""
    out = problems if current else warnings
    role = "the current issuer" if current else "an older issuer"
    try:
        info = cert_info(issuer.pem)
    except PemError as exc:
        out.append(f"{name}: issuer {issuer.name} in {ca.mount} is not a usable certificate: {exc}")
        return
    if info.subject_cn != ca.common_name:
        shown = f"CN={info.subject_cn}" if info.subject_cn else "an empty subject"
        out.append(
            f"{name}: issuer {issuer.name} ({role}) has {shown}, the stack says CN={ca.common_name}: "
            "left alone; declare a new issuer to rotate, or change common_name back"
        )
    for problem in lifetime_problems(name, ca, issuer.name, issuer.pem):
        out.append(f"{problem} ({role})")


def lifetime_problems(name: str, ca: VaultCa, issuer: str, pem: str) -> list[str]:
    """Trap 1: Vault caps a CA at the mount's max TTL with only a warning; check the notAfter."""
    info = cert_info(pem)
    lifetime = info.not_after - info.not_before
    if lifetime + LIFETIME_SLACK >= ca.ttl.delta:
        return []
    hours = int(lifetime.total_seconds() // 3600)
    return [
        f"{name}: issuer {issuer} lives {hours}h (until {info.not_after:%Y-%m-%d %H:%M} UTC), shorter than "
        f"ttl {ca.ttl}: it was capped; declare a new issuer to rotate, or lower ttl"
    ]


def _role_diffs(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    diffs = []
    for key, value in want.items():
        current = have.get(key)
        if key == "max_ttl":
            value, current = _seconds(value), _seconds(current)
        if current != value:
            diffs.append(f"{key} {_show(current)} → {_show(value)}")
    return diffs


def _seconds(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value).seconds
        except ValueError:
            pass
        # Vault's seconds; a number of thousands of digits (int() refuses it) is no TTL Vault answers.
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None
    return None


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def plan_stack(stack: Stack, admin: PkiAdmin) -> list[CaPlan]:
    return [plan_ca(name, ca, observe(admin, ca)) for name, ca in stack.vault_cas().items()]


def apply(plan: CaPlan, admin: PkiAdmin) -> ApplyResult:
    """Carry out a plan's actions in order: the mount's TTL is raised before any CA is generated."""
    result = ApplyResult()
    ca, mount, ttl = plan.spec, plan.mount, plan.spec.ttl.vault
    for action in plan.actions:
        if action.kind == "enable_mount":
            admin.enable_pki(mount, ttl)
        elif action.kind == "tune_mount":
            admin.tune_max_lease_ttl(mount, ttl)
        elif action.kind in ("generate_root", "rotate_root"):
            make = admin.generate_root if action.kind == "generate_root" else admin.rotate_root
            pem = make(mount, action.issuer, ca.common_name, ttl)
            result.problems.extend(lifetime_problems(plan.ca, ca, action.issuer, pem))
        elif action.kind == "set_default":
            admin.set_default_issuer(mount, action.issuer)
        elif action.kind == "write_role":
            admin.write_role(mount, ca.role.name, dict(action.params))
        result.done.append(action.description)
    return result
