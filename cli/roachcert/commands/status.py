"""`roachcert status STACK [--format text|json]`: each cluster's client CA in the Cloud API against
the bundle the spec renders now. Exit 0 all in sync, 2 any drift/not set yet/PENDING/FAILED, 1 any cluster
unread."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from roachcert.commands.args import Format, FormatOpt, StackArg
from roachcert.commands.context import of
from roachcert.escape import printable
from roachcert.mask import Mask, masked_strings, without_environment

if TYPE_CHECKING:
    from roachcert.adapters import CloudApi
    from roachcert.cloud.client import ClientCaStatus
    from roachcert.cloud.drift import ClusterDrift
    from roachcert.guard_facts import HandSet
    from roachcert.pem import CertInfo
    from roachcert.spec import Stack


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    ctx: typer.Context,
    stack_file: StackArg,
    output: FormatOpt = Format.text,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Clusters read at once.")] = 8,
) -> None:
    """Compare each cluster's client CA in the Cloud API with the bundle the stack renders now.

    States: in sync; drift: CA removed out of band (NOT_SET on a cluster roachcert set); not set yet
    (NOT_SET on one it never set); drift: different bundle (with the certificates only in the cloud and
    only in the spec); PENDING; FAILED; or the cluster's error.
    Needs COCKROACH_API_KEY (and COCKROACH_SERVER for another API) and read access to Vault.
    """
    run = of(ctx)
    from roachcert.bundles import OnFirstRead, cluster_bundles
    from roachcert.cloud import drift
    from roachcert.guard_facts import load_hand_set
    from roachcert.paths import stack_dir
    from roachcert.spec import load_stack

    stack = load_stack(stack_file)
    client = run.real_or_given().cloud()  # fails early, once, without a key
    # A stack whose CAs are all PEM files never opens Vault.
    bundles = cluster_bundles(stack, OnFirstRead(lambda: run.real_or_given().vault(stack)))
    for bundle in bundles.values():
        for warning in bundle.warnings:
            run.err(f"warning: {warning}")
    local = threading.local()

    def fetch(cluster_id: str) -> ClientCaStatus:
        # One HTTP session per worker thread.
        mine: CloudApi | None = getattr(local, "client", None)
        if mine is None:
            mine = local.client = run.real_or_given().cloud()
        return mine.get_client_ca(cluster_id)

    expected = {name: bundle.pem for name, bundle in bundles.items()}
    workdir = stack_dir(stack.name, run.environ)
    hand_set = load_hand_set(workdir)  # what `apply` will ask consent to drop
    rows = drift.observe_clusters(
        stack, expected, fetch, jobs=jobs, ever_set=ever_set(stack, workdir, hand_set)
    )
    sources = {
        info.sha256: src for b in bundles.values() for info, src in zip(b.certs, b.sources, strict=True)
    }
    code = drift.exit_code(rows)
    if output is Format.json:
        run.out(render_json(stack.name, client.server, rows, sources, code, hand_set, run.mask))
    else:
        run.out(render_text(stack.name, client.server, rows, sources, hand_set), nl=False)
    if code:
        raise typer.Exit(code)


def ever_set(stack: Stack, workdir: Path, hand_set: Mapping[str, HandSet]) -> set[str]:
    """The clusters whose CA roachcert set or took over, as far as this working folder tells without
    Terraform: its record of applies and adoptions, the hand-set record (the cluster held a CA when first
    met), and a local backend's state file. A CA missing from any other cluster is "not set yet"."""
    from roachcert.guard_facts import load_set_by_us
    from roachcert.terraform.workdir import local_state_clusters

    ids = load_set_by_us(workdir)
    found = {name for name, cluster in stack.clusters.items() if cluster.id in ids}
    backend = stack.terraform.backend
    if backend.type == "local" and not backend.config:
        found |= local_state_clusters(workdir)
    return found | {name for name, fact in hand_set.items() if not all(c.unseen for c in fact.certs)}


def _cert_line(info: CertInfo, sources: Mapping[str, str]) -> str:
    name = printable(info.subject) or "(empty subject)"
    source = sources.get(info.sha256)
    return f"{info.short_fingerprint} {source} ({name})" if source else f"{info.short_fingerprint} {name}"


def render_text(
    stack: str,
    server: str,
    rows: Sequence[ClusterDrift],
    sources: Mapping[str, str],
    hand_set: Mapping[str, HandSet] | None = None,
    mask: Mask = without_environment,
) -> str:
    from roachcert.cloud.drift import counts

    hand_set = hand_set or {}
    if not rows:
        return f"{stack}: no clusters declared\n"
    table = [("CLUSTER", "ID", "STATE"), *((r.cluster, r.cluster_id, r.result.label) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    lines = [f"{stack}: client CA of each cluster, Cloud API at {server}"]
    for index, (cluster, cluster_id, label) in enumerate(table):
        lines.append(f"{cluster:<{widths[0]}}  {cluster_id:<{widths[1]}}  {label}".rstrip())
        if index == 0:
            continue
        result = rows[index - 1].result
        pad = " " * (widths[0] + 2)
        for info in result.only_in_cloud:
            lines.append(f"{pad}only in cloud: {_cert_line(info, sources)}")
        for info in result.only_in_spec:
            lines.append(f"{pad}only in spec:  {_cert_line(info, sources)}")
        if result.detail:
            lines.append(f"{pad}{printable(result.detail)}")
        fact = hand_set.get(rows[index - 1].cluster)
        for cert in fact.certs if fact else ():
            if cert.unseen:  # said by the row's detail (a FAILED read with no certificate)
                continue
            lines.append(
                f"{pad}set by hand, not declared: {cert.sha256[:16]} {printable(cert.subject)}; "
                "apply drops it only with --allow-replace-ca"
            )
    tally = counts(rows)
    parts = [f"{n} {state.replace('_', ' ')}" for state, n in tally.items() if n]
    lines.append(f"{len(rows)} cluster(s): {', '.join(parts)}")
    return "\n".join(lines) + "\n"


def _cert_json(info: CertInfo, sources: Mapping[str, str]) -> dict[str, Any]:
    return {
        "sha256": info.sha256,
        "subject": info.subject,
        "not_after": info.not_after.isoformat(),
        "source": sources.get(info.sha256),
    }


def render_json(
    stack: str,
    server: str,
    rows: Sequence[ClusterDrift],
    sources: Mapping[str, str],
    code: int,
    hand_set: Mapping[str, HandSet] | None = None,
    mask: Mask = without_environment,
) -> str:
    from roachcert.cloud.drift import counts

    hand_set = hand_set or {}
    clusters = [
        {
            "cluster": row.cluster,
            "id": row.cluster_id,
            "state": row.result.state,
            "label": row.result.label,
            "status": row.result.status or None,
            "only_in_cloud": [_cert_json(info, sources) for info in row.result.only_in_cloud],
            "only_in_spec": [_cert_json(info, sources) for info in row.result.only_in_spec],
            "detail": row.result.detail if row.result.state != "error" else "",
            "error": row.result.detail if row.result.state == "error" else None,
            "hand_set": [
                {
                    "sha256": cert.sha256,
                    "subject": cert.subject,
                    "not_after": cert.not_after or None,
                    "unseen": cert.unseen,
                }
                for cert in (hand_set[row.cluster].certs if row.cluster in hand_set else ())
            ],
        }
        for row in rows
    ]
    document = {
        "stack": stack,
        "server": server,
        "clusters": clusters,
        "counts": counts(rows),
        "exit_code": code,
    }
    return json.dumps(masked_strings(document, mask), indent=2)
