"""Rotation, pure: issued records from PEMs, dropped issuers, the early-drop guard, the phases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certs_helper import make_ca, make_leaf
from roachcert.pem import build_bundle, cert_info
from roachcert.spec import Stack
from roachcert.vault.ca_ensure import IssuerState
from roachcert.vault.rotation import (
    IssuedRecord,
    dropped_issuers,
    drops_by_cluster,
    guard_dropped_issuers,
    records_from_pems,
    rotation_status,
)

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SHA = {"a": "a" * 64, "b": "b" * 64, "x": "c" * 64}


def make_stack(issuers: list[str], frogs_ca: Any = "client-ca") -> Stack:
    return Stack.model_validate(
        {
            "version": 1,
            "cas": {
                "client-ca": {"mount": "m1", "common_name": "Client CA", "issuers": issuers},
                "other-ca": {"mount": "m2", "common_name": "Other CA", "issuers": ["x"]},
            },
            "clusters": {
                "frogs": {
                    "id": "2186fbdb-598c-4797-a463-aaaee865903e",
                    "ca": frogs_ca,
                    "host": "frogs.example.test",
                    "users": ["root", "app"],
                },
                "dingos": {
                    "id": "5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10",
                    "ca": "client-ca",
                    "host": "dingos.example.test",
                    "users": ["app"],
                },
            },
        }
    )


def rec(
    user: str, issuer: str, issued_hours_ago: float, ttl_hours: float = 48, mount: str = "m1"
) -> IssuedRecord:
    start = NOW - timedelta(hours=issued_hours_ago)
    return IssuedRecord(
        mount=mount,
        common_name=user,
        serial=f"{user}-{issuer}-{issued_hours_ago}",
        issuer_id=f"id-{issuer}",
        issuer_name=issuer,
        issuer_sha256=SHA[issuer],
        not_before=start,
        not_after=start + timedelta(hours=ttl_hours),
    )


DROP_A = {"frogs": (SHA["a"],), "dingos": (SHA["a"],)}


def test_refused_while_a_users_newest_cert_comes_from_the_dropped_issuer() -> None:
    issued = [rec("root", "a", 10), rec("app", "a", 20), rec("app", "b", 2)]
    verdict = guard_dropped_issuers(make_stack(["b"]), DROP_A, issued, NOW)
    assert not verdict.allowed
    assert [(b.cluster, b.user, b.issuer) for b in verdict.blocked] == [("frogs", "root", "m1/a")]
    assert verdict.safe_after == NOW + timedelta(hours=38)
    assert "frogs/root" in verdict.message
    assert "2026-08-03 02:00 UTC" in verdict.message
    assert "--allow-early-rotation" in verdict.message
    # one lead line, then one line per blocked user and cluster
    assert verdict.message.splitlines()[1:] == [
        "  frogs/root: newest certificate root-a-10 (stored in Vault, no delivery recorded) comes from m1/a, "
        "valid until 2026-08-03 02:00 UTC"
    ]


def test_names_every_user_and_the_latest_expiry() -> None:
    issued = [rec("root", "a", 10), rec("app", "a", 1)]
    verdict = guard_dropped_issuers(make_stack(["b"]), DROP_A, issued, NOW)
    assert [(b.cluster, b.user) for b in verdict.blocked] == [
        ("frogs", "root"),
        ("frogs", "app"),
        ("dingos", "app"),
    ]
    assert verdict.safe_after == NOW + timedelta(hours=47)


def test_allowed_after_reissue_or_expiry() -> None:
    reissued = [rec("root", "a", 10), rec("root", "b", 1), rec("app", "a", 20), rec("app", "b", 1)]
    assert guard_dropped_issuers(make_stack(["b"]), DROP_A, reissued, NOW).allowed
    expired = [rec("root", "a", 50), rec("app", "a", 49)]
    assert guard_dropped_issuers(make_stack(["b"]), DROP_A, expired, NOW).allowed
    assert guard_dropped_issuers(make_stack(["b"]), {}, [rec("root", "a", 1)], NOW).allowed


def test_drops_may_name_issuers() -> None:
    issued = [rec("root", "a", 1)]
    assert not guard_dropped_issuers(make_stack(["b"]), {"frogs": ("a",)}, issued, NOW).allowed
    assert not guard_dropped_issuers(make_stack(["b"]), {"frogs": ("m1/a",)}, issued, NOW).allowed
    assert guard_dropped_issuers(make_stack(["b"]), {"frogs": ("m2/a",)}, issued, NOW).allowed


def test_swapping_a_cluster_to_another_ca() -> None:
    stack = make_stack(["b"], frogs_ca="client-ca")  # frogs moved from other-ca (m2) to client-ca
    drops = {"frogs": (SHA["x"],)}
    before = [rec("root", "x", 5, mount="m2")]
    verdict = guard_dropped_issuers(stack, drops, before, NOW)
    assert [(b.user, b.issuer) for b in verdict.blocked] == [("root", "m2/x")]
    after = [*before, rec("root", "b", 1)]  # re-issued from the CA frogs trusts now
    assert guard_dropped_issuers(stack, drops, after, NOW).allowed


def test_removed_clusters_and_users_without_certs_are_not_held() -> None:
    verdict = guard_dropped_issuers(make_stack(["b"]), {"gone": (SHA["a"],)}, [rec("root", "a", 1)], NOW)
    assert verdict.allowed
    assert guard_dropped_issuers(make_stack(["b"]), DROP_A, [], NOW).allowed


def test_dropped_issuers_between_bundles() -> None:
    a, b, c = (cert_info(make_ca(cn)[0]) for cn in ("A", "B", "C"))
    old, new = build_bundle([a, b]), build_bundle([b, c])
    assert [i.subject_cn for i in dropped_issuers(old, new)] == ["A"]
    assert dropped_issuers(new, build_bundle([c, b])) == ()
    assert [i.subject_cn for i in dropped_issuers(old, None)] == ["A", "B"]
    assert dropped_issuers(None, new) == ()
    assert drops_by_cluster({"frogs": old, "dingos": new}, {"frogs": new, "dingos": new}) == {
        "frogs": (a.sha256,)
    }


def test_records_from_pems_tell_issuers_with_one_subject_apart() -> None:
    first, second = make_ca("Client CA"), make_ca("Client CA")  # a rotation: the same CN twice
    issuers = [IssuerState("id-1", "ca-a", first[0]), IssuerState("id-2", "ca-b", second[0])]
    leaf_a, leaf_b = make_leaf("root", *first)[0], make_leaf("app", *second)[0]
    stranger = make_leaf("app", *make_ca("Client CA"))[0]
    records = records_from_pems(
        "m1", [("01-aa", first[0]), ("02-bb", leaf_a), ("03-cc", leaf_b), ("04-dd", stranger)], issuers
    )
    assert [(r.common_name, r.issuer_name, r.serial) for r in records] == [
        ("root", "ca-a", "02:bb"),
        ("app", "ca-b", "03:cc"),
        ("app", "", "04:dd"),
    ]
    assert records[0].issuer_sha256 == cert_info(first[0]).sha256
    assert records[0].not_after == cert_info(leaf_a).not_after


# -- phases ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def states() -> dict[str, IssuerState]:
    return {name: IssuerState(f"id-{name}", name, make_ca("Client CA")[0]) for name in ("a", "b")}


def phase(issuers: list[str], in_vault: list[IssuerState], default: str, issued: list[IssuedRecord]) -> Any:
    return rotation_status(make_stack(issuers), "client-ca", in_vault, f"id-{default}", issued, NOW)


def test_phases_through_a_rotation(states: dict[str, IssuerState]) -> None:
    a, b = states["a"], states["b"]
    single = phase(["a"], [a], "a", [rec("root", "a", 1), rec("app", "a", 1)])
    assert single.phase == "single_issuer"
    assert single.clusters == ("frogs", "dingos")
    assert phase(["a", "b"], [a], "a", []).phase == "not_ensured"
    assert phase(["a", "b"], [a, b], "a", []).phase == "rolling_out"  # ensure not finished

    rolling = phase(["a", "b"], [a, b], "b", [rec("root", "a", 1), rec("app", "a", 1)])
    assert rolling.phase == "rolling_out"
    assert "bundles growing" in rolling.summary
    assert rolling.pending_users == ("app", "root")

    half = phase(["a", "b"], [a, b], "b", [rec("root", "a", 2), rec("app", "a", 2), rec("app", "b", 1)])
    assert half.phase == "reissue_pending"
    assert half.summary == "reissue pending: 1 user(s)' newest certificate from an old issuer (root)"

    done = [rec("root", "a", 2), rec("app", "a", 2), rec("root", "b", 1), rec("app", "b", 1)]
    ready = phase(["a", "b"], [a, b], "b", done)
    assert ready.phase == "ready_to_drop"
    assert ready.pending_users == ()
    assert "ready to drop old issuer a" in ready.summary

    after = phase(["b"], [a, b], "b", done)
    assert after.phase == "old_issuer_in_vault"
    assert [(v.name, v.declared, v.default) for v in after.issuers] == [
        ("b", True, True),
        ("a", False, False),
    ]
    assert after.summary.startswith("old issuer a still in Vault but not declared")
