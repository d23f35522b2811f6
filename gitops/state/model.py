"""Values the state store keeps: per-target status, operations (history) and events.

Built by :func:`records_from_result` from a ``ReconcileResult`` of the engine (read through the
:class:`ResultLike` Protocol, typed with the pipeline's result values (gitops.results) and the typed
:class:`gitops.errors.Failure`, so state does not import the engine module), stored as JSON by the
stores, read back by ``gitops status``, the workers and the HTTP API. The failure is recorded as the
typed value (kind, message, temporary, retry hint); ``error`` and ``temporary`` repeat its message and
flag for readers of the plain fields and of records written before it was kept. Key design choice:
every value is bounded before it is stored — long strings are cut, object and drift lists are capped
with a count of what was dropped, spans at most :data:`MAX_SPANS` with short attributes — so one huge
manifest or a hostile error message can never blow up Redis or the dashboard. Records written before a
field existed read back with its default (``from_dict`` never requires a newer field).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from gitops.errors import Failure
from gitops.results import FieldDrift, ImageCheck, ObjectResult, Span
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger

MAX_TEXT = 4096
MAX_VALUE = 1024
MAX_OBJECTS = 1000
MAX_DRIFT = 500
MAX_CORRECTED = 100  # corrected drift kept per operation (each history entry stays small)
MAX_SPANS = 32
MAX_SPAN_ATTRIBUTES = 16
MAX_DETAIL = 256
MAX_CHECKS = 100  # image verdicts kept per target
MAX_REASONS = 8


def clip(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` as a string of at most ``limit`` characters (marked when cut)."""
    value = text if isinstance(text, str) else str(text)
    if len(value) <= limit:
        return value
    keep = max(0, limit - 24)
    return value[:keep] + f"...[{len(value) - keep} more]"


def _clip_opt(text: object) -> str | None:
    return None if text is None else clip(text)


def _str_opt(value: object) -> str | None:
    return None if value is None else str(value)


def clip_detail(detail: object) -> str | None:
    """A trigger detail as stored: one line of printable text, at most :data:`MAX_DETAIL` characters
    (None for None or a blank detail). Control characters become spaces."""
    if detail is None:
        return None
    text = detail if isinstance(detail, str) else str(detail)
    text = " ".join("".join(c if c.isprintable() else " " for c in text[:4 * MAX_DETAIL]).split())
    return clip(text, MAX_DETAIL) if text else None


def _value_text(value: object) -> str:
    """A drift value as short JSON text (secrets are already masked by the plan)."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, MAX_VALUE)


def _opt_float(value: object) -> float | None:
    """A finite number, or None (absent, not a number, NaN or infinite)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


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
    changed_at: float | None = None  # when the manager last wrote the object (its managedFields time)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> DriftRecord:
        manager = data.get("manager")
        return DriftRecord(object=str(data.get("object", "")), path=str(data.get("path", "")),
                           live=str(data.get("live", "")), predicted=str(data.get("predicted", "")),
                           manager=None if manager is None else str(manager),
                           changed_at=_opt_float(data.get("changed_at")))


@dataclass(frozen=True)
class SpanRecord:
    """One timed stage of an operation (its trace): the stored, bounded form of
    :class:`gitops.results.Span` (built by :func:`span_record`). ``start`` is epoch seconds."""

    name: str
    start: float
    duration: float
    error: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.duration

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> SpanRecord:
        attributes = data.get("attributes")
        error = data.get("error")
        return SpanRecord(name=str(data.get("name", "")), start=_opt_float(data.get("start")) or 0.0,
                          duration=_opt_float(data.get("duration")) or 0.0,
                          error=None if error is None else str(error),
                          attributes={str(k): str(v) for k, v in attributes.items()}
                          if isinstance(attributes, Mapping) else {})


