"""One stack's section of the markdown report, at a given level of detail (`Detail`): heading, cautions,
who may be locked out, warnings, the change groups with their certificate tables, the raw plan collapsed,
and a note of what was cut. Pure; `reports.markdown` picks the detail that fits the limit. (About 400
lines, on purpose: many small blocks of one layout, read top to bottom as the section is.)"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from roachcert.escape import printable, printable_block
from roachcert.pem import EXPIRY_WARNING
from roachcert.reports.model import (
    CAUTION_KINDS,
    Alert,
    CertRow,
    ChangeGroup,
    ClusterChange,
    StackReport,
    StackView,
    day,
    minute,
)

_MARKER = re.compile(r"^<!-- roachcert:stack=(.*?) -->$", re.MULTILINE)
_ALERT_NAMES = 20  # clusters named in one warning; the change groups list them all
_LIST_INLINE = 10  # a change group names up to this many clusters as a list, more in a collapsed block


def stack_marker(stack: str) -> str:
    """The hidden line that starts a stack's section, so its comment can be found again."""
    return f"<!-- roachcert:stack={re.sub(r'[^A-Za-z0-9._/-]', '_', stack)} -->"


def split_stacks(markdown: str) -> list[tuple[str, str]]:
    """(stack, section) for each stack section of a rendered report, in order."""
    starts = list(_MARKER.finditer(markdown))
    return [
        (
            match.group(1),
            markdown[match.start() : (starts[n + 1].start() if n + 1 < len(starts) else None)].strip(),
        )
        for n, match in enumerate(starts)
    ]


@dataclass(frozen=True)
class Detail:
    raw: int | None = None  # characters of the raw plan kept; None: all of it
    tables: Literal["all", "removals", "none"] = "all"
    names: int | None = None  # clusters named per change group; None: all
    ids: bool = True  # cluster ids beside the names of change groups
    deletion_ids: bool = True  # deletions as one line each with id and users, else names only


def _code(text: str) -> str:
    return "`" + printable(" ".join(text.replace("`", "'").split())) + "`"


def _plain(text: str) -> str:
    """Text from certificates or Terraform, shown literally (no markup, no HTML, no table breaks)."""
    flat = printable(" ".join(text.split())).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*\[\]|#])", r"\\\1", flat)


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{printable_block(text.rstrip())}\n{fence}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def where_full(report: StackReport) -> str:
    if report.log and report.log.startswith(("https://", "http://")):
        return f"[the full plan log]({report.log})"
    if report.log:
        return f"the full plan log: {_code(report.log)}"
    return f"the full plan: run `roachcert plan` for {_code(report.stack)} or read the job log"


def _users(users: Sequence[str]) -> str:
    label = "user " if len(users) == 1 else "users "
    return (label + ", ".join(_code(user) for user in users)) if users else ""


def _ref(item: ClusterChange, ids: bool) -> str:
    change = item.change
    if not ids:
        return _code(item.cluster)
    if change.action == "replace" and change.old_id != change.new_id:
        return f"{_code(item.cluster)} ({_code(change.old_id or '?')} → {_code(change.new_id or '?')})"
    return f"{_code(item.cluster)} ({_code(change.new_id or change.old_id or '?')})"


def _name_list(names: Sequence[str], limit: int | None) -> tuple[str, int]:
    shown = names if limit is None else names[:limit]
    cut = len(names) - len(shown)
    return ", ".join(shown) + (f" and {cut:,} more" if cut else ""), cut


# -- headline --------------------------------------------------------------------------------------------


def _heading(v: StackView) -> str:
    summary, name = v.summary, _code(v.report.stack)
    unread = "" if v.report.cloud_read else " · ⚠️ Cloud not read"
    if summary.error is not None:
        return f"### ❌ roachcert plan {name}: the plan failed"
    if not summary.has_changes:
        return f"### 🟢 roachcert plan {name}: no changes{unread}"
    counts = summary.counts
    parts = [f"{counts[a]:,} to {a}" for a in ("create", "update", "replace", "delete")]
    parts += [f"{counts['forget']:,} to forget"] if counts["forget"] else []
    unchanged = f" · {v.unchanged:,} unchanged" if v.unchanged else ""
    return (
        f"### {'🔴' if v.deletions else '🟡'} roachcert plan {name}: " + ", ".join(parts) + unchanged + unread
    )


