"""`plan --format json`: the reports as one stable document, schema_version 1 (docs/plan-json-schema.md).

Fields are only ever added within a schema version; a removal or a change of meaning bumps it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from roachcert.mask import Mask, masked_strings, without_environment
from roachcert.reports.model import CAUTION_KINDS, Alert, CertRow, ClusterChange, StackReport, StackView, view

SCHEMA_VERSION = 1


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificate(row: CertRow) -> dict[str, Any]:
    return {
        "state": row.state,
        "cn": row.cert.subject_cn,
        "subject": row.cert.subject,
        "sha256": row.cert.sha256,
        "not_before": _time(row.cert.not_before),
        "not_after": _time(row.cert.not_after),
        "source": row.source,
    }


def _change(item: ClusterChange) -> dict[str, Any]:
    change = item.change
    return {
        "cluster": change.cluster,
        "address": change.address,
        "action": change.action,
        "old_id": change.old_id,
        "new_id": change.new_id,
        "id_changes": change.old_id is not None
        and change.new_id is not None
        and change.old_id != change.new_id,
        "status": change.status,
        "reason": change.reason,
        "users": list(item.users),
        "bundle": {
            "before": sum(1 for row in item.rows if row.state != "added"),
            "after": sum(1 for row in item.rows if row.state != "removed"),
        },
        "certificates": [_certificate(row) for row in item.rows],
        "problem": item.problem,
    }


def _warning(alert: Alert) -> dict[str, Any]:
    return {
        "kind": alert.kind,
        "severity": "caution" if alert.kind in CAUTION_KINDS else "warning",
        "message": alert.message,
        "advice": alert.advice,
        "clusters": list(alert.clusters),
        "users": list(alert.users),
        "sha256": alert.sha256,
        "addresses": list(alert.addresses),
    }


def _status(v: StackView) -> str:
    if v.summary.error is not None:
        return "failed"
    return "changes" if v.summary.has_changes else "no_changes"


def _stack(v: StackView) -> dict[str, Any]:
    report, summary = v.report, v.summary
    counts = summary.counts
    return {
        "stack": report.stack,
        "status": _status(v),
        "planned_at": _time(report.now),
        "engine": report.engine,
        "provider_version": report.provider_version,
        "fingerprint": summary.fingerprint or None,
        "cloud_read": report.cloud_read,
        "plan_log": report.log,
        "error": summary.error,
        "raw_output": (report.raw_plan or summary.raw) if summary.error is not None else None,
        "raw_plan": report.raw_plan if summary.error is None and report.raw_plan.strip() else None,
        "raw_plan_from": report.raw_plan_source or None,
        "counts": {
            "create": counts["create"],
            "update": counts["update"],
            "replace": counts["replace"],
            "delete": counts["delete"],
            "forget": counts["forget"],
            "unchanged": counts["no-op"],
        },
        "empty_stack": summary.empty_stack,
        "changes": [_change(item) for item in v.changes],
        "warnings": [_warning(alert) for alert in v.alerts],
        "drift": list(summary.drift),
        "other_changes": list(summary.other_changes),
        "trigger_changes": list(summary.trigger_changes),
        "verified_without_terraform": report.verified or None,
    }


def render_json(reports: Sequence[StackReport], *, mask: Mask = without_environment) -> str:
    """Every report in one JSON document, keys in a fixed order. Every string is masked before it is
    encoded (an escaped secret would no longer be found); the sink masks the whole again."""
    document = {"schema_version": SCHEMA_VERSION, "stacks": [_stack(view(report)) for report in reports]}
    return json.dumps(masked_strings(document, mask), indent=2, ensure_ascii=False) + "\n"
