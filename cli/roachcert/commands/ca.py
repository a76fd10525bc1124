"""`roachcert ca ensure STACK [--check]`: make Vault hold each Vault-backed CA as the stack declares."""

from __future__ import annotations

from typing import Annotated

import typer

from roachcert.commands.args import StackArg
from roachcert.commands.context import of
from roachcert.exit_status import ExitStatus

ca_app = typer.Typer(
    name="ca", help="Client CAs in Vault's PKI engine.", no_args_is_help=True, rich_markup_mode=None
)

CheckOpt = Annotated[
    bool, typer.Option("--check", help="Report only; write nothing. Exit 2 when something would change.")
]


def register(app: typer.Typer) -> None:
    app.add_typer(ca_app, name="ca")


@ca_app.command("ensure")
def ensure(ctx: typer.Context, stack_file: StackArg, check: CheckOpt = False) -> None:
    """Make Vault match the stack for every Vault-backed CA.

    The PKI mount (its max lease TTL raised before any CA is made), the declared issuers (the first
    generated as a root, later ones added by rotation; keys never leave Vault), the last one as the
    default issuer, and a client-only role. A second run changes nothing. What differs and cannot be
    fixed without harm is reported (exit 1), never "fixed" by adding issuers.
    """
    run = of(ctx)
    from roachcert.spec import load_stack
    from roachcert.vault import ca_ensure

    stack = load_stack(stack_file)
    if not stack.vault_cas():
        run.out(f"{stack_file}: no Vault-backed CAs; nothing to ensure")
        return
    admin = run.real_or_given().vault(stack)
    changes = 0
    problems: list[str] = []
    for plan in ca_ensure.plan_stack(stack, admin):
        for warning in plan.warnings:
            run.err(f"warning: {warning}")
        problems.extend(plan.problems)
        if not plan.actions:
            run.out(f"{plan.ca} ({plan.mount}): up to date")
            continue
        changes += len(plan.actions)
        if check:
            run.out(f"{plan.ca} ({plan.mount}): {len(plan.actions)} change(s) would be made")
            for action in plan.actions:
                run.out(f"  ~ {action.description}")
            continue
        run.out(f"{plan.ca} ({plan.mount}):")
        result = ca_ensure.apply(plan, admin)
        for done in result.done:
            run.out(f"  + {done}")
        problems.extend(result.problems)
    for problem in problems:
        run.err(f"roachcert: {problem}")
    if not changes:
        run.out("no changes: Vault matches the stack")
    elif check:
        run.out(f"{changes} change(s) would be made; run without --check to make them")
    else:
        run.out(f"{changes} change(s) made")
    if problems:
        raise typer.Exit(ExitStatus.ERROR)
    if check and changes:
        raise typer.Exit(ExitStatus.CHANGES)
