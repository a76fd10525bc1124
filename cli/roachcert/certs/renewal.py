"""Renewal: re-issue only the client certificates past their threshold, each as a pair.

Due when `now >= not_before + 2/3 × lifetime` (step-ca's and Vault Agent's rule), or with `before`,
when `now >= not_after - before`. A certificate missing from the folder is due. Each folder is
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

from roachcert import environment
from roachcert.certs import issue as issuing
from roachcert.certs import layouts, pairs
from roachcert.certs.layouts import Layout
from roachcert.errors import RoachcertError
from roachcert.mask import mask
from roachcert.pem import cert_info
from roachcert.spec import Stack
from roachcert.stack_lock import DEFAULT_TIMEOUT

Outcome = Literal["fresh", "renewed", "failed"]


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
    note: Callable[[str], None] = issuing._note,
) -> list[Renewal]:
    """Each wanted user's certificate in folder_of(cluster): left alone while fresh, else re-issued."""
    by_folder: dict[Path, list[tuple[str, str]]] = {}
    for cluster, user in wanted:
        by_folder.setdefault(folder_of(cluster), []).append((cluster, user))
    results: list[Renewal] = []
    for folder in sorted(by_folder):  # one order: two runs never each hold a lock the other wants
        try:
            with pairs.folder_session(folder, lock_timeout, note):
                for cluster, user in by_folder[folder]:
                    chosen = layout or layouts.detect(folder, user)
                    results.append(
                        _one(stack, cluster, user, folder, vault, before, now(), vault_keygen, chosen, note)
                    )
        except RoachcertError as exc:  # the folder's lock (another run holds it past the timeout)
            message = mask(str(exc))
            done = {(r.cluster, r.user) for r in results}
            results += [
                Renewal(c, u, folder, "failed", message=message)
                for c, u in by_folder[folder]
                if (c, u) not in done
            ]
    return results


def _one(
    stack: Stack,
    cluster: str,
    user: str,
    folder: Path,
    vault: issuing.IssueVault,
    before: timedelta | None,
    now: datetime,
    vault_keygen: bool,
    layout: Layout,
    note: Callable[[str], None],
) -> Renewal:
    paths = issuing.client_files(folder, user)
    due_at: datetime | None = None
    with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
        info = cert_info(paths.cert.read_text(encoding="utf-8"))
        due_at = renew_at(info.not_before, info.not_after, before)
        if now < due_at and paths.key.exists():
            return Renewal(cluster, user, folder, "fresh", not_after=info.not_after, renew_at=due_at)
    try:
        issuing.check_key_mode(paths.key)  # unattended: never replace a key someone else put there
        result = issuing.issue_client(
            stack,
            cluster,
            user,
            folder,
            vault,
            force=True,
            locked=True,
            vault_keygen=vault_keygen,
            layout=layout,
            note=note,
        )
    except RoachcertError as exc:
        return Renewal(cluster, user, folder, "failed", renew_at=due_at, message=mask(str(exc)))
    with contextlib.suppress(OSError, ValueError):
        info = cert_info(result.files.cert.read_text(encoding="utf-8"))
        due_at = renew_at(info.not_before, info.not_after, before)
    return Renewal(cluster, user, folder, "renewed", not_after=result.not_after, renew_at=due_at)


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
    argv: list[str], renewed: list[Renewal], environ: Mapping[str, str] | None = None
) -> str | None:
    """Run the reload command once after renewals, under `environ` (hook_env's, without credentials);
    what went wrong, or None. The renewed users go in ROACHCERT_RENEWED (CLUSTER/USER, space-separated)."""
    env = dict(environment.current() if environ is None else environ)
    env["ROACHCERT_RENEWED"] = " ".join(f"{r.cluster}/{r.user}" for r in renewed)
    try:
        done = subprocess.run(argv, env=env, check=False, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return f"--exec {argv[0]}: {exc.strerror or exc}"
    if done.returncode != 0:
        return f"--exec {argv[0]} exited {done.returncode}"
    return None
