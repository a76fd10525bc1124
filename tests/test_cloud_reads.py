"""The Cloud-side reads' pure parts: bundle fingerprints, what changed since the plan, and what apply's
confirmation believes."""

from __future__ import annotations

import pytest

from certs_helper import make_ca
from roachcert.applying import _observed
from roachcert.cloud.client import ClientCaStatus
from roachcert.cloud.reads import CloudRead, bundle_sha256, changed_since, refuse_changed
from roachcert.errors import GuardError

A, B = make_ca("A")[0], make_ca("B")[0]


def test_a_bundle_fingerprint_ignores_order_and_line_breaks_but_not_content() -> None:
    assert bundle_sha256(A + "\n" + B) == bundle_sha256(B + A)
    assert bundle_sha256(A.replace("\n", "\r\n")) == bundle_sha256(A)
    assert bundle_sha256(A) != bundle_sha256(A + B)
    assert bundle_sha256("") == ""


def test_status_is_part_of_what_the_plan_saw() -> None:
    assert CloudRead("c", "id", "IS_SET", A).fingerprint != CloudRead("c", "id", "FAILED", A).fingerprint


def test_only_clusters_whose_read_differs_count_as_changed() -> None:
    recorded = {
        "c0": CloudRead("c0", "i0", "IS_SET", A).fingerprint,
        "c1": CloudRead("c1", "i1", "NOT_SET", "").fingerprint,
    }
    now = {"c0": CloudRead("c0", "i0", "IS_SET", B + ""), "c1": CloudRead("c1", "i1", "NOT_SET", "")}
    assert changed_since(recorded, now) == ["c0"]
    with pytest.raises(GuardError) as caught:
        refuse_changed("st", ["c0"], now)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(
        "refusing to apply st: the client CA of 1 cluster(s) changed on the Cloud side"
    )
    assert lines[1] == "  c0 (i0): now IS_SET, 1 certificate(s)"
    refuse_changed("st", [], now)  # nothing changed: no refusal


def test_apply_confirms_the_bundle_not_only_the_status() -> None:
    assert _observed(ClientCaStatus("IS_SET", B + A), A + B) == "IS_SET"
    assert _observed(ClientCaStatus("IS_SET", A), A + B) == "IS_SET with a bundle other than the planned one"
    assert _observed(ClientCaStatus("", ""), "") == "NOT_SET"
    assert _observed(ClientCaStatus("PENDING", ""), A) == "PENDING"
