"""Suspended automation per target (set by a rollback, lifted by ``gitops resume``), and the pure
decisions around it: which revision a rollback re-applies, and how a hold reads in one line.

Written by ``gitops rollback``/``gitops resume`` (gitops/cli/rollback.py) and by the workers'
dispatcher for the HTTP API's rollback and resume actions; read by workers/gates.py (a suspended target
is only compared by automated reconciles), ``gitops status``, the API and the dashboard. Two
implementations of one :class:`Suspensions` Protocol: :class:`RedisSuspensions` (production) and
:class:`InMemorySuspensions` (tests, the default of ``workers.ports.Runtime``); a contract test runs
both. Key design choices: one Redis hash ``<prefix>suspensions`` maps the target key ``app@cluster``
(both names checked by :func:`gitops.state.names.check_target`) to the suspension's JSON, every field
bounded before it is stored, so a listing is one HGETALL and a corrupt entry hides itself only; each
suspend and resume also appends an Event (kind ``suspended``/``resumed``) to the stream through the
optional :class:`EventSink`, so the dashboard's and the API's event feeds show it. The choice of a
rollback's revision (:func:`rollback_revision`) is a deterministic function of the history.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import redis

from gitops.errors import InputError
from gitops.state.model import Event, Hold, Operation, TargetStatus, clip, clip_detail
from gitops.state.names import DEFAULT_PREFIX, check_target
from gitops.state.redis_errors import translated
from gitops.vocabulary import OperationPhase, Target

MAX_REASON: Final = 256
MAX_BY: Final = 256
MAX_STORED: Final = 4096  # bytes of one stored suspension; a longer entry is not read back
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{4,40}$")
SHORT: Final = 12  # characters of a revision shown in reasons and tables


@dataclass(frozen=True)
class Suspension:
    """Automated syncs of ``target`` are suspended (since ``since``, epoch seconds) because ``reason``
    (a rollback to ``revision``), by ``by`` (``user@host``, ``alice via api``)."""

    target: Target
    reason: str
    since: float
    revision: str | None = None
    by: str | None = None

    def bounded(self) -> Suspension:
        """This suspension as stored: names checked, one printable line per text, revision a commit id
        or None."""
        target = check_target(self.target.application, self.target.cluster)
        revision = self.revision.lower() if isinstance(self.revision, str) else None
        return Suspension(target, clip_detail(self.reason) or "suspended", _finite(self.since),
                          revision if revision and _COMMIT.fullmatch(revision) else None,
                          None if self.by is None else clip(clip_detail(self.by) or "", MAX_BY) or None)

    def to_dict(self) -> dict[str, Any]:
        return {"application": self.target.application, "cluster": self.target.cluster,
                "reason": self.reason, "since": self.since, "revision": self.revision, "by": self.by}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Suspension:
        """A stored suspension (InputError for an invalid target, TypeError for a malformed value)."""
        revision, by, since = data.get("revision"), data.get("by"), data.get("since", 0.0)
        if not isinstance(since, int | float) or isinstance(since, bool):
            raise TypeError("since: expected a number")
        return Suspension(check_target(data.get("application"), data.get("cluster")),
                          str(data.get("reason", "")), float(since),
                          None if revision is None else str(revision),
                          None if by is None else str(by)).bounded()


def _finite(value: float) -> float:
    number = float(value)
    return number if number == number and abs(number) != float("inf") else 0.0


class SuspensionReader(Protocol):
    """The read side (``gitops status``, the HTTP API, the dashboard, the workers' gate)."""

    def suspension(self, target: Target) -> Suspension | None: ...

    def suspended(self) -> list[Suspension]:
        """Every suspension, sorted by target key."""


class Suspensions(SuspensionReader, Protocol):

    def suspend(self, suspension: Suspension) -> None:
        """Suspend (or re-suspend, replacing the reason) the target's automated syncs."""

    def resume(self, target: Target, by: str | None = None) -> bool:
        """Lift the suspension; True when there was one."""


class EventSink(Protocol):
    """Where a suspend or resume is announced: the store's event stream (``Records.publish``)."""

    def publish(self, event: Event) -> str: ...


def suspended_event(suspension: Suspension) -> Event:
    data = {"reason": suspension.reason, **({"revision": suspension.revision} if suspension.revision else {}),
            **({"by": suspension.by} if suspension.by else {})}
    return Event("suspended", suspension.target.application, suspension.target.cluster,
                 f"automated sync suspended: {suspension.reason}"
                 + (f" (by {suspension.by})" if suspension.by else ""), time=suspension.since, data=data)


def resumed_event(target: Target, by: str | None) -> Event:
    who = clip_detail(by)
    return Event("resumed", target.application, target.cluster,
                 "automated sync resumed" + (f" (by {who})" if who else ""), data={"by": who} if who else {})


class InMemorySuspensions:
    """:class:`Suspensions` in a dictionary (tests, the default runtime); thread-safe."""

    def __init__(self, events: EventSink | None = None) -> None:
        self._held: dict[Target, Suspension] = {}
        self._lock = threading.Lock()
        self._events = events

    def suspension(self, target: Target) -> Suspension | None:
        check_target(target.application, target.cluster)
        with self._lock:
            return self._held.get(target)

    def suspended(self) -> list[Suspension]:
        with self._lock:
            return sorted(self._held.values(), key=lambda s: s.target.key)

    def suspend(self, suspension: Suspension) -> None:
        stored = suspension.bounded()
        with self._lock:
            self._held[stored.target] = stored
        if self._events is not None:
            self._events.publish(suspended_event(stored))

    def resume(self, target: Target, by: str | None = None) -> bool:
        check_target(target.application, target.cluster)
        with self._lock:
            found = self._held.pop(target, None) is not None
        if found and self._events is not None:
            self._events.publish(resumed_event(target, by))
        return found


def _translated(what: str) -> AbstractContextManager[None]:
    return translated(f"suspensions: {what}")


def _decode(raw: bytes | str | None) -> Suspension | None:
    if raw is None or len(raw) > MAX_STORED:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        return Suspension.from_dict(data)
    except (ValueError, TypeError, InputError):
        return None  # a corrupt entry hides itself, never the other suspensions


def _field(name: bytes | str) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else name


class RedisSuspensions:
    """:class:`Suspensions` on Redis: the hash ``<prefix>suspensions`` (target key -> JSON)."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX,
                 events: EventSink | None = None) -> None:
        self.client, self.prefix, self._events = client, prefix, events

    @property
    def key(self) -> str:
        return f"{self.prefix}suspensions"

    def suspension(self, target: Target) -> Suspension | None:
        field = check_target(target.application, target.cluster).key
        with _translated("read"):
            found = _decode(self.client.hget(self.key, field))
        return found if found is not None and found.target == target else None

    def suspended(self) -> list[Suspension]:
        with _translated("list"):
            raw = self.client.hgetall(self.key)
        found = ((_field(name), _decode(value)) for name, value in raw.items())
        # an entry is read only under its own target's field (a forged copy elsewhere is not)
        return sorted((s for name, s in found if s is not None and s.target.key == name),
                      key=lambda s: s.target.key)

    def suspend(self, suspension: Suspension) -> None:
        stored = suspension.bounded()
        with _translated("suspend"):
            self.client.hset(self.key, stored.target.key, json.dumps(stored.to_dict(), sort_keys=True))
        if self._events is not None:
            self._events.publish(suspended_event(stored))

    def resume(self, target: Target, by: str | None = None) -> bool:
        field = check_target(target.application, target.cluster).key
        with _translated("resume"):
            found = bool(self.client.hdel(self.key, field))
        if found and self._events is not None:
            self._events.publish(resumed_event(target, by))
        return found


def suspend_for(suspensions: Suspensions, suspension: Suspension, enqueue: Callable[[], str]) -> str:
    """Suspend, then ``enqueue`` (a rollback's pinned sync) and return its id. Suspending first means no
    automated reconcile can re-apply the newer revision while the pinned sync waits in the queue; if
    ``enqueue`` raises, the target's suspension is put back as it was (nothing was enqueued)."""
    before = suspensions.suspension(suspension.target)
    suspensions.suspend(suspension)
    try:
        return enqueue()
    except BaseException:
        if before is None:
            suspensions.resume(suspension.target, by=f"{suspension.by or 'rollback'} (not enqueued)")
        else:
            suspensions.suspend(before)
        raise


def rollback_reason(revision: str) -> str:
    """The reason a rollback suspends with (shown by ``gitops status`` as ``suspended (<reason>)``)."""
    return f"rollback to {short(revision)}"


# -- pure decisions ---------------------------------------------------------------------------------

def short(revision: str | None) -> str:
    return (revision or "-")[:SHORT]


def restores(operation: Operation) -> bool:
    """Whether ``operation`` wrote its revision to the cluster: succeeded, applied, not a dry run."""
    return (operation.phase is OperationPhase.SUCCEEDED and operation.applied is True
            and not operation.dry_run and bool(operation.revision))


@dataclass(frozen=True)
class RevisionChoice:
    """The revision a rollback re-applies (a full commit id) and a warning to show (or None)."""

    revision: str
    warning: str | None = None


def rollback_revision(history: Sequence[Operation], current: str | None,
                      to: str | None = None) -> RevisionChoice:
    """The revision to roll back to, from the target's ``history`` (newest first) and its ``current``
    revision. Without ``to``: the newest operation that wrote (:func:`restores`) at a revision other
    than ``current``. With ``to``: a commit id or an unambiguous prefix (4 to 40 hex digits) of a
    revision in the history; a full commit id not in the history is accepted with a warning. InputError
    (naming the choices) otherwise."""
    known = list(dict.fromkeys(op.revision.lower() for op in history if op.revision))
    if to is None:
        for op in history:
            if restores(op) and op.revision and op.revision.lower() != (current or "").lower():
                return RevisionChoice(op.revision.lower())
        raise InputError("no earlier applied revision in the history to roll back to "
                         f"(current: {short(current)}); name one with --to", field="revision")
    wanted = to.strip().lower() if isinstance(to, str) else ""
    if not _HEX_PREFIX.fullmatch(wanted):
        shown = to[:60] + ("..." if len(to) > 60 else "") if isinstance(to, str) else type(to).__name__
        raise InputError(f"invalid revision {shown!r}: a commit id or a prefix of one (4 to 40 hex digits)",
                         field="revision")
    matches = [r for r in known if r.startswith(wanted)]
    if len(matches) == 1:
        return RevisionChoice(matches[0])
    if len(matches) > 1:
        raise InputError(f"revision {wanted!r} is ambiguous: it starts "
                         f"{', '.join(short(m) for m in matches[:10])}", field="revision")
    if _COMMIT.fullmatch(wanted):
        return RevisionChoice(wanted, f"revision {short(wanted)} is not in the history of this target: "
                                      "rolling back to it anyway")
    choices = ", ".join(short(r) for r in known[:10]) or "none"
    raise InputError(f"no revision starting {wanted!r} in the history (choices: {choices})",
                     field="revision")


def _clock(at: float, now: float | None) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    same_day = now is not None and datetime.fromtimestamp(now, UTC).date() == moment.date()
    return moment.strftime("%H:%MZ" if same_day else "%Y-%m-%d %H:%MZ")


def describe_hold(hold: Hold | None, suspension: Suspension | None = None, now: float | None = None) -> str:
    """One line for a target's hold: ``waiting: db@prod``, ``window freeze until 18:00Z``,
    ``suspended (rollback to 1a2b3c4d5e6f)``; "" when nothing holds it. A stored suspension wins over
    a recorded "suspended" hold (it is current; the hold is from the last reconcile). Printable text
    only, at most 256 characters (it goes to terminals)."""
    return clip_detail(_hold_text(hold, suspension, now)) or ""


def _hold_text(hold: Hold | None, suspension: Suspension | None, now: float | None) -> str:
    if suspension is not None:
        return f"suspended ({suspension.reason})"
    if hold is None:
        return ""
    if hold.reason == "dependency":
        return "waiting: " + (", ".join(hold.on) if hold.on else hold.message)
    if hold.reason == "window":
        if not hold.on:  # e.g. the windows could not be evaluated (held, fail closed): say why
            return f"window: {hold.message}" if hold.message else "window"
        return f"window {', '.join(hold.on)}" + (f" until {_clock(hold.until, now)}" if hold.until else "")
    if hold.reason == "suspended":  # recorded by the last reconcile (workers/gates.py)
        message = hold.message.removeprefix("automated sync suspended: ")
        return f"suspended ({message})" if message else "suspended"
    return f"{hold.reason}: {hold.message}" if hold.message else hold.reason


def held_statuses(statuses: Sequence[TargetStatus], suspensions: Sequence[Suspension]
                  ) -> list[tuple[TargetStatus, Suspension | None]]:
    """Each status with its current suspension (None when not suspended)."""
    by_target = {s.target: s for s in suspensions}
    return [(s, by_target.get(s.target)) for s in statuses]
