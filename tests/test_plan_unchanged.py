"""A plan Terraform reports as unchanged (exit 0) is summarised without reading it back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from roachcert.spec import load_stack
from roachcert.terraform.engine import Engine, cached_version
from roachcert.terraform.plan_json import summarise, unchanged


def test_unchanged_lists_every_declared_cluster_as_no_op(repo_root: Path) -> None:
    stack = load_stack(repo_root / "stacks" / "example.yaml")
    bundles = {name: f"PEM of {name}\n" for name in stack.clusters}
    summary = unchanged(stack, bundles)
    assert not summary.has_changes
    assert summary.error is None
    assert [change.cluster for change in summary.changes] == sorted(stack.clusters)
    assert all(change.action == "no-op" for change in summary.changes)
    assert summary.changes[0].new_pem == bundles[summary.changes[0].cluster]
    assert summary.fingerprint == unchanged(stack, bundles).fingerprint


def test_unchanged_is_what_the_no_op_document_would_give(repo_root: Path) -> None:
    # Built directly, not from a document: it must still equal, fingerprint included, what summarise
    # reads from the `show -json` of a plan without changes (apply compares the two).
    stack = load_stack(repo_root / "stacks" / "example.yaml")
    bundles = {name: f"PEM of {name}\n" for name in stack.clusters}
    first = sorted(stack.clusters)[0]
    statuses = {first: "IS_SET"}
    items = []
    for name, cluster in sorted(stack.clusters.items()):
        status = {"status": statuses[name]} if name in statuses else {}
        values = {"id": cluster.id, "x509_pem_cert": bundles[name], **status}
        change = {"actions": ["no-op"], "before": values, "after": values, "after_unknown": {}}
        items.append(
            {
                "address": f"cockroach_client_ca_cert.{name}",
                "mode": "managed",
                "type": "cockroach_client_ca_cert",
                "name": name,
                "change": change,
            }
        )
    assert unchanged(stack, bundles, statuses) == summarise({"resource_changes": items}, stack)
    assert unchanged(stack, bundles).fingerprint != unchanged(stack, bundles, statuses).fingerprint


def test_engine_version_is_asked_once_per_binary(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    engine_file = tmp_path / "terraform"
    engine_file.write_text(f'#!/bin/sh\necho x >> "{calls}"\necho "Terraform v9.9.9"\n')
    engine_file.chmod(engine_file.stat().st_mode | stat.S_IXUSR)
    engine = Engine(engine_file, "terraform")
    assert cached_version(engine, tmp_path / "cache", os.environ) == "Terraform v9.9.9"
    assert cached_version(engine, tmp_path / "cache", os.environ) == "Terraform v9.9.9"
    assert calls.read_text().count("x") == 1
    engine_file.write_text(f'#!/bin/sh\necho x >> "{calls}"\necho "Terraform v9.9.10"\n')
    assert cached_version(engine, tmp_path / "cache", os.environ) == "Terraform v9.9.10"
