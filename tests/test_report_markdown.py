from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import timedelta

import pytest

import report_cases as rc
from certs_helper import key_pem, make_ca, new_key
from roachcert.github import COMMENT_LIMIT as GITHUB_COMMENT_LIMIT
from roachcert.mask import Mask, Masker, without_environment
from roachcert.plan_summary import PlanSummary
from roachcert.reports.markdown import render_markdown as render_any_length
from roachcert.reports.markdown import split_stacks, stack_marker
from roachcert.reports.model import StackReport, fingerprint_digits, view


def render_markdown(
    reports: list[StackReport], *, limit: int = GITHUB_COMMENT_LIMIT, mask: Mask = without_environment
) -> str:
    """The report as `plan` writes it: within GitHub's comment limit unless told otherwise."""
    return render_any_length(reports, limit=limit, mask=mask)


def _head(text: str, lines: int = 8) -> str:
    return "\n".join(text.splitlines()[:lines])


@pytest.mark.parametrize("name", sorted(rc.CASES))
def test_markdown_matches_golden(name: str) -> None:
    rc.check_golden(f"{name}.md", render_markdown(rc.CASES[name]()))


def test_deletion_names_cluster_id_and_who_loses_access_in_the_first_lines() -> None:
    head = _head(render_markdown(rc.case_delete()))
    assert "1 to delete" in head
    assert "[!CAUTION]" in head
    assert "`flooping-frogs` (`2186fbdb-598c-4797-a463-aaaee865903e`)" in head
    assert "users `root`, `app` can no longer authenticate with certificates" in head


def test_id_change_shows_as_replacement_with_both_ids_first() -> None:
    head = _head(render_markdown(rc.case_id_change()))
    assert "1 to replace" in head
    assert "`2186fbdb-598c-4797-a463-aaaee865903e` → `9d8e7f60-5a4b-4c3d-9e2f-1a0b9c8d7e6f`" in head
    assert "the CA is deleted from `2186fbdb-598c-4797-a463-aaaee865903e`" in head


def test_headline_has_counts_engine_provider_and_fingerprint() -> None:
    reports = rc.case_create()
    head = _head(render_markdown(reports), 3)
    assert "2 to create, 0 to update, 0 to replace, 0 to delete" in head
    assert "Terraform v1.15.5 (embedded)" in head
    assert "`~> 1.22`" in head
    assert reports[0].summary.fingerprint in head


def test_shrinking_bundle_warns_who_may_be_locked_out() -> None:
    text = render_markdown(rc.case_rotation_shrink())
    warning = text[text.index("[!WARNING]") :].split("\n\n")[0]
    assert "'Example Co client CA 2025'" in warning
    assert "leaves the bundle" in warning
    assert "users `app`, `reporting`, `etl`, `root`" in warning


def test_expiring_ca_is_warned_with_the_clusters_trusting_it() -> None:
    text = render_markdown(rc.case_rotation_grow())
    assert "expires on 2026-03-20 00:00 UTC (in 18 days); trusted by `bouncing-bears`" in text
    assert "2026-03-20 ⚠️ in 18 days" in text


def test_expired_ca_still_trusted_is_warned() -> None:
    report = rc.report([rc.change("crafty-cranes", "no-op", old=["expired"], new=["expired"])])
    text = render_markdown([report])
    assert "expired on 2026-02-01 00:00 UTC" in text
    assert "Remove it from the stack" in text


def test_empty_stack_and_drift_are_called_out() -> None:
    assert "The stack declares no clusters" in _head(render_markdown(rc.case_empty_stack()), 6)
    text = render_markdown(rc.case_ca_update())
    assert "changed outside Terraform since the last apply: `cockroach_client_ca_cert.bouncing-bears`" in text


def test_in_place_id_change_is_a_caution() -> None:
    moved = rc.change("flooping-frogs", "update", old=["2026a"], new=["2026a"], new_id=rc.NEW_FROGS_ID)
    text = render_markdown([rc.report([moved])])
    caution = text[text.index("[!CAUTION]") :].split("\n\n")[0]
    assert "leave it set on 2186fbdb-598c-4797-a463-aaaee865903e" in caution