def _meta(v: StackView) -> str:
    report = v.report
    parts = [_plain(report.engine or "Terraform engine unknown")]
    if report.provider_version:
        parts.append(f"provider cockroachdb/cockroach {_code(report.provider_version)}")
    parts.append(f"planned {minute(report.now)}")
    if v.summary.fingerprint:
        parts.append(f"plan fingerprint {_code(v.summary.fingerprint)}")
    if report.log:
        parts.append(where_full(report))
    return "<sub>" + " · ".join(parts) + "</sub>"


def _quote(kind: str, lines: list[str]) -> list[str]:
    return [f"> [!{kind}]", *(f"> {line}" if line else ">" for line in lines)]


def _caution(v: StackView, d: Detail) -> list[str]:
    lines: list[str] = []
    for alert in v.alerts:
        if alert.kind == "empty_stack":
            lines.append(f"**{_upper(alert.message)}.**")
        elif alert.kind == "id_moves_in_place":
            lines.append(f"{_code(alert.clusters[0])}: {_plain(alert.message)}. {_upper(alert.advice)}.")
        elif alert.kind == "cloud_not_read":
            lines.append(f"**{_plain(alert.message)}.** {_upper(_plain(alert.advice))}.")
        elif alert.kind in ("adopted", "hand_set_ca"):  # what the cluster trusts now is in the table
            who = f" Who may be locked out: {_users(alert.users)}." if alert.users else ""
            advice = f" {_upper(_plain(alert.advice))}." if alert.advice else ""
            label = "Adopted" if alert.kind == "adopted" else "Set by hand"
            lines.append(f"**{label}** {_code(alert.clusters[0])}: {_plain(alert.message)}.{who}{advice}")
    deletions = v.deletions
    if deletions:
        one = len(deletions) == 1
        lines.append(
            f"**{_plural(len(deletions), 'cluster')} {'loses its' if one else 'lose their'} client CA: "
            f"{'its' if one else 'their'} clients can no longer authenticate with certificates.**"
        )
        if d.deletion_ids:
            lines += [_deletion(item) for item in deletions]
        else:
            lines += _deletions_compact(deletions)
    return _quote("CAUTION", lines) if lines else []


def _deletion(item: ClusterChange) -> str:
    change, who = item.change, _users(item.users) or "its clients"
    if change.action == "delete":
        return (
            f"- {_code(item.cluster)} ({_code(change.old_id or '?')}): the CA is deleted; {who} can no longer "
            "authenticate with certificates"
        )
    if change.old_id != change.new_id:
        return (
            f"- {_code(item.cluster)}: the cluster id changes, {_code(change.old_id or '?')} → "
            f"{_code(change.new_id or '?')}: the CA is deleted from {_code(change.old_id or '?')} ({who} can "
            f"no longer authenticate there with certificates) and created on {_code(change.new_id or '?')}"
        )
    reason = f" ({_plain(change.reason)})" if change.reason else ""
    return (
        f"- {_code(item.cluster)} ({_code(change.old_id or '?')}): the CA is deleted and created again{reason}; "
        f"certificate logins of {who} fail in between"
    )


def _deletions_compact(deletions: Sequence[ClusterChange]) -> list[str]:
    lines: list[str] = []
    deleted = [_code(item.cluster) for item in deletions if item.action == "delete"]
    replaced = [_code(item.cluster) for item in deletions if item.action == "replace"]
    if deleted:
        lines.append(f"- CA deleted from {_plural(len(deleted), 'cluster')}: " + ", ".join(deleted))
    if replaced:
        lines.append(
            f"- CA replaced (deleted, then created) on {_plural(len(replaced), 'cluster')}: "
            + ", ".join(replaced)
        )
    users = sorted({user for item in deletions for user in item.users})
    if users:
        lines.append(f"- Users who lose certificate login: {', '.join(_code(user) for user in users)}")
    return lines


def _alert_line(alert: Alert, limit: int | None) -> str:
    names, _ = _name_list([_code(name) for name in alert.clusters], limit)
    message, advice = _plain(alert.message), _upper(_plain(alert.advice)) + "." if alert.advice else ""
    if alert.kind in ("expired", "expiring"):
        return f"- {_upper(message)}; trusted by {names}. {advice}"
    if alert.kind == "bundle_shrinks":
        users = f" Who may be locked out: {_users(alert.users)}." if alert.users else ""
        return f"- {names}: {message}.{users} {advice}"
    if alert.addresses:
        listed, _ = _name_list([_code(address) for address in alert.addresses], limit)
        return f"- {_upper(message)}: {listed}. {advice}".rstrip()
    return f"- {names}: {message}. {advice}".rstrip()


