"""What a failed Terraform command means: its error, and the ones with a known remedy said in one line.

A busy state lock ("Error acquiring the state lock") and a saved plan made stale by another run
("Saved plan is stale") happen in normal team use of a shared backend; Terraform's own text for them is
a dozen lines of advice about `-lock=false`. Pure: the runner raises what `command_error` returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from roachcert.errors import TerraformError

LOCK_HEADLINE = "Error acquiring the state lock"
STALE_HEADLINE = "Saved plan is stale"
# The pg backend's lock is a PostgreSQL advisory lock: it records nobody, and the Lock Info Terraform
# prints with these messages is the *requesting* run's own, so it must not be shown as the holder.
_PG_REASONS = ("Workspace is already locked", "Already locked for workspace creation")
_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*?)\s*$")
_CREATED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)?(?: \+0000)? UTC$")
_TAIL_LINES = 25


class TerraformCommandError(TerraformError):
    """A Terraform command exited with an error; the message ends with the masked tail of its output."""

    def __init__(self, command: str, returncode: int, output: str, tool: str = "terraform") -> None:
        self.command = command
        # Terraform's code, not roachcert's exit status (that stays ExitStatus.ERROR for every TerraformError).
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.rstrip().splitlines()[-_TAIL_LINES:])
        super().__init__(f"{tool} {command} failed (exit {returncode})" + (f":\n{tail}" if tail else ""))


class KnownTerraformError(TerraformCommandError):
    """A failure with a known remedy: one line instead of Terraform's output (kept in `.output`)."""

    def __init__(self, command: str, returncode: int, output: str, message: str) -> None:
        super().__init__(command, returncode, output)
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


class StateLockError(KnownTerraformError):
    """Another run holds the state lock: who (when the backend knows) and how to go on."""


class StalePlanError(KnownTerraformError):
    """`apply PLAN` refused: the state changed after the plan was made."""


class StatePathError(KnownTerraformError):
    """The local backend's state path is a folder: not a lock, and the same on every run until moved."""


@dataclass(frozen=True)
class LockInfo:
    reason: str  # the backend's own error message
    id: str = ""
    who: str = ""
    operation: str = ""  # "apply", "plan", …
    created: str = ""

    @property
    def holder_unknown(self) -> bool:
        return any(self.reason.startswith(prefix) for prefix in _PG_REASONS)


def parse_lock_error(output: str) -> LockInfo | None:
    """The lock error in a Terraform command's output, or None when there is none."""
    if LOCK_HEADLINE not in output:
        return None
    after = output.split(LOCK_HEADLINE, 1)[1]
    reason = ""
    fields: dict[str, str] = {}
    for line in after.splitlines():
        if line.startswith("Error message:"):
            reason = line.removeprefix("Error message:").strip()
            continue
        match = _FIELD.match(line)
        if match and match.group(1) not in fields:
            fields[match.group(1)] = match.group(2)
        elif fields and not line.strip():
            break  # the Lock Info block ends at the first blank line
    operation = fields.get("Operation", "").removeprefix("OperationType").lower()
    created = fields.get("Created", "")
    short = _CREATED.match(created)
    return LockInfo(
        reason=reason,
        id=fields.get("ID", ""),
        who=fields.get("Who", ""),
        operation=operation,
        created=f"{short.group(1)} UTC" if short else created,
    )


def lock_message(command: str, info: LockInfo, workdir: Path | None, tool: str = "terraform") -> str:
    """One line: the state is locked, by whom when the backend knows, and how to go on (`tool` is the
    engine's command: terraform or tofu)."""
    said = f'"{info.reason}"' if info.reason else "no reason given"
    if info.holder_unknown:
        return (
            f"{tool} {command} could not lock the state: another {_run(tool)} holds it "
            f"(pg backend says {said}; PostgreSQL does not record who holds its lock). "
            "Wait for that run to finish, then run again; there is nothing to force-unlock: "
            "the lock goes when the holder's database session ends"
        )
    held = [f"lock ID {info.id}" if info.id else "", f"held by {info.who}" if info.who else ""]
    if info.operation:
        held.append(f"for {info.operation}")
    if info.created:
        held.append(f"since {info.created}")
    holder = " ".join(part for part in held if part)
    where = f" in {workdir}" if workdir is not None else ""
    unlock = (
        f"; if that run died, release the lock with `{tool} force-unlock {info.id}`{where}" if info.id else ""
    )
    return (
        f"{tool} {command} could not lock the state: another {_run(tool)} holds it "
        f"({holder + '; ' if holder else ''}backend says {said}). "
        f"Wait for that run to finish, then run again{unlock}"
    )


def _run(tool: str) -> str:
    return "OpenTofu run" if tool == "tofu" else "Terraform run"


# The local backend reading (or locking) a state path that is a folder: Go's "read PATH: is a directory".
_STATE_IS_DIR = re.compile(r"\b(?:read|open) (?P<path>[^\n:]+): is a directory")


def state_folder(output: str) -> str | None:
    """The local state path that is a folder, when that is what Terraform's output says (read before the lock
    error: the local backend reports it inside "Error acquiring the state lock" too)."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _STATE_IS_DIR.search(line)
        # Only when the error is about the state (on its line, or the headline just above it).
        context = " ".join(lines[max(0, index - 2) : index + 1]).lower()
        if match and "state" in context:
            return match.group("path").strip()
    return None


def state_folder_message(command: str, path: str, workdir: Path | None, tool: str = "terraform") -> str:
    where = f" (in {workdir})" if workdir is not None else ""
    return (
        f"{tool} {command} failed: the local state path {path}{where} is a folder, not a file; "
        "point terraform.backend.config.path at a file, or move the folder away"
    )


def is_stale_plan(output: str) -> bool:
    return STALE_HEADLINE in output


def stale_message(tool: str = "terraform") -> str:
    return (
        f"{tool} apply failed: the saved plan is stale (the state changed after it was made: another run "
        "applied meanwhile); nothing was applied: run `roachcert plan` again and review it"
    )


def command_error(
    command: str, returncode: int, output: str, workdir: Path | None = None, tool: str = "terraform"
) -> TerraformCommandError:
    """The error a failed `tool command` raises: one with a known remedy when its output names one."""
    folder = state_folder(output)
    if folder is not None:
        return StatePathError(
            command, returncode, output, state_folder_message(command, folder, workdir, tool)
        )
    lock = parse_lock_error(output)
    if lock is not None:
        return StateLockError(command, returncode, output, lock_message(command, lock, workdir, tool))
    if command == "apply" and is_stale_plan(output):
        return StalePlanError(command, returncode, output, stale_message(tool))
    return TerraformCommandError(command, returncode, output, tool)
