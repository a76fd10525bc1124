"""Plan reports for the report tests and goldens, built from certificates that come out byte-identical
on every run: keys derived from fixed integers, fixed serials and dates, deterministic ECDSA (RFC 6979).
Nothing here is key material kept in the repository; it is derived at test time."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs_helper import cert_pem
from roachcert.cloud.reads import CloudRead, pending_message
from roachcert.plan_summary import Action, PlanSummary, ResourceChange
from roachcert.reports.model import StackReport

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ENGINE = "Terraform v1.15.5 (embedded)"
PROVIDER = "~> 1.22"
LOG = "https://github.com/example/platform-db/actions/runs/123456789"

# (seed, CN, not before, not after, source in the stack)
_CAS: dict[str, tuple[int, str, datetime, datetime, str]] = {
    "2025": (
        1,
        "Example Co client CA 2025",
        datetime(2025, 3, 20, tzinfo=UTC),
        datetime(2026, 3, 20, tzinfo=UTC),
        "client-ca/ca-2025",
    ),
    "2026a": (
        2,
        "Example Co client CA 2026a",
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        "client-ca/ca-2026a",
    ),
    "2026b": (
        3,
        "Example Co client CA 2026b",
        datetime(2026, 2, 20, tzinfo=UTC),
        datetime(2027, 2, 20, tzinfo=UTC),
        "client-ca/ca-2026b",
    ),
    "legacy": (
        4,
        "Legacy Partner Root CA",
        datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1, tzinfo=UTC),
        "legacy-ca/legacy-ca.pem",
    ),
    "expired": (
        5,
        "Old Contractor CA",
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
        "contractor-ca/contractor.pem",
    ),
}

CLUSTERS = {
    "flooping-frogs": ("2186fbdb-598c-4797-a463-aaaee865903e", ("root", "app")),
    "bouncing-bears": ("7f3c2a10-1b2d-4e5f-8a9b-0c1d2e3f4a5b", ("app", "reporting")),
    "crafty-cranes": ("c0ffee00-aaaa-4bbb-8ccc-dddddddddddd", ("etl",)),
}
NEW_FROGS_ID = "9d8e7f60-5a4b-4c3d-9e2f-1a0b9c8d7e6f"


@cache
def ca_pem(name: str) -> str:
    seed, cn, start, end, _ = _CAS[name]
    key = ec.derive_private_key(0x5EED_0000 + seed, ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(0x1000 + seed)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return cert_pem(cert)


def bundle(*names: str) -> str:
    return "\n".join(ca_pem(name) for name in names)


def sources() -> dict[str, str]:
    from roachcert.pem import cert_info

    return {cert_info(ca_pem(name)).sha256: entry[4] for name, entry in _CAS.items()}


def change(
    cluster: str, action: Action, old: Iterable[str] = (), new: Iterable[str] = (), **extra: str
) -> ResourceChange:
    cluster_id = CLUSTERS[cluster][0] if cluster in CLUSTERS else _fake_id(cluster)
    old, new = tuple(old), tuple(new)
    return ResourceChange(
        address=f"cockroach_client_ca_cert.{cluster}",
        cluster=cluster,
        action=action,
        old_id=extra.get("old_id", cluster_id) if action != "create" else None,
        new_id=extra.get("new_id", cluster_id) if action != "delete" else None,
        old_pem=bundle(*old) if action != "create" else None,
        new_pem=bundle(*new) if action != "delete" else None,
        status=extra.get("status", "IS_SET") if action != "create" else None,
        reason=extra.get("reason"),
    )


def _fake_id(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


_SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "forget": ".", "no-op": " "}
_VERB = {
    "create": "will be created",
    "update": "will be updated in-place",
    "replace": "must be replaced",
    "delete": "will be destroyed",
    "forget": "will no longer be managed by Terraform",
}


def raw_plan(changes: Iterable[ResourceChange]) -> str:
    """Text shaped like `terraform show` output (PEM text elided to keep the goldens short)."""
    lines = ["Terraform will perform the following actions:", ""]
    counts = {"create": 0, "update": 0, "delete": 0}
    for item in changes:
        if item.action == "no-op":
            continue
        lines.append(f"  # {item.address} {_VERB[item.action]}")
        lines.append(f'  {_SYMBOL[item.action]} resource "cockroach_client_ca_cert" "{item.cluster}" {{')
        if item.old_id != item.new_id and item.old_id and item.new_id:
            lines.append(f'      ~ id            = "{item.old_id}" -> "{item.new_id}" # forces replacement')
        else:
            lines.append(f'        id            = "{item.new_id or item.old_id}"')
        if item.old_pem != item.new_pem:
            lines.append("      ~ x509_pem_cert = (PEM text elided in this fixture)")
        lines.append("    }")
        lines.append("")
        for action in ("create", "delete"):
            if item.action in (action, "replace"):
                counts[action] += 1
        counts["update"] += item.action == "update"
    lines.append(
        f"Plan: {counts['create']} to add, {counts['update']} to change, {counts['delete']} to destroy."
    )
    return "\n".join(lines) + "\n"


def report(
    changes: Iterable[ResourceChange],
    stack: str = "prod",
    *,
    empty_stack: bool = False,
    drift: tuple[str, ...] = (),
    trigger_changes: tuple[str, ...] = (),
    users: Mapping[str, tuple[str, ...]] | None = None,
    raw: str | None = None,
) -> StackReport:
    items = tuple(sorted(changes, key=lambda item: item.cluster))
    summary = PlanSummary(
        changes=items,
        # Fields added later with their default left out, so the goldens' fingerprints stay as they were.
        fingerprint=hashlib.sha256(repr(items).replace(", adopted=False", "").encode()).hexdigest(),
        empty_stack=empty_stack,
        drift=drift,
        trigger_changes=trigger_changes,
        stack=stack,
    )
    known = {name: declared for name, (_, declared) in CLUSTERS.items()}
    return StackReport(
        stack=stack,
        summary=summary,
        now=NOW,
        engine=ENGINE,
        provider_version=PROVIDER,
        raw_plan=raw_plan(items) if raw is None else raw,
        log=LOG,
        sources=sources(),
        users={**known, **(users or {})},
    )


def case_create() -> list[StackReport]:
    return [
        report(
            [
                change("flooping-frogs", "create", new=["2026a"]),
                change("bouncing-bears", "create", new=["2026a", "legacy"]),
            ]
        )
    ]


def case_ca_update() -> list[StackReport]:
    # crafty-cranes moves from the partner's CA to the company CA; bouncing-bears was edited by hand.
    return [
        report(
            [
                change("crafty-cranes", "update", old=["legacy"], new=["2026a"]),
                change("bouncing-bears", "update", old=["2026a", "expired"], new=["2026a", "legacy"]),
                change("flooping-frogs", "no-op", old=["2026a"], new=["2026a"]),
            ],
            drift=("cockroach_client_ca_cert.bouncing-bears",),
        )
    ]


def case_rotation_grow() -> list[StackReport]:
    names = ("flooping-frogs", "bouncing-bears", "crafty-cranes")
    return [report([change(name, "update", old=["2025"], new=["2025", "2026b"]) for name in names])]


def case_rotation_shrink() -> list[StackReport]:
    names = ("flooping-frogs", "bouncing-bears", "crafty-cranes")
    return [report([change(name, "update", old=["2025", "2026b"], new=["2026b"]) for name in names])]


def case_delete() -> list[StackReport]:
    return [
        report(
            [
                change("flooping-frogs", "delete", old=["2026a"]),
                change("bouncing-bears", "no-op", old=["2026a"], new=["2026a"]),
                change("crafty-cranes", "no-op", old=["2026a"], new=["2026a"]),
            ]
        )
    ]


def case_empty_stack() -> list[StackReport]:
    return [report([change(name, "delete", old=["2026a"]) for name in CLUSTERS], empty_stack=True)]


def case_id_change() -> list[StackReport]:
    frogs = change(
        "flooping-frogs",
        "replace",
        old=["2026a"],
        new=["2026a"],
        new_id=NEW_FROGS_ID,
        reason="replace_by_triggers",
    )
    return [
        report(
            [frogs, change("bouncing-bears", "no-op", old=["2026a"], new=["2026a"])],
            trigger_changes=("terraform_data.flooping-frogs_id",),
        )
    ]


def case_no_op() -> list[StackReport]:
    return [
        report(
            [change(name, "no-op", old=["2026a", "2026b"], new=["2026a", "2026b"]) for name in CLUSTERS],
            raw="No changes. Your infrastructure matches the configuration.\n",
        )
    ]


def huge_names(count: int = 1000) -> list[str]:
    return [f"cluster-{number:04d}" for number in range(1, count + 1)]


def case_huge() -> list[StackReport]:
    """1,000 clusters: 985 rotate (same change), 10 join, 5 leave the stack."""
    changes: list[ResourceChange] = []
    for number, name in enumerate(huge_names(), start=1):
        if number <= 5:
            changes.append(change(name, "delete", old=["2026a"]))
        elif number <= 15:
            changes.append(change(name, "create", new=["2026a", "2026b"]))
        else:
            changes.append(change(name, "update", old=["2026a"], new=["2026a", "2026b"]))
    users = {name: ("app",) for name in huge_names()}
    return [report(changes, stack="fleet", users=users)]


def case_failed() -> list[StackReport]:
    error = (
        "terraform plan failed (exit 1):\n"
        "Error: Unable to find authentication token\n\n"
        '  with provider["registry.terraform.io/cockroachdb/cockroach"],\n'
        '  on provider.tf line 3, in provider "cockroach":\n'
        '   3: provider "cockroach" {}\n\n'
        "Set COCKROACH_API_KEY in the environment."
    )
    raw = (
        "Initializing the backend...\nInitializing provider plugins...\n\n" + error.split(":\n", 1)[1] + "\n"
    )
    summary = PlanSummary(error=error, raw=raw, stack="prod")
    return [
        StackReport(
            stack="prod",
            summary=summary,
            now=NOW,
            engine=ENGINE,
            provider_version=PROVIDER,
            raw_plan=raw,
            log=LOG,
            sources=sources(),
        )
    ]


def case_multi_stack() -> list[StackReport]:
    staging = report([change("crafty-cranes", "create", new=["2026b"])], stack="staging")
    return [staging, *case_no_op()]


def case_adopted() -> list[StackReport]:
    # Set by curl before roachcert: crafty-cranes trusts the partner's CA, which the stack does not
    # declare; flooping-frogs already trusts exactly what is declared (imported only).
    return [
        report(
            [
                dataclasses.replace(
                    change("crafty-cranes", "update", old=["legacy"], new=["2026a"]), adopted=True
                ),
                dataclasses.replace(
                    change("flooping-frogs", "no-op", old=["2026a"], new=["2026a"]), adopted=True
                ),
            ]
        )
    ]


def case_cloud_failed() -> list[StackReport]:
    # The Cloud API answered FAILED for one unchanged cluster and the other's update.
    return [
        report(
            [
                change("bouncing-bears", "no-op", old=["2026a"], new=["2026a"], status="FAILED"),
                change("crafty-cranes", "update", old=["legacy"], new=["2026a"], status="FAILED"),
            ]
        )
    ]


def case_cloud_pending() -> list[StackReport]:
    # A change made by hand is still in progress on two clusters: the plan stops instead of guessing.
    reads = [
        CloudRead(name, CLUSTERS[name][0], "PENDING", "") for name in ("bouncing-bears", "flooping-frogs")
    ]
    error = pending_message("prod", reads, 0.0)
    summary = PlanSummary(error=error, raw="", stack="prod")
    return [
        StackReport(
            stack="prod",
            summary=summary,
            now=NOW,
            engine=ENGINE,
            provider_version=PROVIDER,
            raw_plan="",
            log=LOG,
            sources=sources(),
        )
    ]


def case_cloud_changed() -> list[StackReport]:
    # Edited in the Console since the last apply: the plan puts back what the stack declares.
    return [
        report(
            [change("crafty-cranes", "update", old=["legacy"], new=["2026a"], status="IS_SET")],
            drift=("cockroach_client_ca_cert.crafty-cranes",),
        )
    ]


def case_cloud_not_read() -> list[StackReport]:
    # Planned with --no-cloud-read: a plain create that may be a POST over a CA set by hand.
    return [dataclasses.replace(case_create()[0], cloud_read=False)]


def case_hand_set() -> list[StackReport]:
    # Adopted by `roachcert adopt` earlier: the plan is a plain update, but it drops the partner's CA set
    # by curl, which the stack does not declare (guard_facts' record says so).
    adopted = report([change("crafty-cranes", "update", old=["legacy"], new=["2026a"])])
    return [dataclasses.replace(adopted, hand_set={"crafty-cranes": ("CN=Legacy Partner Root CA",)})]


CASES: dict[str, Callable[[], list[StackReport]]] = {
    "create": case_create,
    "ca_update": case_ca_update,
    "rotation_grow": case_rotation_grow,
    "rotation_shrink": case_rotation_shrink,
    "delete": case_delete,
    "empty_stack": case_empty_stack,
    "id_change": case_id_change,
    "no_op": case_no_op,
    "huge": case_huge,
    "failed": case_failed,
    "multi_stack": case_multi_stack,
    "adopted": case_adopted,
    "cloud_failed": case_cloud_failed,
    "cloud_pending": case_cloud_pending,
    "cloud_changed": case_cloud_changed,
    "cloud_not_read": case_cloud_not_read,
    "hand_set": case_hand_set,
}


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites the file instead (then read the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run the tests once with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{path} differs; if the change is intended, rerun with UPDATE_GOLDEN=1 and review"
    )
