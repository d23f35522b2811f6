"""Values the state store keeps: per-target status, operations (history) and events.

Built by :func:`records_from_result` from a ``ReconcileResult`` of the engine (read through the
:class:`ResultLike` Protocol, typed with the pipeline's result values (gitops.results) and the typed
:class:`gitops.errors.Failure`, so state does not import the engine module), stored as JSON by the
stores, read back by ``gitops status``, the workers and the HTTP API. The failure is recorded as the
typed value (kind, message, temporary, retry hint); ``error`` and ``temporary`` repeat its message and
flag for readers of the plain fields and of records written before it was kept. Key design choice:
every value is bounded before it is stored — long strings are cut, object and drift lists are capped
with a count of what was dropped — so one huge manifest or a hostile error message can never blow up
Redis or the dashboard.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from gitops.errors import Failure
from gitops.results import FieldDrift, ObjectResult
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger

MAX_TEXT = 4096
MAX_VALUE = 1024
MAX_OBJECTS = 1000
MAX_DRIFT = 500


def clip(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` as a string of at most ``limit`` characters (marked when cut)."""
    value = text if isinstance(text, str) else str(text)
    if len(value) <= limit:
        return value
    keep = max(0, limit - 24)
    return value[:keep] + f"...[{len(value) - keep} more]"


def _clip_opt(text: object) -> str | None:
    return None if text is None else clip(text)


