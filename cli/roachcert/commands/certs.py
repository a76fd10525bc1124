"""`roachcert certs STACK`: the client certificates delivered or on disk, their expiry and trust."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.args import Format, FormatOpt, StackArg
from roachcert.commands.context import of
from roachcert.escape import printable
from roachcert.mask import masked_strings


def register(app: typer.Typer) -> None:
    app.command("certs")(certs)


def certs(
    ctx: typer.Context,
    stack_file: StackArg,
    out: Annotated[
        list[Path] | None,
        typer.Option(
            "--out",
            help="Also look in ROOT/CLUSTER (the layout of `issue --all --out ROOT`); certs/STACK/CLUSTER "
            "and every folder the inventory names are always read. Repeatable.",
            show_default=False,
        ),
    ] = None,
    output: FormatOpt = Format.text,
    metrics: Annotated[
        Path | None,
        typer.Option(
            "--metrics",
            help="Write Prometheus text-format gauges here (for node_exporter's textfile collector).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List every client certificate roachcert delivered or finds on disk for the stack: cluster, user,
    issuer, serial, expiry, whether it is the one on disk, whether the cluster still trusts its issuer."""
    run = of(ctx)
    from roachcert.certs import listing
    from roachcert.spec import load_stack

    stack = load_stack(stack_file)
    found = listing.rows(stack, run.environ, tuple(out or ()), note=run.err)
    if metrics is not None:
        listing.write_metrics(metrics, run.mask(listing.metrics(stack, found, datetime.now(UTC))))
    if output is Format.json:
        data = [
            {
                "cluster": r.cluster,
                "user": r.user,
                "issuer": r.issuer or None,
                "serial": r.serial,
                "not_after": r.not_after.isoformat() if r.not_after else None,
                "folder": r.folder,
                "on_disk": r.on_disk,
                "trusted": r.trusted,
                "unusable": r.unusable or None,
            }
            for r in found
        ]
        # Masked before it is encoded (an escaped character would hide a secret from the sink).
        run.out(_json_document(stack.name, masked_strings(data, run.mask.snapshot())))
        return
    if not found:
        run.out(f"{stack.name}: no client certificates delivered or on disk")
        return
    for r in found:
        expires = f"{r.not_after:%Y-%m-%d %H:%M} UTC" if r.not_after else "?"
        trust = {True: "trusted", False: "NOT TRUSTED", None: "issuer unknown"}[r.trusted]
        disk = "on disk" if r.on_disk else "replaced"
        unusable = f"  UNUSABLE: {r.unusable}" if r.unusable else ""
        # Names, serials and folders come from the inventory file: escaped like every text from outside.
        run.out(
            printable(
                f"{r.cluster}/{r.user}  {r.issuer or '-'}  {r.serial}  expires {expires}  {disk}  {trust}  "
                f"{r.folder}{unusable}"
            )
        )


def _json_document(stack: str, rows: Sequence[Mapping[str, object]]) -> str:
    """`json.dumps({"stack": ..., "certificates": rows}, indent=2)`, byte for byte, with each flat row
    written by json's C encoder (indent= alone takes the pure-Python one: seconds for 200,000 rows)."""
    if not rows:
        return json.dumps({"stack": stack, "certificates": rows}, indent=2)
    encoded = (json.dumps(row, separators=(",\n      ", ": ")) for row in rows)
    body = ",\n".join("    {\n      " + text[1:-1] + "\n    }" for text in encoded)
    return f'{{\n  "stack": {json.dumps(stack)},\n  "certificates": [\n{body}\n  ]\n}}'
