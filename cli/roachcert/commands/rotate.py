"""`roachcert rotate status STACK`: per Vault-backed CA, its issuers, which one signs, which clusters
trust them, and where the three-phase rotation stands. Reads Vault only; changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from roachcert.commands.args import Format, FormatOpt, StackArg
from roachcert.commands.context import of
from roachcert.escape import printable_lines
from roachcert.mask import Mask, masked_strings, without_environment

if TYPE_CHECKING:
    from roachcert.vault.rotation import CaRotation, IssuerView

rotate_app = typer.Typer(
    name="rotate",
    help="Issuer rotation: append a new issuer, re-issue, drop the old one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    app.add_typer(rotate_app, name="rotate")


@rotate_app.command("status")
def status(
    ctx: typer.Context,
    stack_file: StackArg,
    output: FormatOpt = Format.text,
) -> None:
    """Where each CA's rotation stands: single issuer; rolling out a new issuer (bundles growing);
    reissue pending (users whose newest certificate comes from an old issuer); ready to drop the
    old issuer; or an old issuer still in Vault but no longer declared."""
    run = of(ctx)
    from roachcert.certs import inventory
    from roachcert.spec import PemFileCa, load_stack
    from roachcert.vault.rotation import delivered_records, rotation_status

    stack = load_stack(stack_file)
    vault = run.real_or_given().vault(stack)
    now = datetime.now(UTC)
    deliveries = inventory.load(run.environ, stack.name, run.err)
    delivered = delivered_records(deliveries)
    failed = inventory.failure_reasons(deliveries)
    rows = []
    for name, ca in stack.vault_cas().items():
        issuers = vault.list_issuers(ca.mount)
        issued = vault.list_issued(ca.mount) if issuers else []
        default = vault.default_issuer_id(ca.mount)
        rows.append(
            rotation_status(stack, name, issuers, default, issued, now, delivered=delivered, failed=failed)
        )
    outside = [name for name, ca in stack.cas.items() if isinstance(ca, PemFileCa)]
    if output is Format.json:
        run.out(render_json(stack.name, rows, outside, run.mask))
    else:
        run.out(render_text(stack.name, rows, outside), nl=False)


def _issuer_line(view: IssuerView) -> str:
    parts = [view.name]
    if not view.issuer_id:
        parts.append("not in Vault")
    else:
        parts.append(f"sha256 {view.sha256[:16]}" if view.sha256 else "no certificate")
        if view.not_after is not None:
            parts.append(f"expires {view.not_after:%Y-%m-%d}")
    if view.default:
        parts.append("default: signs new certificates")
    if not view.declared:
        parts.append("not declared: trusted by no cluster through this stack")
    return "  ".join(parts)


def render_text(stack: str, rows: Sequence[CaRotation], outside: Sequence[str]) -> str:
    lines: list[str] = []
    for row in rows:
        lines.append(f"{row.ca} (mount {row.mount})")
        lines.append("  issuers, oldest first:")
        lines.extend(f"    {_issuer_line(view)}" for view in row.issuers)
        declared = ", ".join(view.name for view in row.issuers if view.declared)
        trusted = ", ".join(row.clusters) or "no cluster"
        lines.append(f"  trusted by: {trusted} (issuers {declared})")
        lines.append(f"  phase: {row.summary}")
    for name in outside:
        lines.append(f"{name}: a PEM file outside Vault; roachcert does not rotate it")
    if not lines:
        lines.append(f"{stack}: no CAs declared")
    return printable_lines("\n".join(lines)) + "\n"


def _issuer_json(view: IssuerView) -> dict[str, Any]:
    return {
        "name": view.name,
        "issuer_id": view.issuer_id or None,
        "declared": view.declared,
        "in_vault": bool(view.issuer_id),
        "default": view.default,
        "sha256": view.sha256 or None,
        "not_after": view.not_after.isoformat() if view.not_after else None,
    }


def render_json(
    stack: str, rows: Sequence[CaRotation], outside: Sequence[str], mask: Mask = without_environment
) -> str:
    document = {
        "stack": stack,
        "cas": [
            {
                "ca": row.ca,
                "mount": row.mount,
                "issuers": [_issuer_json(view) for view in row.issuers],
                "clusters": list(row.clusters),
                "phase": row.phase,
                "summary": row.summary,
                "pending_users": list(row.pending_users),
            }
            for row in rows
        ],
        "outside_vault": list(outside),
    }
    return json.dumps(masked_strings(document, mask), indent=2)
