"""roachcert's own exit statuses: the vocabulary every command and the CLI edge speak.

A Terraform engine's return code is never one of these: it is data (`returncode`) that a command reads."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # a problem the user can fix: bad input, a refusal, a failed Terraform or Vault call
    CHANGES = 2  # a plan has changes, or status found drift
    BUG = 3  # roachcert itself failed
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