def _who(v: StackView, d: Detail) -> list[str]:
    """Who the changes other than deletions touch, in a line each: the top of the report says it all."""
    limit = _ALERT_NAMES if d.deletion_ids else 5
    said = (
        ("create", "starts trusting a client CA", "start trusting a client CA"),
        ("update", "changes which client CAs it trusts", "change which client CAs they trust"),
        ("forget", "leaves this stack (its CA stays as it is)", "leave this stack (their CA stays as it is)"),
    )
    lines: list[str] = []
    for action, one, many in said:
        names = [_code(item.cluster) for item in v.changes if item.action == action]
        if names:
            listed, _ = _name_list(names, limit)
            lines.append(f"**{_plural(len(names), 'cluster')} {one if len(names) == 1 else many}:** {listed}")
    return [line + ("  " if n + 1 < len(lines) else "") for n, line in enumerate(lines)]


def _warnings(v: StackView, d: Detail) -> list[str]:
    limit = _ALERT_NAMES if d.deletion_ids else 5
    lines = [_alert_line(alert, limit) for alert in v.alerts if alert.kind not in CAUTION_KINDS]
    return _quote("WARNING", lines) if lines else []


# -- changes ---------------------------------------------------------------------------------------------

_SYMBOL = {"create": "+ Create", "update": "~ Update", "replace": "-/+ Replace", "forget": ". Forget"}


def _group_heading(group: ChangeGroup) -> str:
    first = group.clusters[0]
    who = _code(first.cluster) if len(group.clusters) == 1 else _plural(len(group.clusters), "cluster")
    added, removed = first.count("added"), first.count("removed")
    after = added + first.count("kept")
    if group.action == "create":
        what = f"trust{'s' if len(group.clusters) == 1 else ''} {_plural(after, 'CA certificate')}"
    elif group.action == "update":
        delta = ", ".join(
            part for part in (f"+{added} added" * bool(added), f"−{removed} removed" * bool(removed)) if part
        )
        what = (
            f"CA bundle {after - added + removed} → {_plural(after, 'certificate')} ({delta or 'reordered'})"
        )
    elif group.action == "replace" and first.change.old_id != first.change.new_id:
        what = "the CA moves to the new cluster id (deleted from the old id, created on the new)"
    elif group.action == "replace":
        what = "the CA is deleted and created again"
    else:
        what = "no longer managed by this stack; the CA stays on the cluster as it is"
    return f"#### {_SYMBOL[group.action]}: {who}: {what}"


def _group_names(group: ChangeGroup, d: Detail, cuts: list[int]) -> list[str]:
    refs = [_ref(item, d.ids) for item in group.clusters]
    if len(refs) <= _LIST_INLINE:
        return [f"- {ref}" for ref in refs]
    text, cut = _name_list(refs, d.names)
    cuts[0] += cut
    return [f"<details><summary>{_plural(len(refs), 'cluster')}</summary>", "", text, "", "</details>"]


def _not_after(row: CertRow, v: StackView) -> str:
    now, end = v.report.now, row.cert.not_after
    if end <= now:
        return f"**expired** {day(end)}"
    if end - now <= EXPIRY_WARNING:
        return f"{day(end)} ⚠️ in {(end - now).days} days"
    return day(end)


_STATE = {"added": "**+ added**", "removed": "**− removed**", "kept": "kept"}


def _table(rows: Sequence[CertRow], v: StackView) -> list[str]:
    lines = ["| | issuer | subject CN | SHA-256 | not after |", "|---|---|---|---|---|"]
    for row in rows:
        source = _plain(row.source) if row.source else "—"
        cn = _plain(row.cert.subject_cn or row.cert.subject) or "—"
        lines.append(
            f"| {_STATE[row.state]} | {source} | {cn} | {_code(v.short(row.cert.sha256))} | {_not_after(row, v)} |"
        )
    return lines