@dataclass(frozen=True)
class Hold:
    """Why a target was only compared, not synced, although its policy would have synced it: waiting
    for its dependencies (``reason`` "dependency", ``on`` the target keys waited for), a sync window
    ("window", ``on`` the windows' names, ``until`` when it closes) or suspended after a rollback
    ("suspended"). Set by the workers (workers/gates.py) on the status they record."""

    reason: str
    message: str
    on: tuple[str, ...] = ()
    until: float | None = None
    since: float = 0.0

    @staticmethod
    def from_dict(data: object) -> Hold | None:
        if not isinstance(data, Mapping):
            return None
        on = data.get("on")
        return Hold(reason=clip(data.get("reason", ""), 32), message=clip(data.get("message", ""), MAX_VALUE),
                    on=tuple(clip(o, 512) for o in on[:MAX_REASONS]) if isinstance(on, list | tuple) else (),
                    until=_opt_float(data.get("until")), since=_opt_float(data.get("since")) or 0.0)

    def bounded(self) -> Hold:
        return Hold(clip(self.reason, 32), clip(self.message, MAX_VALUE),
                    tuple(clip(o, 512) for o in self.on[:MAX_REASONS]), _opt_float(self.until),
                    _opt_float(self.since) or 0.0)


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
    verification: tuple[ImageCheck, ...] | None = None  # the verdict per image; None: not verified
    hold: Hold | None = None  # why it was only compared (dependencies, a sync window, suspended)

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
            drift=tuple(DriftRecord.from_dict(d) for d in data.get("drift", ())),
            error=data.get("error"), temporary=bool(data.get("temporary", False)),
            operation=data.get("operation"), reconciled_at=float(data.get("reconciled_at", 0.0)),
            failure=_failure_from(data.get("failure")),
            verification=_checks_from(data.get("verification")), hold=Hold.from_dict(data.get("hold")))


def _checks_from(data: object) -> tuple[ImageCheck, ...] | None:
    if not isinstance(data, list):
        return None
    return tuple(ImageCheck(image=str(d.get("image", "")), digest=_str_opt(d.get("digest")),
                            status=str(d.get("status", "")), signers=tuple(map(str, d.get("signers", ()))),
                            reasons=tuple(map(str, d.get("reasons", ()))),
                            verified_at=_opt_float(d.get("verified_at")) or 0.0)
                 for d in data if isinstance(d, Mapping))


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
    spans: tuple[SpanRecord, ...] = ()  # the trace: resolve, render, verify, plan, apply, health
    trigger_detail: str | None = None   # who or what triggered it ("github delivery 72d3162e")
    manifests_digest: str | None = None  # sha256 of the rendered manifests (canonical JSON)
    commit_time: float | None = None     # committer time of the revision (epoch seconds)
    corrected: tuple[DriftRecord, ...] = ()  # drift found before its write that the write undid
    corrected_dropped: int = 0               # corrected fields beyond the bound, not kept
    applied: bool | None = None  # whether it wrote; False: it only compared (the objects' actions are
                                 # what a write would do); None: running, or written before it was kept

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
            redeliveries=int(data.get("redeliveries", 0)), failure=_failure_from(data.get("failure")),
            spans=tuple(SpanRecord.from_dict(s) for s in data.get("spans", ()) if isinstance(s, Mapping)),
            trigger_detail=_str_opt(data.get("trigger_detail")),
            manifests_digest=_str_opt(data.get("manifests_digest")),
            commit_time=_opt_float(data.get("commit_time")),
            corrected=tuple(DriftRecord(**d) for d in data.get("corrected", ()) if isinstance(d, Mapping)),
            corrected_dropped=int(data.get("corrected_dropped", 0)),
            applied=None if data.get("applied") is None else bool(data["applied"]))


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
    @property
    def spans(self) -> Sequence[Span]: ...
    @property
    def commit_time(self) -> float | None: ...
    @property
    def manifests_digest(self) -> str | None: ...
    @property
    def corrected(self) -> Sequence[FieldDrift]: ...
    @property
    def applied(self) -> bool: ...
    @property
    def verification(self) -> Sequence[ImageCheck] | None: ...


def object_record(obj: ObjectResult) -> ObjectRecord:
    return ObjectRecord(object=clip(obj.ref, 512), action=str(obj.action), message=clip(obj.message),
                        error=_clip_opt(obj.error), health=None if obj.health is None else str(obj.health))


