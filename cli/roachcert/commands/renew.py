"""`roachcert renew STACK [CLUSTER [USER]]` / `--all`: re-issue the client certificates past their threshold."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from roachcert.certs.layouts import Layout
from roachcert.commands.args import (
    DEFAULT_LOCK_TIMEOUT,
    Format,
    FormatOpt,
    LockTimeoutOpt,
    StackArg,
    lock_timeout_seconds,
)
from roachcert.commands.cert_args import VaultKeygenOpt
from roachcert.commands.context import Runtime, of
from roachcert.errors import RoachcertError
from roachcert.exit_status import ExitStatus
from roachcert.mask import masked_strings

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from roachcert.certs.renewal import Renewal
    from roachcert.spec import Stack


def register(app: typer.Typer) -> None:
    app.command("renew")(renew)


def _duration(flag: str, text: str | None) -> timedelta | None:
    from roachcert.spec.durations import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text).delta
    except ValueError as exc:
        raise RoachcertError(f"{flag}: {exc}") from None


def renew(
    ctx: typer.Context,
    stack_file: StackArg,
    cluster: Annotated[
        str | None,
        typer.Argument(metavar="CLUSTER", help="Only this cluster's users.", show_default=False),
    ] = None,
    user: Annotated[
        str | None, typer.Argument(metavar="USER", help="Only this user.", show_default=False)
    ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every declared user of every cluster.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The folder `issue` wrote to (default certs/STACK/CLUSTER); with --all, the root holding "
            "one folder per cluster (default certs/STACK).",
            show_default=False,
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="Renew when less than this is left (like 12h). Default: past 2/3 of the lifetime.",
            show_default=False,
        ),
    ] = None,
    jitter: Annotated[
        str | None,
        typer.Option(
            "--jitter",
            help="Wait a random time up to this long first (like 5m), to spread a fleet's renewals.",
            show_default=False,
        ),
    ] = None,
    exec_cmd: Annotated[
        str | None,
        typer.Option(
            "--exec",
            help="Run this after a renewal changed something (split like a shell, run without one); the "
            "renewed CLUSTER/USER names are in $ROACHCERT_RENEWED.",
            show_default=False,
        ),
    ] = None,
    exec_env: Annotated[
        list[str] | None,
        typer.Option(
            "--exec-env",
            metavar="NAME",
            help="Pass this credential variable on to --exec's command (repeatable); by default it gets "
            "roachcert's environment without VAULT_TOKEN, COCKROACH_API_KEY, GITHUB_TOKEN, cloud keys and the like.",
            show_default=False,
        ),
    ] = None,
    output: FormatOpt = Format.text,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    vault_keygen: VaultKeygenOpt = False,
    layout: Annotated[
        Layout | None,
        typer.Option(
            "--layout",
            help="libpq, cockroach or jdbc (see `issue --layout`): a folder in another layout is switched "
            "to it (re-issued as one pair; the old layout's .pk8 or ca.crt goes). Default: the one each "
            "folder has.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Re-issue the client certificates past their threshold; leave the fresh ones untouched.

    Key and certificate are replaced as one pair (a folder link switched in one rename). A folder that
    cannot be used (key not the certificate's, another CN, an issuer the stack no longer trusts, links
    leading out of its pair) is re-issued whatever its dates, or reported `unusable`. `--layout`
    switches a folder to that layout (a re-issue). Exit 0 when every certificate is fresh or renewed, 1
    when any failed or is unusable (each named on its own line). With --format json, stdout holds only
    the summary (the --exec command's output goes to stderr).
    """
    run = of(ctx)
    from roachcert.certs import issue as issuing
    from roachcert.certs import renewal
    from roachcert.spec import load_stack

    if all_users and cluster:
        raise RoachcertError("give CLUSTER [USER], or --all, not both")
    if not all_users and not cluster:
        raise RoachcertError("give CLUSTER [USER] (or --all for every declared user)")
    wait = lock_timeout_seconds(lock_timeout)
    ahead = _duration("--before", before)
    spread = _duration("--jitter", jitter)
    argv = renewal.exec_argv(exec_cmd) if exec_cmd is not None else None
    _check_exec_env(exec_env or [], argv)
    stack = load_stack(stack_file)
    wanted = renewal.targets(stack, cluster, user)
    renewal.check_before(stack, wanted, ahead)
    if all_users:
        root = out or issuing.default_out(stack)

        def folder_of(name: str) -> Path:
            return root / name
    else:

        def folder_of(name: str) -> Path:
            return out or issuing.default_out(stack, name)

    if spread is not None:
        time.sleep(random.uniform(0, spread.total_seconds()))  # noqa: S311 (spreading load, not a secret)
    results = renewal.renew(
        stack,
        wanted,
        folder_of,
        run.real_or_given().vault(stack),
        environ=run.environ,
        before=ahead,
        lock_timeout=wait,
        vault_keygen=vault_keygen,
        layout=layout,
        note=run.err,
    )
    renewed = [r for r in results if r.outcome == "renewed"]
    exec_error = None
    if argv is not None and renewed:  # with --format json, stdout holds the summary and nothing else
        exec_error = _run_exec(
            run, argv, renewed, stack, exec_env or [], stdout_to_stderr=output is Format.json
        )
    if output is Format.json:
        run.out(json.dumps(masked_strings(_summary(stack.name, results, exec_error), run.mask), indent=2))
    else:
        _print(run, results, exec_error)
    if exec_error or any(r.outcome in ("failed", "unusable") for r in results):
        raise typer.Exit(ExitStatus.ERROR)