def _compact_rows(rows: Sequence[CertRow], v: StackView) -> str:
    parts = [
        f"{'+' if row.state == 'added' else '−'} {_plain(row.cert.subject_cn or row.cert.subject)} "
        f"({_code(v.short(row.cert.sha256))})"
        for row in rows
        if row.state != "kept"
    ]
    kept = sum(1 for row in rows if row.state == "kept")
    parts += [f"{kept} kept"] if kept else []
    return "Certificates: " + " · ".join(parts)


def _changes(v: StackView, d: Detail, cuts: dict[str, int]) -> list[str]:
    if not v.summary.has_changes:
        clusters = _plural(v.unchanged, "cluster")
        return [f"No changes: every one of the stack's {clusters} already trusts what the stack declares."]
    lines: list[str] = []
    if v.summary.trigger_changes and not v.changes:
        records = _plural(len(v.summary.trigger_changes), "cluster id record")
        lines.append(f"Bookkeeping only: {records} to store; no cluster's CA changes.")
    for group in v.groups:
        names_cut = [0]
        lines += [*([""] if lines else []), _group_heading(group), "", *_group_names(group, d, names_cut)]
        cuts["names"] += names_cut[0]
        if group.problem is not None:
            lines += ["", f"⚠️ {_plain(group.problem)}"]
        if not group.rows:
            continue
        removal = any(row.state == "removed" for row in group.rows)
        if d.tables == "all" or (d.tables == "removals" and removal):
            lines += ["", *_table(group.rows, v)]
        else:
            cuts["tables"] += 1
            lines += ["", _compact_rows(group.rows, v)]
    return lines


# -- raw plan, failures, notes ---------------------------------------------------------------------------


def _raw(title: str, text: str, d: Detail, cuts: dict[str, int]) -> list[str]:
    if not text.strip():
        return []
    keep = len(text) if d.raw is None else d.raw
    if keep >= len(text):
        return [f"<details><summary>{title}</summary>", "", _fence(text), "", "</details>"]
    cuts["raw"] = len(text) - keep
    if keep <= 0:
        return [f"<sub>{title}: left out ({len(text):,} characters).</sub>"]
    head = text[:keep].rsplit("\n", 1)[0] if "\n" in text[:keep] else text[:keep]
    summary = f"{title}: the first {len(head):,} of {len(text):,} characters"
    return [f"<details><summary>{summary}</summary>", "", _fence(head + "\n…"), "", "</details>"]


def _note(v: StackView, cuts: dict[str, int], limit: int) -> list[str]:
    said: list[str] = []
    if cuts["raw"]:
        said.append(f"the raw Terraform plan lost {cuts['raw']:,} characters")
    if cuts["tables"]:
        said.append(f"{_plural(cuts['tables'], 'certificate table')} shortened to one line")
    if cuts["names"]:
        said.append(f"{cuts['names']:,} cluster names left out of the change lists")
    if cuts["ids"]:
        said.append("cluster ids left out of the change lists")
    if not said:
        return []
    text = f"Shortened to fit GitHub's {limit:,}-character comment limit: {'; '.join(said)}. See {where_full(v.report)}."
    return _quote("NOTE", [text])


def _verified(v: StackView) -> list[str]:
    if not v.report.verified:
        return []
    return [
        f"✅ {_plain(v.report.verified)}; `terraform plan` did not run (`roachcert plan --full` runs it)."
    ]


def draw_section(v: StackView, d: Detail, raw: str, limit: int) -> str:
    cuts = {"raw": 0, "tables": 0, "names": 0, "ids": 0}
    top = [stack_marker(v.report.stack), _heading(v), _meta(v)]
    if v.summary.error is not None:
        tail = _raw("Terraform output", raw, d, cuts)
        failed = (
            "**Nothing was planned: no cluster changes until a plan succeeds.** Fix the error and plan again."
        )
        blocks = [[failed], [_fence(v.summary.error)], _note(v, cuts, limit)]
    else:
        changes = _changes(v, d, cuts)
        source = v.report.raw_plan_source
        shown = (
            printable(" ".join(source.split()))
            .replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
        )
        tail = _raw(f"Terraform plan output ({shown})" if source else "Terraform plan output", raw, d, cuts)
        cuts["ids"] = int(not d.ids and bool(v.groups))
        blocks = [_caution(v, d), _who(v, d), _warnings(v, d), _note(v, cuts, limit), changes, _verified(v)]
    body = [line for block in blocks if block for line in ["", *block]]
    parts = top + body + (["", *tail] if tail else [])
    return "\n".join(parts) + "\n"