def drift_record(item: FieldDrift) -> DriftRecord:
    return DriftRecord(object=clip(item.ref, 512), path=clip(item.path, 512), live=_value_text(item.live),
                       predicted=_value_text(item.predicted),
                       manager=None if item.manager is None else clip(item.manager, 256),
                       changed_at=_opt_float(item.changed_at))


def check_record(check: ImageCheck) -> ImageCheck:
    """An image's verdict as stored: image, digest and signers clipped, at most :data:`MAX_REASONS`
    reasons of :data:`MAX_VALUE` characters (a registry's hostile message cannot grow the record)."""
    return ImageCheck(image=clip(check.image, 512),
                      digest=None if check.digest is None else clip(check.digest, 160),
                      status=clip(check.status, 32),
                      signers=tuple(clip(s, 512) for s in check.signers[:MAX_REASONS]),
                      reasons=tuple(clip(r, MAX_VALUE) for r in check.reasons[:MAX_REASONS]),
                      verified_at=_opt_float(check.verified_at) or 0.0)


def span_record(span: Span) -> SpanRecord:
    """The stored form of a span: name and error clipped, at most :data:`MAX_SPAN_ATTRIBUTES` short
    attributes."""
    attributes = {clip(k, 64): clip(v, 256) for k, v in list(span.attributes.items())[:MAX_SPAN_ATTRIBUTES]}
    return SpanRecord(name=clip(span.name, 64), start=_opt_float(span.start) or 0.0,
                      duration=max(0.0, _opt_float(span.duration) or 0.0),
                      error=None if span.error is None else clip(span.error, MAX_VALUE),
                      attributes=attributes)


def records_from_result(result: ResultLike, *, operation_id: str, trigger: Trigger, dry_run: bool = False,
                        prune: bool = False, attempt: int = 1, trigger_detail: str | None = None
                        ) -> tuple[TargetStatus, Operation]:
    """The status and the finished operation a reconcile result turns into (bounded; the trigger detail
    is untrusted text, made one printable line by :func:`clip_detail`)."""
    objects, drift, corrected = result.objects, result.drift, result.corrected
    started, finished = _epoch(result.started), _epoch(result.finished)
    failure = _clip_failure(result.failure)
    error = None if failure is None else failure.message
    status = TargetStatus(
        application=result.target.application, cluster=result.target.cluster, revision=result.revision,
        sync=SyncStatus(result.sync), health=HealthStatus(result.health), drift_count=len(drift),
        drift=tuple(drift_record(d) for d in drift[:MAX_DRIFT]), error=error,
        temporary=failure is not None and failure.temporary, operation=operation_id, reconciled_at=finished,
        failure=failure, verification=None if result.verification is None else tuple(
            check_record(c) for c in result.verification[:MAX_CHECKS]))
    operation = Operation(
        id=operation_id, application=status.application, cluster=status.cluster, trigger=trigger,
        phase=OperationPhase.SUCCEEDED if failure is None else OperationPhase.FAILED,
        revision=result.revision, started=started, finished=finished,
        objects=tuple(object_record(o) for o in objects[:MAX_OBJECTS]),
        objects_dropped=max(0, len(objects) - MAX_OBJECTS), error=error, dry_run=dry_run, prune=prune,
        attempt=attempt, failure=failure, spans=tuple(span_record(s) for s in result.spans[:MAX_SPANS]),
        trigger_detail=clip_detail(trigger_detail),
        manifests_digest=None if not result.manifests_digest else clip(result.manifests_digest, 128),
        commit_time=_opt_float(result.commit_time),
        corrected=tuple(drift_record(d) for d in corrected[:MAX_CORRECTED]),
        corrected_dropped=max(0, len(corrected) - MAX_CORRECTED), applied=bool(result.applied))
    return status, operation


def carry_forward(previous: TargetStatus | None, new: TargetStatus) -> TargetStatus:
    """Keep the last good revision (and the verdicts on its images) when a failed reconcile could not
    resolve one (Git unreachable)."""
    if previous is not None and new.revision is None and previous.revision is not None:
        return replace(new, revision=previous.revision,
                       verification=new.verification or previous.verification)
    return new
