"""`roachcert adopt STACK`: take clusters that already trust a CA (set by curl or the Console) into
state without changing them."""

from __future__ import annotations

import typer

from roachcert.commands.args import (
    DEFAULT_LOCK_TIMEOUT,
    EngineOpt,
    LockTimeoutOpt,
    StackArg,
    WaitPendingOpt,
    lock_timeout_seconds,
)
from roachcert.commands.context import of, plan_options


def register(app: typer.Typer) -> None:
    app.command("adopt")(adopt)


def adopt(
    ctx: typer.Context,
    stack: StackArg,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    wait_pending: WaitPendingOpt = "0s",
    engine: EngineOpt = None,
) -> None:
    """Import every declared cluster whose client CA is set but not in state (terraform import): state
    only, nothing is written to any cluster. Prints what each trusts now beside what the stack declares;
    `roachcert plan` then shows the update, and dropping what it trusts now takes --allow-replace-ca."""
    run = of(ctx)
    from roachcert.adoption import adopt_stack
    from roachcert.escape import printable_lines
    from roachcert.guard_facts import UNSEEN_LINE
    from roachcert.pem import count_certificates
    from roachcert.plan_summary import turnover

    found = adopt_stack(
        stack, plan_options(run, lock_timeout_seconds(lock_timeout), True, wait_pending, engine)
    )
    lines = []
    for item in found:
        if item.unseen:
            lines.append(
                f"{item.cluster} ({item.read.cluster_id}): nothing to import; {UNSEEN_LINE}: `apply` sets the "
                "declared bundle over it only with --allow-replace-ca"
            )
            continue
        verb = "adopted" if item.imported else "already in state"
        lines.append(
            f"{item.cluster} ({item.read.cluster_id}): {verb}; trusts "
            f"{count_certificates(item.read.pem)} certificate(s) now, the stack declares "
            f"{count_certificates(item.declared_pem)}{turnover(item.read.pem, item.declared_pem)}"
            + (
                f"; {item.hand_set} it trusts now the stack does not declare: `apply` drops them only with "
                "--allow-replace-ca"
                if item.hand_set
                else ""
            )
        )
    adopted = sum(1 for item in found if item.imported)
    lines.append(
        f"{adopted} cluster(s) adopted; nothing was written to any cluster"
        + (f": run `roachcert plan {stack}` to see the update to what the stack declares" if adopted else "")
    )
    run.out(printable_lines("\n".join(lines)))
