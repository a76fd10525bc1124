"""`roachcert issue STACK CLUSTER USER` and `issue STACK --all`: client certificates from Vault."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, cast

import typer

from roachcert.certs.layouts import Layout
from roachcert.commands.args import DEFAULT_LOCK_TIMEOUT, LockTimeoutOpt, StackArg, lock_timeout_seconds
from roachcert.commands.cert_args import (
    LayoutOpt,
    MaybeClusterArg,
    MaybeUserArg,
    NoFetchOpt,
    SslRootCertOpt,
    VaultKeygenOpt,
    cluster_ca_file,
    cluster_ca_files,
    note_sslrootcert,
)
from roachcert.commands.context import Runtime, of
from roachcert.errors import RoachcertError
from roachcert.exit_status import ExitStatus

if TYPE_CHECKING:
    from roachcert.certs.issue import IssueFailure, IssueResult
    from roachcert.spec import Stack


def register(app: typer.Typer) -> None:
    app.command("issue")(issue)


def issue(
    ctx: typer.Context,
    stack_file: StackArg,
    cluster: MaybeClusterArg = None,
    user: MaybeUserArg = None,
    all_users: Annotated[
        bool, typer.Option("--all", help="Every declared user of every cluster, concurrently.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the files. Default: certs/STACK/CLUSTER under the current folder. With --all, "
            "the root under which each cluster gets its own folder (default certs/STACK).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key (atomically).")] = False,
    sslrootcert: SslRootCertOpt = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=64, help="With --all: certificates at once.")
    ] = 8,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    vault_keygen: VaultKeygenOpt = False,
    layout: LayoutOpt = Layout.libpq,
    no_fetch: NoFetchOpt = False,
) -> None:
    """Issue a client certificate from the CA's current issuer and print the connection URL.

    The key is made here and only its CSR goes to Vault (`/sign/ROLE`). Writes client.USER.key
    (created 0600, never overwritten without --force), client.USER.crt and
    client-ca.crt (the CA bundle the cluster trusts) into the --out folder; the URL goes to stdout.
    """
    run = of(ctx)
    from roachcert.certs import issue as issuing
    from roachcert.spec import load_stack

    if all_users and (cluster or user):
        raise RoachcertError("give CLUSTER and USER, or --all, not both")
    if not all_users and not (cluster and user):
        raise RoachcertError("give CLUSTER and USER (or --all for every declared user)")
    stack = load_stack(stack_file)
    wait = lock_timeout_seconds(lock_timeout)
    if all_users:
        _issue_all(run, stack, out, force, jobs, wait, vault_keygen, layout, sslrootcert, no_fetch)
        return
    assert cluster is not None
    assert user is not None
    issuing.check_user(stack, cluster, user)
    folder = out or issuing.default_out(stack, cluster)
    issuing.refuse_existing_key(folder, user, force)
    # Before anything is written: a refused CA (not a CA, not the pinned one) leaves the folder as it was.
    notes: list[str] = []  # shown once the certificate is issued: a failure stays one line
    root = cluster_ca_file(run, stack, cluster, sslrootcert, no_fetch, notes)
    result = issuing.issue_client(
        stack,
        cluster,
        user,
        folder,
        run.real_or_given().vault(stack),
        environ=run.environ,
        force=force,
        sslrootcert=root,
        lock_timeout=wait,
        vault_keygen=vault_keygen,
        layout=layout,
        note=run.err,
    )
    for line in notes:
        run.err(line)
    run.err(
        f"wrote {result.files.key} (0600), {result.files.cert.name} (expires "
        f"{result.not_after:%Y-%m-%d %H:%M} UTC), {result.files.ca.name}"
    )
    note_sslrootcert(run, root)
    run.out(result.url)


def _issue_all(
    run: Runtime,
    stack: Stack,
    out: Path | None,
    force: bool,
    jobs: int,
    lock_timeout: float,
    vault_keygen: bool,
    layout: Layout,
    sslrootcert: Path | None,
    no_fetch: bool,
) -> None:
    from roachcert.certs import issue as issuing

    pairs = issuing.all_users(stack)
    if not pairs:
        run.out(f"{stack.source}: no users declared on any cluster; nothing to issue")
        return
    clusters = dict.fromkeys(cluster for cluster, _user in pairs)
    notes: list[str] = []
    roots = cluster_ca_files(run, stack, list(clusters), sslrootcert, no_fetch, notes, jobs)
    with _bar(run, len(pairs)) as done:
        outcomes = issuing.issue_all(
            stack,
            out or issuing.default_out(stack),
            run.real_or_given().vault(stack),
            environ=run.environ,
            force=force,
            jobs=jobs,
            on_done=done,
            lock_timeout=lock_timeout,
            vault_keygen=vault_keygen,
            layout=layout,
            note=run.err,
            sslrootcerts=roots,
        )
    for line in notes:
        run.err(line)
    failed = _summary(run, stack.name, outcomes)
    if failed:
        raise typer.Exit(ExitStatus.ERROR)


@contextlib.contextmanager
def _bar(run: Runtime, total: int) -> Iterator[Callable[[object], None]]:
    """`issue --all`'s progress bar: told each finished certificate; drawn by rich on a terminal only."""
    # rich draws on a real terminal file only (off elsewhere); the bar holds counts, no secret. Where it
    # cannot draw (stderr is no terminal and the variables that make rich draw anyway are unset), rich
    # is not imported at all: it is most of what `--all` would import for nothing.
    stream = run.err_stream()  # the run's stderr, masked
    forced = any(name in run.environ for name in ("FORCE_COLOR", "TTY_COMPATIBLE"))
    if not (forced or stream.isatty()):
        yield lambda _outcome: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    lock = threading.Lock()
    columns = (TextColumn("issuing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # rich uses only write/flush/isatty of the IO it is given, and reads the run's environment, not ours.
    err = Console(file=cast("IO[str]", stream), _environ=run.environ)
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("issue", total=total)

        def done(_outcome: object) -> None:
            with lock:
                progress.advance(task)

        yield done


def _summary(run: Runtime, name: str, outcomes: list[IssueResult | IssueFailure]) -> int:
    """One line per cluster, then each failure on its own line: readable for 500 users too."""
    from roachcert.certs.issue import IssueResult

    per_cluster: dict[str, list[IssueResult | IssueFailure]] = {}
    for outcome in outcomes:
        per_cluster.setdefault(outcome.cluster, []).append(outcome)
    width = max(len(cluster) for cluster in per_cluster)
    run.out(f"{name}: client certificates")
    failures: list[str] = []
    for cluster, items in per_cluster.items():
        issued = [item for item in items if isinstance(item, IssueResult)]
        failed = [item for item in items if not isinstance(item, IssueResult)]
        line = f"  {cluster:<{width}}  {len(issued)} issued"
        if issued:
            soonest = min(item.not_after for item in issued)
            line += f" in {issued[0].files.key.parent} (expire {soonest:%Y-%m-%d %H:%M} UTC)"
        if failed:
            line += f", {len(failed)} FAILED"
        run.out(line)
        failures += [f"FAILED {item.cluster}/{item.user}: {item.message}" for item in failed]
    for failure in failures:
        run.out(failure)
    count = len(failures)
    hint = "; `roachcert connect-url STACK CLUSTER USER` prints each URL" if count < len(outcomes) else ""
    run.out(f"{len(outcomes) - count} issued, {count} failed{hint}")
    return count