def test_failed_plan_is_a_report_with_the_error() -> None:
    text = render_markdown(rc.case_failed())
    assert "the plan failed" in _head(text, 2)
    assert "Error: Unable to find authentication token" in text
    assert "Nothing was planned" in text


def test_an_error_cut_to_fit_the_limit_never_shows_half_a_secret() -> None:
    # A failed stack's error is shown whole unless it is over the limit: then it is cut, and a secret
    # across the cut must be masked before it, wherever the cut falls.
    secret = "pg-Pa55word-9c1e-" * 2
    failed = replace(rc.case_failed()[0], summary=PlanSummary(error=("x" * 150 + secret) * 40, stack="s"))
    mask = Masker({"PGPASSWORD": secret})
    for limit in range(3000, 3000 + len(secret) + 150):
        text = render_markdown([failed], limit=limit, mask=mask)
        assert len(text) <= limit
        assert secret[:8] not in text, limit


def test_certificates_appear_as_rows_never_as_pem() -> None:
    text = render_markdown(rc.case_ca_update())
    assert "BEGIN CERTIFICATE" not in text
    assert "| **+ added** | legacy-ca/legacy-ca.pem | Legacy Partner Root CA |" in text
    assert "| **− removed** | contractor-ca/contractor.pem | Old Contractor CA |" in text


def test_no_changes_is_never_an_empty_report() -> None:
    assert "no changes" in render_markdown(rc.case_no_op())
    assert render_markdown([]).strip()


def test_each_stack_gets_a_marker_and_splits_back() -> None:
    text = render_markdown(rc.case_multi_stack())
    assert text.count(stack_marker("staging")) == 1
    assert text.count(stack_marker("prod")) == 1
    sections = split_stacks(text)
    assert [stack for stack, _ in sections] == ["staging", "prod"]
    assert all(section.startswith(stack_marker(stack)) for stack, section in sections)
    assert "1 to create" in sections[0][1]
    assert "no changes" in sections[1][1]


def test_marker_cannot_be_closed_early_by_a_stack_name() -> None:
    marker = stack_marker("a --> <b>")
    assert marker == "<!-- roachcert:stack=a_--___b_ -->"
    assert marker.count("-->") == 1


def test_huge_stack_fits_a_comment_and_names_every_deletion() -> None:
    text = render_markdown(rc.case_huge())
    assert len(text) <= GITHUB_COMMENT_LIMIT
    for name in rc.huge_names()[:5]:
        assert f"`{name}`" in text
    assert "985 clusters: CA bundle 1 → 2 certificates (+1 added)" in text
    assert "Shortened to fit GitHub's 65,536-character comment limit: the raw Terraform plan lost" in text


@pytest.mark.parametrize("limit", [3_000, 8_000, 30_000])
def test_tighter_limits_cut_more_but_keep_deletions_and_say_so(limit: int) -> None:
    text = render_markdown(rc.case_huge(), limit=limit)
    assert len(text) <= limit
    assert "Shortened to fit" in text
    assert rc.LOG in text
    for name in rc.huge_names()[:5]:
        assert f"`{name}`" in text


def test_raw_plan_is_cut_before_certificate_tables() -> None:
    reports = rc.case_rotation_shrink()
    raw = "\n".join(f"line {n} of a long plan" for n in range(3_000))
    reports = [replace(reports[0], raw_plan=raw)]
    full = render_markdown(reports)
    text = render_markdown(reports, limit=len(full) - 10_000)
    assert "| **− removed** |" in text
    assert "the raw Terraform plan lost" in text
    assert "certificate table" not in text


def test_small_stack_keeps_detail_beside_a_huge_one() -> None:
    text = render_markdown([*rc.case_huge(), *rc.case_ca_update()])
    assert len(text) <= GITHUB_COMMENT_LIMIT
    prod = dict(split_stacks(text))["prod"]
    assert "| **− removed** | contractor-ca/contractor.pem |" in prod


def test_thousands_of_deletions_are_cut_visibly_never_past_the_limit() -> None:
    changes = [rc.change(f"c{n:05d}", "delete", old=["2026a"]) for n in range(9_000)]
    reports = [rc.report(changes, stack="gone", empty_stack=True), *rc.case_create()]
    text = render_markdown(reports)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "Cut here to fit GitHub's comment limit" in text
    assert [stack for stack, _ in split_stacks(text)] == ["gone", "prod"]
    assert "`c00000`" in text


