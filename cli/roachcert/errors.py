"""The one root of user-facing errors; the CLI edge turns each into one line and exit 1."""

from __future__ import annotations


class RoachcertError(Exception):
    """A problem the user can fix; its message is shown as is, without a traceback, and roachcert exits
    ExitStatus.ERROR (1). No subclass carries another program's exit code as roachcert's."""


class SpecError(RoachcertError):
    """One or more problems in a stack file, each a `FILE:LINE: field: message` line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PemError(RoachcertError):
    """A CA source that is not a clean set of usable CA certificates."""


class VaultError(RoachcertError):
    """Vault refused, is unreachable, sealed, or holds something other than the spec."""


class TerraformError(RoachcertError):
    """The Terraform engine is missing or a Terraform command failed."""


class CloudError(RoachcertError):
    """The CockroachDB Cloud API refused or failed."""


class GuardError(RoachcertError):
    """A safety guard refused the operation (destroy, stale plan, early rotation)."""
