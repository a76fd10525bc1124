"""`roachcert validate STACK…`: the stack files and their PEM-file CAs, without touching Vault."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.context import of
from roachcert.errors import PemError, SpecError


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    ctx: typer.Context,
    stacks: Annotated[
        list[Path],
        typer.Argument(help="Stack files (stacks/NAME.yaml).", show_default=False, metavar="STACK"),
    ],
) -> None:
    """Check stack files: syntax, fields, references, and the PEM files of CAs kept outside Vault."""
    run = of(ctx)
    from roachcert.pem import check_ca_file
    from roachcert.spec import PemFileCa, load_stack

    problems: list[str] = []
    for path in stacks:
        try:
            stack = load_stack(path)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        # The loader has already rejected bad PEM files; only their warnings are left to show.
        for name, ca in stack.cas.items():
            if isinstance(ca, PemFileCa):
                try:
                    warnings = check_ca_file(ca.pem_file).warnings
                except PemError as exc:  # changed since loading
                    problems.append(f"{path}: cas.{name}.pem_file: {exc}")
                    continue
                for warning in warnings:
                    run.err(f"{path}: warning: cas.{name}: {warning}")
        if not stack.clusters:
            run.err(f"{path}: warning: no clusters: planning this stack deletes every CA it manages")
        run.out(f"{path}: ok ({len(stack.cas)} CAs, {len(stack.clusters)} clusters)")
    if problems:
        raise SpecError(problems)