def test_secrets_and_private_keys_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "hvs.SECRETSECRETSECRET")
    monkeypatch.setenv("COCKROACH_API_KEY", "CCDB1_apikeyapikey")
    key = key_pem(new_key())
    raw = f"token hvs.SECRETSECRETSECRET\napikey CCDB1_apikeyapikey\n{key}"
    summary = PlanSummary(error="failed with CCDB1_apikeyapikey", raw=raw, stack="prod")
    failed = replace(rc.case_failed()[0], summary=summary, raw_plan=raw)
    ok = replace(rc.case_create()[0], raw_plan=raw, engine="engine hvs.SECRETSECRETSECRET")
    for limit in (GITHUB_COMMENT_LIMIT, 1_500):
        text = render_markdown([failed, ok], limit=limit, mask=Masker(os.environ))
        assert "hvs.SECRETSECRETSECRET" not in text
        assert "CCDB1_apikeyapikey" not in text
        assert "PRIVATE KEY-----" not in text.replace("-----PRIVATE KEY REDACTED-----", "")


def test_text_from_certificates_cannot_inject_markup() -> None:
    pem, _ = make_ca("<img src=x onerror=alert(1)> | **pwned**", not_before=rc.NOW - timedelta(days=1))
    from roachcert.plan_summary import ResourceChange

    change = ResourceChange(
        address="cockroach_client_ca_cert.x", cluster="x", action="create", new_id="id-1", new_pem=pem
    )
    text = render_markdown([rc.report([change])])
    assert "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt; \\| \\*\\*pwned\\*\\*" in text


def test_raw_plan_with_backticks_stays_inside_its_block() -> None:
    report = replace(rc.case_create()[0], raw_plan="```\n# not a heading\n````\n")
    text = render_markdown([report])
    assert "`````text\n```\n# not a heading\n````\n`````" in text


def test_unreadable_bundle_is_reported_not_raised() -> None:
    change = replace(rc.change("crafty-cranes", "update", old=["2026a"], new=["2026b"]), new_pem="not a pem")
    text = render_markdown([rc.report([change])])
    assert "crafty-cranes" in text
    assert "text outside the PEM blocks" in text


def test_fingerprints_lengthen_only_when_two_certificates_share_a_prefix() -> None:
    assert fingerprint_digits(["a" * 64, "b" * 64]) == 16
    assert fingerprint_digits(["a" * 17 + "b" * 47, "a" * 17 + "c" * 47]) == 20
    assert view(rc.case_create()[0]).digits == 16


def test_group_of_identical_updates_is_shown_once() -> None:
    text = render_markdown(rc.case_rotation_grow())
    assert text.count("| issuer | subject CN |") == 1
    assert len(re.findall(r"^#### ", text, re.MULTILINE)) == 1


def test_forget_status_and_other_resources_are_reported() -> None:
    changes = [
        rc.change("crafty-cranes", "forget", old=["2026a"]),
        rc.change("bouncing-bears", "update", old=["2026a"], new=["2026a", "2026b"], status="FAILED"),
    ]
    report = rc.report(changes)
    report = replace(report, summary=replace(report.summary, other_changes=("null_resource.extra",)))
    text = render_markdown([report])
    assert "1 to forget" in _head(text, 2)
    assert "**1 cluster leaves this stack (its CA stays as it is):** `crafty-cranes`" in text
    assert "`bouncing-bears`: the last change of the CA failed on the cluster (status FAILED)" in text
    assert "Other resources change too (from the stack's own templates): `null_resource.extra`" in text
    forget = text[text.index("#### . Forget") :]
    assert "| kept | client-ca/ca-2026a |" in forget
    assert "removed" not in forget.split("<details>")[0]


def test_id_record_only_plan_says_it_is_bookkeeping() -> None:
    unchanged = rc.change("crafty-cranes", "no-op", old=["2026a"], new=["2026a"])
    text = render_markdown([rc.report([unchanged], trigger_changes=("terraform_data.crafty-cranes_id",))])
    assert "Bookkeeping only: 1 cluster id record to store; no cluster's CA changes." in text
