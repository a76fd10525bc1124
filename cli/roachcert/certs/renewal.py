"""Renewal: re-issue only the client certificates past their threshold, each as a pair.

Due when `now >= not_before + 2/3 × lifetime` (step-ca's and Vault Agent's rule), or with `before`,
when `now >= not_after - before`. A certificate missing from the folder is due; so is one the folder
cannot use, whatever its dates (usable.judge: the judgement `certs` shows), and one asked for in another
layout. An unusable folder that cannot be re-issued is its own outcome, `unusable`, naming the folder. Each folder is
checked and renewed under its lock (pairs.folder_session), and the certificate is read again under
it: a second run waiting on the lock finds it fresh and does nothing, so cron and systemd timers on
one folder never renew twice or tear a pair.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from roachcert.certs import inventory, layouts, pairs, usable
from roachcert.certs import issue as issuing
from roachcert.certs.layouts import Layout
from roachcert.errors import RoachcertError
from roachcert.pem import cert_info
from roachcert.spec import Stack
from roachcert.stack_lock import DEFAULT_TIMEOUT, Note, ignore_note

Outcome = Literal["fresh", "renewed", "failed", "unusable"]
OUTCOMES: tuple[Outcome, ...] = ("renewed", "fresh", "failed", "unusable")


_STDERR_FD = 2  # the process's stderr, not sys.stderr (a test may have replaced that object)


class RenewError(RoachcertError):
    """Renewal cannot run as asked (a --before beyond the role's max TTL, a bad --exec)."""


@dataclass(frozen=True)
class Renewal:
    cluster: str
    user: str
    folder: Path
    outcome: Outcome
    not_after: datetime | None = None  # of the certificate on disk after the run
    renew_at: datetime | None = None  # when it becomes due
    message: str = ""
    reason: str = ""  # why it was re-issued before it was due, or why it is unusable


def renew_at(not_before: datetime, not_after: datetime, before: timedelta | None) -> datetime:
    if before is not None:
        return not_after - before
    return not_before + (not_after - not_before) * 2 / 3


def targets(stack: Stack, cluster: str | None, user: str | None) -> list[tuple[str, str]]:
    """(cluster, user) pairs: one user, one cluster's users, or (no cluster) every declared user."""
    if cluster is None:
        return issuing.all_users(stack)
    if user is not None:
        issuing.check_user(stack, cluster, user)
        return [(cluster, user)]
    if cluster not in stack.clusters:
        known = ", ".join(stack.clusters) or "none"
        raise issuing.IssueError(f"no cluster {cluster!r} in stack {stack.name} (clusters: {known})")
    return [(cluster, name) for name in stack.clusters[cluster].users]


def check_before(stack: Stack, wanted: list[tuple[str, str]], before: timedelta | None) -> None:
    """A --before as long as the role's max TTL would renew every certificate on every run."""
    if before is None:
        return
    for cluster, _user in wanted:
        try:
            _name, ca = issuing.signing_ca(stack, cluster)
        except issuing.IssueError:
            continue  # renewing that cluster fails on its own line
        if before >= ca.role.max_ttl.delta:
            raise RenewError(
                f"--before {_show(before)} is not shorter than role {ca.role.name}'s max_ttl "
                f"{ca.role.max_ttl} (cluster {cluster}): every run would renew"
            )


def _show(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"


def renew(
    stack: Stack,
    wanted: list[tuple[str, str]],
    folder_of: Callable[[str], Path],
    vault: issuing.IssueVault,
    *,
    before: timedelta | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    lock_timeout: float = DEFAULT_TIMEOUT,
    vault_keygen: bool = False,
    layout: Layout | None = None,
    note: Note = ignore_note,
    environ: Mapping[str, str],
) -> list[Renewal]:
    """Each wanted user's certificate in folder_of(cluster): left alone while fresh, else re-issued."""
    by_folder: dict[Path, list[tuple[str, str]]] = {}
    for cluster, user in wanted:
        by_folder.setdefault(folder_of(cluster), []).append((cluster, user))
    results: list[Renewal] = []
    issuers = usable.issuers_by_serial(inventory.load(environ, stack.name, note))
    for folder in sorted(by_folder):  # one order: two runs never each hold a lock the other wants
        try:
            with pairs.folder_session(folder, lock_timeout, note):
                for cluster, user in by_folder[folder]:
                    verdict = usable.judge(stack, cluster, user, folder, issuers)
                    job = _Job(stack, cluster, user, folder, verdict, layout, environ)
                    results.append(_one(job, vault, before, now(), vault_keygen, note))
        except RoachcertError as exc:  # the folder's lock (another run holds it past the timeout)
            message = str(exc)  # masked where it is shown, like every message
            done = {(r.cluster, r.user) for r in results}
            results += [
                Renewal(c, u, folder, "failed", message=message)
                for c, u in by_folder[folder]
                if (c, u) not in done
            ]
    return results


@dataclass(frozen=True)
class _Job:
    stack: Stack
    cluster: str
    user: str
    folder: Path
    verdict: usable.Verdict  # judged under the folder's lock
    layout: Layout | None  # asked for (--layout); None keeps the folder's
    environ: Mapping[str, str]


def _one(
    job: _Job,
    vault: issuing.IssueVault,
    before: timedelta | None,
    now: datetime,
    vault_keygen: bool,
    note: Callable[[str], None],
) -> Renewal:
    cluster, user, folder, verdict = job.cluster, job.user, job.folder, job.verdict
    due_at = renew_at(verdict.info.not_before, verdict.info.not_after, before) if verdict.info else None
    due = due_at is None or now >= due_at
    held = layouts.detect(folder, user)
    layout = job.layout or held
    switch = f"layout {held} -> {layout}" if layout is not held and verdict.complete else ""
    if verdict.usable and verdict.info and not due and not switch:
        return Renewal(cluster, user, folder, "fresh", not_after=verdict.info.not_after, renew_at=due_at)
    if verdict.problem and not verdict.repairable:
        return _unusable(job, due_at, "not replacing a link someone else made; fix or remove it")
    root = issuing.sslrootcert_for(job.stack.clusters[cluster], job.environ)
    if switch and verdict.usable and not due and layout is layouts.Layout.cockroach and not root.is_file():
        # Only the switch asks for a re-issue: without a server CA to copy there would be no ca.crt,
        # the folder would still read as libpq, and every run would re-issue it.
        message = (
            f"--layout cockroach copies the cluster's server CA to {layouts.SERVER_CA_NAME}: "
            f"{root} does not exist (set the cluster's server_ca)"
        )
        return Renewal(cluster, user, folder, "failed", renew_at=due_at, message=message)
    try:
        # Unattended: never replace a key someone else put there.
        issuing.check_key_mode(issuing.client_files(folder, user).key)
        result = issuing.issue_client(
            job.stack,
            cluster,
            user,
            folder,
            vault,
            environ=job.environ,
            force=True,
            locked=True,
            vault_keygen=vault_keygen,
            layout=layout,
            note=note,
        )
    except RoachcertError as exc:
        if verdict.problem:
            return _unusable(job, due_at, f"re-issuing failed: {exc}")
        return Renewal(cluster, user, folder, "failed", renew_at=due_at, message=str(exc))
    if held is layouts.Layout.cockroach and layout is not held and layouts.drop_server_ca(folder):
        note(f"note: removed {layouts.server_ca_path(folder)} (the cockroach layout's server CA copy)")
    with contextlib.suppress(OSError, ValueError):
        info = cert_info(result.files.cert.read_text(encoding="utf-8"))
        due_at = renew_at(info.not_before, info.not_after, before)
    reason = f"unusable: {verdict.problem}" if verdict.problem else switch
    return Renewal(
        cluster, user, folder, "renewed", not_after=result.not_after, renew_at=due_at, reason=reason
    )


def _unusable(job: _Job, due_at: datetime | None, why_not: str) -> Renewal:
    """A folder that cannot be used and was not made usable: named, so monitoring sees which."""
    problem = job.verdict.problem
    message = f"{job.folder.absolute()}: {problem}; {why_not}"
    return Renewal(
        job.cluster, job.user, job.folder, "unusable", renew_at=due_at, message=message, reason=problem
    )


def exec_argv(command: str) -> list[str]:
    """`--exec` split like a shell would, but run without one: no expansion, no injection."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise RenewError(f"--exec {command!r}: {exc}") from None
    if not argv:
        raise RenewError("--exec is empty; give the command to run after a renewal")
    return argv


def run_after(
    argv: list[str],
    renewed: list[Renewal],
    environ: Mapping[str, str],
    *,
    stdout_to_stderr: bool = False,
) -> str | None:
    """Run the reload command once after renewals, under `environ` (hook_env's, without credentials);
    what went wrong, or None. The renewed users go in ROACHCERT_RENEWED (CLUSTER/USER, space-separated).
    `stdout_to_stderr`: our stdout is a document (`--format json`), so the command's output goes to stderr."""
    env = dict(environ)
    env["ROACHCERT_RENEWED"] = " ".join(f"{r.cluster}/{r.user}" for r in renewed)
    out = _STDERR_FD if stdout_to_stderr else None
    try:
        done = subprocess.run(argv, env=env, check=False, stdin=subprocess.DEVNULL, stdout=out)
    except OSError as exc:
        return f"--exec {argv[0]}: {exc.strerror or exc}"
    if done.returncode != 0:
        return f"--exec {argv[0]} exited {done.returncode}"
    return None
