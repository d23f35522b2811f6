"""The values a fleet plan is made of: per object, per (application, cluster) pair, for the fleet.

Built by :mod:`gitops.fleetplan.orchestrate` (and the pure diff helpers of :mod:`gitops.fleetplan.diff`),
printed by :mod:`gitops.fleetplan.report`. Key design choice: frozen values with a ``to_dict`` each, so
the JSON output (schema ``gitops.dev/plan/v1``, docs/plan.md) is exactly these fields and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA = "gitops.dev/plan/v1"


class Status(StrEnum):
    """What becomes of one (application, cluster) pair."""

    ADDED = "added"          # only at NEW
    REMOVED = "removed"      # only at BASE
    CHANGED = "changed"      # at both, its desired objects differ
    UNCHANGED = "unchanged"  # at both, the same desired objects (or it cannot change)
    ERROR = "error"          # could not be rendered or generated: unknown, reported


class Mode(StrEnum):
    """How a pair's object diffs were made."""

    DRY_RUN = "server-side dry-run"  # desired at NEW against the live cluster (the engine's plan)
    OFFLINE = "offline"              # rendered BASE vs rendered NEW, no cluster contacted
    NONE = "none"                    # nothing to compare (unchanged without rendering, or an error)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``path`` as ``gitops diff`` spells it, values for display (cut, masked)."""

    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ObjectChange:
    """One object of a pair: ``change`` is added, removed, changed or error (``message`` says why)."""

    object: str
    change: str
    fields: tuple[FieldChange, ...] = ()
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "change": self.change, "fields": [f.to_dict() for f in self.fields],
                "message": self.message}


@dataclass(frozen=True)
class PairPlan:
    """One (application, cluster) pair: its status, how it was diffed and what differs."""

    application: str
    cluster: str
    status: Status
    origin: str = "Application"           # "Application" or "ApplicationSet NAME"
    mode: Mode = Mode.NONE
    reason: str = ""                      # why offline (or why not rendered)
    objects: tuple[ObjectChange, ...] = ()
    diff: str = ""                        # unified YAML diff, Secret values masked, long values cut
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.application}@{self.cluster}"

    def to_dict(self) -> dict[str, Any]:
        return {"application": self.application, "cluster": self.cluster, "status": str(self.status),
                "origin": self.origin, "mode": str(self.mode), "reason": self.reason,
                "objects": [o.to_dict() for o in self.objects], "diff": self.diff, "error": self.error}


@dataclass(frozen=True)
class Side:
    """BASE or NEW: the repository's tree it was read from (``revision``: a commit id, or
    ``worktree:<digest>``) and how a person would name it."""

    revision: str
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"revision": self.revision, "label": self.label}


@dataclass(frozen=True)
class FleetPlan:
    """Every pair, sorted by (application, cluster), and the plan-level problems: generators that failed
    as a whole (their pairs are unknown) and elements that failed, per ApplicationSet."""

    repository: str
    base: Side
    new: Side
    pairs: tuple[PairPlan, ...]
    problems: tuple[str, ...] = ()
    failed: bool = False                  # a generator failed as a whole: the set of pairs is unknown
    renders: int = 0                      # renders actually run (after the cache)
    notes: tuple[str, ...] = field(default=())

    def count(self, status: Status) -> int:
        return sum(1 for p in self.pairs if p.status is status)

    @property
    def summary(self) -> dict[str, int]:
        return {"add": self.count(Status.ADDED), "change": self.count(Status.CHANGED),
                "remove": self.count(Status.REMOVED), "error": self.count(Status.ERROR) + len(self.problems),
                "unchanged": self.count(Status.UNCHANGED)}

    @property
    def has_changes(self) -> bool:
        s = self.summary
        return bool(s["add"] or s["change"] or s["remove"] or s["error"])

    def exit_code(self) -> int:
        """0 nothing changes; 1 something changes or a pair could not be planned; 2 the plan is incomplete
        (a generator failed as a whole)."""
        if self.failed:
            return 2
        return 1 if self.has_changes else 0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "repository": self.repository, "base": self.base.to_dict(),
                "new": self.new.to_dict(), "summary": self.summary, "complete": not self.failed,
                "problems": list(self.problems), "notes": list(self.notes), "renders": self.renders,
                "pairs": [p.to_dict() for p in self.pairs]}
