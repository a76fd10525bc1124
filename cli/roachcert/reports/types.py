"""The types of a plan report's view model: what `model.view` makes and every format reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from roachcert.pem import CertInfo
from roachcert.plan_summary import Action, PlanSummary, ResourceChange

if TYPE_CHECKING:
    from roachcert.bundles import Duplicate

RowState = Literal["added", "removed", "kept"]
AlertKind = Literal[
    "empty_stack",
    "id_moves_in_place",
    "expired",
    "expiring",
    "bundle_shrinks",
    "status",
    "unreadable_bundle",
    "drift",
    "other_resources",
    "not_yet_valid",
    "duplicate_certificate",
    "adopted",
    "cloud_not_read",
    "hand_set_ca",
]
MIN_FINGERPRINT_DIGITS = 16
# Kinds that can leave a cluster with the wrong trust, shown beside the deletions.
CAUTION_KINDS: frozenset[AlertKind] = frozenset(
    {"empty_stack", "id_moves_in_place", "adopted", "cloud_not_read", "hand_set_ca"}
)


@dataclass(frozen=True, kw_only=True)
class StackReport:
    """Everything a report of one stack's plan shows; the plan text is masked again on output anyway."""

    stack: str
    summary: PlanSummary
    now: datetime
    engine: str = ""  # e.g. "Terraform v1.15.5 (embedded)"
    provider_version: str = ""  # the provider version constraint, e.g. "~> 1.22"
    raw_plan: str = ""  # Terraform's own text of the plan this report shows
    raw_plan_source: str = ""  # which run it is from when a plan ran twice (adoption); "" for the only one
    log: str | None = None  # link or path to the full plan log
    sources: Mapping[str, str] = field(default_factory=dict)  # certificate sha256 -> "ca-name/issuer-name"
    users: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cluster -> its SQL users
    duplicates: Mapping[str, tuple[Duplicate, ...]] = field(
        default_factory=dict
    )  # cluster -> certs kept once
    path: str = ""  # the stack file as given on the command line
    saved: bool = False  # a plan with changes was saved for `apply`
    source: str = ""  # the stack file `apply` is told to take
    cloud_read: bool = True  # False: planned with --no-cloud-read (guard_facts.NOT_READ)
    hand_set: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cluster → hand-set CAs it drops
    unseen_ca: tuple[str, ...] = ()  # clusters where it replaces a CA that may be set by hand, unseen
    verified: str = ""  # "verified without Terraform: ..." when the no-change fast path answered


@dataclass(frozen=True)
class CertRow:
    state: RowState
    cert: CertInfo
    source: str | None  # "ca-name/issuer-name" when the stack names this certificate


@dataclass(frozen=True)
class ClusterChange:
    change: ResourceChange
    rows: tuple[CertRow, ...]  # the new bundle in order (added or kept), then what it loses
    users: tuple[str, ...]
    problem: str | None = None  # a bundle in the plan that is not clean PEM certificates

    @property
    def cluster(self) -> str:
        return self.change.cluster

    @property
    def action(self) -> Action:
        return self.change.action

    def count(self, state: RowState) -> int:
        return sum(1 for row in self.rows if row.state == state)


@dataclass(frozen=True)
class ChangeGroup:
    """Clusters whose CA changes the same way (same action, same certificates in and out)."""

    action: Action
    clusters: tuple[ClusterChange, ...]

    @property
    def rows(self) -> tuple[CertRow, ...]:
        return self.clusters[0].rows

    @property
    def problem(self) -> str | None:
        return self.clusters[0].problem


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    message: str  # what is wrong, without the cluster list
    clusters: tuple[str, ...] = ()
    users: tuple[str, ...] = ()  # who may be locked out
    sha256: str | None = None
    advice: str = ""  # what to do about it
    addresses: tuple[str, ...] = ()  # Terraform resource addresses, for drift and other resources


@dataclass(frozen=True)
class StackView:
    report: StackReport
    changes: tuple[ClusterChange, ...]  # clusters whose CA changes; no-ops left out
    groups: tuple[ChangeGroup, ...]  # the same, grouped; deletions excluded (they are listed by name)
    alerts: tuple[Alert, ...]
    unchanged: int
    digits: int  # SHA-256 hex digits that tell every certificate of the report apart

    @property
    def summary(self) -> PlanSummary:
        return self.report.summary

    @property
    def deletions(self) -> tuple[ClusterChange, ...]:
        return tuple(change for change in self.changes if change.action in ("delete", "replace"))

    def short(self, sha256: str) -> str:
        return sha256[: self.digits]
