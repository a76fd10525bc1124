"""The status of a cluster's client CA, read one way by every command (plan, apply's re-read, adopt,
status): an empty status is NOT_SET, and a status the API's document does not list stops the command in one
line instead of being taken for "no CA"."""

from __future__ import annotations

from roachcert.cloud.client import ClientCaStatus
from roachcert.errors import CloudError
from roachcert.escape import quoted

KNOWN_STATUSES = ("NOT_SET", "IS_SET", "PENDING", "FAILED")
# A cluster no state tracks and roachcert never set, read FAILED with no certificate (the API may blank the
# certificate of a failed change): what every output says of it (guard_facts' UNSEEN).
UNSEEN_LINE = (
    "the Cloud API answers FAILED with no certificate, and roachcert never set this cluster's CA: a CA set "
    "outside roachcert (whose last change failed) may still be in force"
)
UNSEEN_ADVICE = (
    "check what the cluster trusts in the Cloud Console; save a CA you keep as a PEM file and declare it "
    "(a pem_file CA), or apply with --allow-replace-ca to set the declared bundle over it"
)


def unknown_status(status: str) -> str:
    # quoted() escapes once; printable() then repr() showed every escape doubled.
    shown = quoted(status if len(status) <= 40 else status[:39] + "…")
    return (
        f"the Cloud API answered an unknown client CA status {shown} (not NOT_SET, IS_SET, PENDING or "
        "FAILED): roachcert does not act on a guess; check the cluster in the Cloud Console"
    )


def read_status(cluster: str, cluster_id: str, answer: ClientCaStatus) -> str:
    """The status of one Cloud API answer, as plan, apply, adopt and status all take it."""
    status = answer.status or "NOT_SET"
    if status not in KNOWN_STATUSES:
        raise CloudError(f"{cluster} ({cluster_id}): {unknown_status(status)}")
    return status


def holds_ca(status: str, pem: str) -> bool:
    """The cluster trusts a CA now (FAILED keeps the one it had)."""
    return bool(pem.strip()) and status in ("IS_SET", "FAILED")