def _check_exec_env(names: list[str], argv: list[str] | None) -> None:
    from roachcert.certs.hook_env import check_names

    check_names(names)
    if names and argv is None:
        raise RoachcertError("--exec-env passes a variable on to --exec's command; give --exec too")


def _run_exec(
    run: Runtime,
    argv: list[str],
    renewed: list[Renewal],
    stack: Stack,
    passed: list[str],
    *,
    stdout_to_stderr: bool,
) -> str | None:
    """The reload command, with roachcert's environment minus its credentials (`--exec-env` keeps one)."""
    from roachcert.certs import renewal
    from roachcert.certs.hook_env import hook_environment
    from roachcert.vault.logins import auth_from_env

    environ = run.environ
    environ = hook_environment(environ, stack, passed, login=auth_from_env(environ))
    return renewal.run_after(argv, renewed, environ, stdout_to_stderr=stdout_to_stderr)


def _summary(name: str, results: list[Renewal], exec_error: str | None) -> dict[str, object]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    from roachcert.certs.renewal import OUTCOMES

    counts: dict[str, int] = {kind: sum(1 for r in results if r.outcome == kind) for kind in OUTCOMES}
    return {
        "stack": name,
        **counts,
        "exec_error": exec_error,
        "certificates": [
            {
                "cluster": r.cluster,
                "user": r.user,
                "folder": str(r.folder.absolute()),
                "outcome": r.outcome,
                "not_after": when(r.not_after),
                "renew_at": when(r.renew_at),
                "error": r.message or None,
                "reason": r.reason or None,
            }
            for r in results
        ],
    }


def _print(run: Runtime, results: list[Renewal], exec_error: str | None) -> None:
    for r in results:
        name = f"{r.cluster}/{r.user}"
        if r.outcome == "failed":
            run.out(f"FAILED {name}: {r.message}")
        elif r.outcome == "unusable":
            run.out(f"UNUSABLE {name}: {r.message}")
        elif r.outcome == "renewed" and r.not_after is not None:
            why = f"; {r.reason}" if r.reason else ""
            run.out(f"renewed {name} (expires {r.not_after:%Y-%m-%d %H:%M} UTC{why})")
        elif r.renew_at is not None:
            run.out(f"fresh {name} (renews after {r.renew_at:%Y-%m-%d %H:%M} UTC)")
    if exec_error:
        run.out(f"FAILED {exec_error}")
    counts = [
        sum(1 for r in results if r.outcome == kind) for kind in ("renewed", "fresh", "failed", "unusable")
    ]
    unusable = f", {counts[3]} unusable" if counts[3] else ""  # the line stays as it was without any
    run.out(f"{counts[0]} renewed, {counts[1]} fresh, {counts[2]} failed{unusable}")
