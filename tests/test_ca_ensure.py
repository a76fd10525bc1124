"""`ca ensure` planning and applying, with a fake Vault behind the `PkiAdmin` interface."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certs_helper import make_ca
from roachcert.spec import Stack, VaultCa
from roachcert.spec.durations import parse_duration
from roachcert.vault.ca_ensure import (
    IssuerState,
    MountState,
    Observed,
    apply,
    observe,
    plan_ca,
    plan_stack,
    role_params,
)

CN = "Test Co client CA"
SYSTEM_MAX = 768 * 3600


def vault_ca(*issuers: str, ttl: str = "8760h", **role: Any) -> VaultCa:
    return VaultCa.model_validate(
        {
            "mount": "pki_client",
            "common_name": CN,
            "ttl": ttl,
            "issuers": list(issuers),
            "role": {"name": "client", "max_ttl": "48h", "key_type": "ec", **role},
        }
    )


def ca_pem(cn: str = CN, hours: int = 8760) -> str:
    start = datetime.now(UTC) - timedelta(seconds=30)
    end = start + timedelta(hours=hours, seconds=30)
    return make_ca(cn or "unused", not_before=start, not_after=end, subject_empty=not cn)[0]


class FakePki:
    """Vault's PKI behaviour as far as `ca ensure` sees it, trap 1 (the silent cap) included."""

    def __init__(self) -> None:
        self.mounts: dict[str, MountState] = {}
        self.issuers: dict[str, list[IssuerState]] = {}
        self.default: dict[str, str] = {}
        self.roles: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []

    def read_mount(self, mount: str) -> MountState | None:
        return self.mounts.get(mount)

    def list_issuers(self, mount: str) -> tuple[IssuerState, ...]:
        return tuple(self.issuers.get(mount, []))

    def default_issuer_id(self, mount: str) -> str | None:
        return self.default.get(mount)

    def read_role(self, mount: str, role: str) -> Mapping[str, Any] | None:
        return self.roles.get((mount, role))

    def enable_pki(self, mount: str, max_lease_ttl: str) -> None:
        self.calls.append(f"enable {mount} {max_lease_ttl}")
        self.mounts[mount] = MountState("pki", parse_duration(max_lease_ttl).seconds)

    def tune_max_lease_ttl(self, mount: str, max_lease_ttl: str) -> None:
        self.calls.append(f"tune {mount} {max_lease_ttl}")
        self.mounts[mount] = MountState("pki", parse_duration(max_lease_ttl).seconds)

    def _add(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        capped = min(parse_duration(ttl).seconds, self.mounts[mount].max_lease_ttl)
        pem = ca_pem(common_name, capped // 3600)
        state = IssuerState(str(uuid.uuid4()), issuer, pem)
        self.issuers.setdefault(mount, []).append(state)
        return pem

    def generate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        self.calls.append(f"generate {issuer}")
        pem = self._add(mount, issuer, common_name, ttl)
        self.default.setdefault(mount, self.issuers[mount][-1].issuer_id)
        return pem

    def rotate_root(self, mount: str, issuer: str, common_name: str, ttl: str) -> str:
        self.calls.append(f"rotate {issuer}")
        return self._add(mount, issuer, common_name, ttl)

    def set_default_issuer(self, mount: str, issuer: str) -> None:
        self.calls.append(f"default {issuer}")
        self.default[mount] = next(i.issuer_id for i in self.issuers[mount] if i.name == issuer)

    def write_role(self, mount: str, role: str, params: Mapping[str, Any]) -> None:
        self.calls.append(f"role {role}")
        stored = dict(params)
        stored["max_ttl"] = parse_duration(stored["max_ttl"]).seconds
        self.roles[(mount, role)] = stored


def ensure(fake: FakePki, ca: VaultCa) -> tuple[list[str], list[str], list[str]]:
    plan = plan_ca("client-ca", ca, observe(fake, ca))
    result = apply(plan, fake)
    return result.done, list(plan.warnings), list(plan.problems) + result.problems


def test_empty_vault_gets_mount_then_issuers_then_default_then_role() -> None:
    fake = FakePki()
    done, warnings, problems = ensure(fake, vault_ca("a", "b", "c"))
    assert fake.calls == [
        "enable pki_client 8760h",
        "generate a",
        "rotate b",
        "rotate c",
        "default c",
        "role client",
    ]
    assert len(done) == 6
    assert (warnings, problems) == ([], [])


def test_second_run_changes_nothing() -> None:
    fake = FakePki()
    ca = vault_ca("a", "b")
    ensure(fake, ca)
    fake.calls.clear()
    plan = plan_ca("client-ca", ca, observe(fake, ca))
    assert plan.actions == ()
    assert (plan.warnings, plan.problems) == ((), ())


def test_single_issuer_needs_no_default_call() -> None:
    fake = FakePki()
    ensure(fake, vault_ca("a"))
    assert "default a" not in fake.calls


def test_low_mount_ttl_is_tuned_before_any_ca() -> None:
    fake = FakePki()
    fake.mounts["pki_client"] = MountState("pki", SYSTEM_MAX)
    _, _, problems = ensure(fake, vault_ca("a"))
    assert fake.calls[:2] == ["tune pki_client 8760h", "generate a"]
    assert problems == []


def test_capped_ca_is_a_problem_not_fixed_by_adding_issuers() -> None:
    fake = FakePki()
    fake.mounts["pki_client"] = MountState("pki", SYSTEM_MAX)
    fake.issuers["pki_client"] = [IssuerState("id-a", "a", ca_pem(hours=768))]
    fake.default["pki_client"] = "id-a"
    plan = plan_ca("client-ca", vault_ca("a"), observe(fake, vault_ca("a")))
    assert [a.kind for a in plan.actions] == ["tune_mount", "write_role"]
    assert len(plan.problems) == 1
    assert "lives 768h" in plan.problems[0]
    assert "shorter than ttl 8760h" in plan.problems[0]


def test_apply_checks_the_new_ca_lifetime() -> None:
    """If Vault still caps the CA (a system limit), the result says so."""
    fake = FakePki()
    ca = vault_ca("a")
    plan = plan_ca("client-ca", ca, Observed(mount=MountState("pki", 10**9)))
    fake.mounts["pki_client"] = MountState("pki", SYSTEM_MAX)  # the tune "did not take"
    result = apply(plan, fake)
    assert any("lives 768h" in p for p in result.problems)


def test_current_issuer_with_another_subject_is_a_problem() -> None:
    fake = FakePki()
    fake.mounts["pki_client"] = MountState("pki", 8760 * 3600)
    fake.issuers["pki_client"] = [IssuerState("id-a", "a", ca_pem("Someone else"))]
    fake.default["pki_client"] = "id-a"
    plan = plan_ca("client-ca", vault_ca("a"), observe(fake, vault_ca("a")))
    assert [a.kind for a in plan.actions] == ["write_role"]
    assert plan.problems
    assert "CN=Someone else" in plan.problems[0]


def test_older_issuer_with_earlier_subject_is_only_a_warning() -> None:
    fake = FakePki()
    fake.mounts["pki_client"] = MountState("pki", 8760 * 3600)
    fake.issuers["pki_client"] = [IssuerState("id-a", "a", ca_pem("Old name"))]
    fake.default["pki_client"] = "id-a"
    plan = plan_ca("client-ca", vault_ca("a", "b"), observe(fake, vault_ca("a", "b")))
    assert [a.kind for a in plan.actions] == ["rotate_root", "set_default", "write_role"]
    assert plan.problems == ()
    assert any("CN=Old name" in w for w in plan.warnings)


def test_undeclared_issuer_is_reported_and_left_alone() -> None:
    fake = FakePki()
    ca = vault_ca("a")
    ensure(fake, ca)
    fake.generate_root("pki_client", "", "", "8760h")  # what re-running the product doc's command does
    fake.calls.clear()
    plan = plan_ca("client-ca", ca, observe(fake, ca))
    assert plan.actions == ()
    assert len(plan.warnings) == 1
    assert "(unnamed)" in plan.warnings[0]
    assert "not declared" in plan.warnings[0]


def test_default_issuer_follows_the_last_declared() -> None:
    fake = FakePki()
    ensure(fake, vault_ca("a", "b"))
    fake.set_default_issuer("pki_client", "a")
    plan = plan_ca("client-ca", vault_ca("a", "b"), observe(fake, vault_ca("a", "b")))
    assert [(a.kind, a.issuer) for a in plan.actions] == [("set_default", "b")]


def test_role_drift_is_rewritten_with_the_differences_named() -> None:
    fake = FakePki()
    ca = vault_ca("a")
    ensure(fake, ca)
    fake.roles[("pki_client", "client")]["server_flag"] = True  # Vault's default: trap 3
    fake.roles[("pki_client", "client")]["max_ttl"] = 768 * 3600
    plan = plan_ca("client-ca", ca, observe(fake, ca))
    [action] = plan.actions
    assert action.kind == "write_role"
    assert "server_flag true → false" in action.description
    assert "max_ttl 2764800 → 172800" in action.description
    assert dict(action.params) == role_params(ca)


def test_role_params_are_client_only() -> None:
    params = role_params(vault_ca("a", key_type="rsa", key_bits=3072))
    assert params == {
        "client_flag": True,
        "server_flag": False,
        "allow_any_name": True,
        "enforce_hostnames": False,
        "allow_ip_sans": False,
        "allow_localhost": False,
        "use_csr_common_name": False,
        "use_csr_sans": False,
        "max_ttl": "48h",
        "key_type": "rsa",
        "key_bits": 3072,
    }


def test_mount_of_another_type_is_a_problem_and_nothing_is_done() -> None:
    fake = FakePki()
    fake.mounts["pki_client"] = MountState("kv", 0)
    plan = plan_ca("client-ca", vault_ca("a"), observe(fake, vault_ca("a")))
    assert plan.actions == ()
    assert "'kv' engine" in plan.problems[0]


def test_role_longer_than_ca_warns() -> None:
    plan = plan_ca("client-ca", vault_ca("a", ttl="24h"), Observed(mount=None))
    assert any("longer than the CA's ttl" in w for w in plan.warnings)


def test_plan_stack_covers_only_vault_cas(tmp_path: Any) -> None:
    pem = tmp_path / "legacy.pem"
    pem.write_text(ca_pem("Legacy"))
    stack = Stack.model_validate(
        {
            "version": 1,
            "cas": {"client-ca": vault_ca("a").model_dump(), "legacy": {"pem_file": str(pem)}},
        }
    )
    plans = plan_stack(stack, FakePki())
    assert [p.ca for p in plans] == ["client-ca"]


@pytest.mark.parametrize("issuers", [("a",), ("a", "b", "c")])
def test_check_then_apply_matches_the_plan(issuers: tuple[str, ...]) -> None:
    fake = FakePki()
    ca = vault_ca(*issuers)
    plan = plan_ca("client-ca", ca, observe(fake, ca))
    result = apply(plan, fake)
    assert result.done == [a.description for a in plan.actions]