def _value_text(value: object) -> str:
    """A drift value as short JSON text (secrets are already masked by the plan)."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, MAX_VALUE)


def _epoch(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _clip_failure(failure: Failure | None) -> Failure | None:
    if failure is None:
        return None
    return replace(failure, kind=clip(failure.kind, 128), message=clip(failure.message))


def _failure_from(data: object) -> Failure | None:
    """The failure of a stored record (None for records written before failures were kept)."""
    if not isinstance(data, Mapping):
        return None
    retry_after = data.get("retry_after")
    return Failure(str(data.get("kind", "")), str(data.get("message", "")),
                   bool(data.get("temporary", False)), None if retry_after is None else float(retry_after))


@dataclass(frozen=True)
class ObjectRecord:
    """What happened to one object in an operation: the stored, bounded form of
    :class:`gitops.results.ObjectResult` (strings only; built by :func:`object_record`)."""

    object: str
    action: str
    message: str = ""
    error: str | None = None
    health: str | None = None


@dataclass(frozen=True)
class DriftRecord:
    """One drifted field: live vs predicted value (JSON text) and the manager owning the live value; the
    stored, bounded form of :class:`gitops.results.FieldDrift` (built by :func:`drift_record`)."""

    object: str
    path: str
    live: str
    predicted: str
    manager: str | None = None


@dataclass(frozen=True)
class TargetStatus:
    """The current status of one (application, cluster)."""

    application: str
    cluster: str
    revision: str | None = None
    sync: SyncStatus = SyncStatus.UNKNOWN
    health: HealthStatus = HealthStatus.UNKNOWN
    drift_count: int = 0
    drift: tuple[DriftRecord, ...] = ()
    error: str | None = None
    temporary: bool = False
    operation: str | None = None
    reconciled_at: float = 0.0
    failure: Failure | None = None  # the typed failure; ``error``/``temporary`` repeat its message/flag

    @property
    def target(self) -> Target:
        return Target(self.application, self.cluster)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TargetStatus:
        return TargetStatus(
            application=str(data["application"]), cluster=str(data["cluster"]),
            revision=data.get("revision"), sync=SyncStatus(data.get("sync", "Unknown")),
            health=HealthStatus(data.get("health", "Unknown")),
            drift_count=int(data.get("drift_count", 0)),
            drift=tuple(DriftRecord(**d) for d in data.get("drift", ())),
            error=data.get("error"), temporary=bool(data.get("temporary", False)),
            operation=data.get("operation"), reconciled_at=float(data.get("reconciled_at", 0.0)),
            failure=_failure_from(data.get("failure")))


@dataclass(frozen=True)
class Operation:
    """One reconcile/sync of a target: the unit of history. ``id`` is the Celery task id."""

    id: str
    application: str
    cluster: str
    trigger: Trigger
    phase: OperationPhase
    revision: str | None = None
    started: float = 0.0
    finished: float | None = None
    objects: tuple[ObjectRecord, ...] = ()
    objects_dropped: int = 0
    error: str | None = None
    dry_run: bool = False
    prune: bool = False
    attempt: int = 1
    fence: int = 0
    redeliveries: int = 0  # times the task came back after its worker died while running it
    failure: Failure | None = None  # the typed failure; ``error`` repeats its message

    @property
    def target(self) -> Target:
        return Target(self.application, self.cluster)

    @property
    def duration(self) -> float | None:
        return None if self.finished is None else max(0.0, self.finished - self.started)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = self.duration
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Operation:
        return Operation(
            id=str(data["id"]), application=str(data["application"]), cluster=str(data["cluster"]),
            trigger=Trigger(data.get("trigger", "manual")), phase=OperationPhase(data["phase"]),
            revision=data.get("revision"), started=float(data.get("started", 0.0)),
            finished=None if data.get("finished") is None else float(data["finished"]),
            objects=tuple(ObjectRecord(**o) for o in data.get("objects", ())),
            objects_dropped=int(data.get("objects_dropped", 0)), error=data.get("error"),
            dry_run=bool(data.get("dry_run", False)), prune=bool(data.get("prune", False)),
            attempt=int(data.get("attempt", 1)), fence=int(data.get("fence", 0)),
            redeliveries=int(data.get("redeliveries", 0)), failure=_failure_from(data.get("failure")))


@dataclass(frozen=True)
class Event:
    """One entry of the event stream (live updates, notifications)."""

    kind: str
    application: str
    cluster: str
    message: str
    time: float = field(default_factory=time.time)
    data: dict[str, str] = field(default_factory=dict)
    id: str = ""


class ResultLike(Protocol):
    """What state reads of a reconcile's result: ``gitops.engine.ReconcileResult``, or the workers' result
    for a reconcile that raised. ``failure`` is None when the reconcile completed."""

    @property
    def target(self) -> Target: ...
    @property
    def revision(self) -> str | None: ...
    @property
    def sync(self) -> SyncStatus: ...
    @property
    def health(self) -> HealthStatus: ...
    @property
    def objects(self) -> Sequence[ObjectResult]: ...
    @property
    def drift(self) -> Sequence[FieldDrift]: ...
    @property
    def failure(self) -> Failure | None: ...
    @property
    def started(self) -> datetime | float: ...
    @property
    def finished(self) -> datetime | float: ...


def object_record(obj: ObjectResult) -> ObjectRecord:
    return ObjectRecord(object=clip(obj.ref, 512), action=str(obj.action), message=clip(obj.message),
                        error=_clip_opt(obj.error), health=None if obj.health is None else str(obj.health))


def drift_record(item: FieldDrift) -> DriftRecord:
    return DriftRecord(object=clip(item.ref, 512), path=clip(item.path, 512), live=_value_text(item.live),
                       predicted=_value_text(item.predicted),
                       manager=None if item.manager is None else clip(item.manager, 256))


def _objects_and_drift(result: ResultLike) -> tuple[Sequence[ObjectResult], Sequence[FieldDrift]]:
    drift = result.drift
    if not drift:  # the engine may attach drift per object only
        drift = [d for o in result.objects for d in o.drift]
    return result.objects, drift


def records_from_result(result: ResultLike, *, operation_id: str, trigger: Trigger, dry_run: bool = False,
                        prune: bool = False, attempt: int = 1) -> tuple[TargetStatus, Operation]:
    """The status and the finished operation a reconcile result turns into (bounded)."""
    objects, drift = _objects_and_drift(result)
    started, finished = _epoch(result.started), _epoch(result.finished)
    failure = _clip_failure(result.failure)
    error = None if failure is None else failure.message
    status = TargetStatus(
        application=result.target.application, cluster=result.target.cluster, revision=result.revision,
        sync=SyncStatus(result.sync), health=HealthStatus(result.health), drift_count=len(drift),
        drift=tuple(drift_record(d) for d in drift[:MAX_DRIFT]), error=error,
        temporary=failure is not None and failure.temporary, operation=operation_id, reconciled_at=finished,
        failure=failure)
    operation = Operation(
        id=operation_id, application=status.application, cluster=status.cluster, trigger=trigger,
        phase=OperationPhase.SUCCEEDED if failure is None else OperationPhase.FAILED,
        revision=result.revision, started=started, finished=finished,
        objects=tuple(object_record(o) for o in objects[:MAX_OBJECTS]),
        objects_dropped=max(0, len(objects) - MAX_OBJECTS), error=error, dry_run=dry_run, prune=prune,
        attempt=attempt, failure=failure)
    return status, operation


def carry_forward(previous: TargetStatus | None, new: TargetStatus) -> TargetStatus:
    """Keep the last good revision when a failed reconcile could not resolve one (Git unreachable)."""
    if previous is not None and new.revision is None and previous.revision is not None:
        return replace(new, revision=previous.revision)
    return new
