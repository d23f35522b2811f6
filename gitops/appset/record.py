"""What the ApplicationSet controller keeps per set: the generated applications it wants (``desired``),
the ones the fleet runs (``released``), a change held by the deletion breaker, the rollout, the pause.

Written and read by :mod:`gitops.appset.controller` through the :class:`gitops.state.appsets.AppSetStore`
port (one JSON document per set, saved with compare-and-set), read by the workers' catalog (which adds
``released`` to the configured applications) and by ``gitops appset status`` / ``gitops status``.
Key design choice: a generated application is kept as the *rendered Application document* (what the
template produced, validated), not as engine values, so a stored set is re-validated by the same model
as a configuration file when it is read back, and an upgrade that changes the engine's values cannot
misread an old record. ``from_json`` refuses anything malformed with a StateError naming the set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from gitops.appset.generated import GeneratedApp, fingerprint
from gitops.appset.rollout import RolloutState
from gitops.config.application import Application
from gitops.errors import StateError

FORMAT = 1


@dataclass(frozen=True)
class PendingChange:
    """Deletions (and moves to another cluster) the breaker holds until ``gitops appset approve``.
    ``id`` is a fingerprint of exactly this change: an approval of another change does not apply."""

    id: str
    deletes: tuple[str, ...]
    moves: tuple[str, ...]
    reason: str
    since: float
    approved: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "deletes": list(self.deletes), "moves": list(self.moves),
                "reason": self.reason, "since": self.since, "approved": self.approved}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> PendingChange:
        return PendingChange(str(data["id"]), tuple(map(str, data.get("deletes", ()))),
                             tuple(map(str, data.get("moves", ()))), str(data.get("reason", "")),
                             float(data.get("since", 0.0)), bool(data.get("approved", False)))


@dataclass(frozen=True)
class LastRun:
    """What the last run of the controller saw: element errors and generator failures (as text), whether
    the generation was complete, what it changed, when."""

    at: float = 0.0
    complete: bool = True
    errors: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    created: int = 0
    updated: int = 0
    deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "complete": self.complete, "errors": list(self.errors),
                "failures": list(self.failures), "notes": list(self.notes), "created": self.created,
                "updated": self.updated, "deleted": self.deleted}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> LastRun:
        return LastRun(float(data.get("at", 0.0)), bool(data.get("complete", True)),
                       tuple(map(str, data.get("errors", ()))), tuple(map(str, data.get("failures", ()))),
                       tuple(map(str, data.get("notes", ()))), int(data.get("created", 0)),
                       int(data.get("updated", 0)), int(data.get("deleted", 0)))


@dataclass(frozen=True)
class AppSetState:
    """Everything the controller keeps about one ApplicationSet (see the module docstring)."""

    name: str
    desired: Mapping[str, GeneratedApp] = field(default_factory=dict, hash=False)
    released: Mapping[str, GeneratedApp] = field(default_factory=dict, hash=False)
    pending: PendingChange | None = None
    rollout: RolloutState | None = None
    paused: bool = False
    last_run: LastRun = LastRun()
    kept: tuple[str, ...] = ()  # restored from a tombstone: never deleted while kept

    def with_(self, **changes: Any) -> AppSetState:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "name": self.name,
            "desired": [a.to_dict() for _, a in sorted(self.desired.items())],
            "released": [a.to_dict() for _, a in sorted(self.released.items())],
            "pending": self.pending.to_dict() if self.pending else None,
            "rollout": self.rollout.to_dict() if self.rollout else None,
            "paused": self.paused, "last_run": self.last_run.to_dict(), "kept": sorted(self.kept)},
            sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(name: str, text: str) -> AppSetState:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                shown = data.get("format") if isinstance(data, dict) else "?"
                raise ValueError(f"unknown record format {shown}")
            return AppSetState(
                name, {a.name: a for a in map(parse_app, data.get("desired", ()))},
                {a.name: a for a in map(parse_app, data.get("released", ()))},
                PendingChange.from_dict(data["pending"]) if data.get("pending") else None,
                RolloutState.from_dict(data["rollout"]) if data.get("rollout") else None,
                bool(data.get("paused", False)), LastRun.from_dict(data.get("last_run", {})),
                tuple(map(str, data.get("kept", ()))))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"the stored record of ApplicationSet {name!r} is unreadable: {exc}",
                             temporary=False) from None


def parse_app(data: Any) -> GeneratedApp:
    """A stored application document, validated as a configuration file would be (ValueError if not)."""
    if not isinstance(data, dict):
        raise ValueError("a generated application is not a mapping")
    try:
        Application.model_validate(data, by_name=True)
    except ValidationError as exc:
        raise ValueError(f"generated application {str(data.get('name'))[:64]!r} no longer validates: "
                         f"{exc.errors(include_url=False, include_input=False)[0]['msg']}") from None
    return GeneratedApp.of(data)


__all__ = ["AppSetState", "GeneratedApp", "LastRun", "PendingChange", "fingerprint", "parse_app"]
