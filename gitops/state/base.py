"""The state port, split by role: :class:`Records`, :class:`Leases`, :class:`Coalescing`, :class:`Schedule`,
and :class:`gitops.state.index.TargetIndex` (paged, filtered reads for the web).

Implemented by :class:`gitops.state.redis_store.RedisStore` (production, workers) and
:class:`gitops.state.memory.InMemoryStore` (tests, single-process CLI); both implement every role, and
:class:`Store` is all of them together (what a worker process holds). Each caller names the role it
uses: readers (``gitops status``, the HTTP API, the engine port's last good revision) a
:class:`RecordReader`; the task logic :class:`Records` and :class:`Leases`; the lease keeper and the
beat's leader lock :class:`Leases`; webhooks and triggers :class:`Coalescing`; the beat and polls
:class:`Schedule`; the dashboard and the HTTP API :class:`TargetIndex` (kept by the same fenced write).
Key design choice: locking and writing share one fencing token.
:meth:`Leases.acquire` hands out a strictly increasing token per target; every write carries it and the
store refuses a write whose token is older than one it has already accepted, so a worker that lost its
lease (paused, partitioned, killed and redelivered) can never overwrite the result of the worker that
took over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from gitops.state.index import TargetIndex
from gitops.state.model import Event, Operation, TargetStatus, clip
from gitops.vocabulary import Target

HISTORY_LIMIT = 50
EVENTS_LIMIT = 10_000
EVENT_FIELDS = ("kind", "target", "message", "time")  # stored next to an event's data: reserved keys


@dataclass(frozen=True)
class Lease:
    """A held per-target lock: ``token`` is the fencing token every write under it carries."""

    target: Target
    owner: str
    token: int


def bounded_event(event: Event) -> Event:
    """``event`` as every store keeps it: kind, message and at most 16 data entries cut to size,
    data keys that would shadow the event's own fields dropped."""
    data = {clip(k, 64): clip(v, 512) for k, v in list(event.data.items())[:16]}
    return replace(event, kind=clip(event.kind, 64), message=clip(event.message, 512),
                   data={k: v for k, v in data.items() if k not in EVENT_FIELDS})


def write_event(kind: str, operation: Operation, message: str) -> Event:
    """The event a fenced write appends: stamped with the operation's start, like its history entry."""
    return Event(kind, operation.application, operation.cluster, clip(message, 512),
                 time=operation.started, data={"phase": str(operation.phase), "operation": operation.id})


class OperationWrites(ABC):
    """``begin`` and ``record`` of :class:`Records`, written once over a store's atomic, fenced write."""

    @abstractmethod
    def _write(self, status: TargetStatus | None, operation: Operation, lease: Lease | None,
               kind: str, message: str) -> None:
        """Write status (unless None) and the operation, append history and an event, all or nothing."""

    def begin(self, operation: Operation, *, lease: Lease | None = None) -> None:
        self._write(None, operation, lease, "operation", f"{operation.trigger} started")

    def record(self, status: TargetStatus | None, operation: Operation, *,
               lease: Lease | None = None) -> None:
        message = operation.error or f"{operation.phase} at {operation.revision or 'unknown revision'}"
        self._write(status, operation, lease, "status" if status else "operation", message)


class RecordReader(Protocol):
    """The read side of :class:`Records`: what ``gitops status`` and the HTTP API need."""

    def status(self, target: Target) -> TargetStatus | None: ...

    def statuses(self) -> list[TargetStatus]:
        """Every target that has a status, sorted by ``app@cluster``."""

    def history(self, target: Target, limit: int = HISTORY_LIMIT) -> list[Operation]:
        """Operations of the target, newest first (at most ``limit``)."""

    def operation(self, target: Target, op_id: str) -> Operation | None: ...

    def events(self, after: str = "0", count: int = 100, block_ms: int | None = None) -> list[Event]:
        """Events after the id ``after`` ("0": from the start, "$": only new ones)."""

    def last_event_id(self) -> str:
        """The id of the newest event ("0" when there is none): a reader that starts following the
        stream passes it as ``after``, so nothing written between two reads is missed (unlike "$")."""


class Records(RecordReader, Protocol):
    """Durable per-target status, capped operation history and the event stream; writes are fenced."""

    def begin(self, operation: Operation, *, lease: Lease | None = None) -> None:
        """Record a Running operation (upsert by id: a redelivered task reuses its id)."""

    def record(self, status: TargetStatus | None, operation: Operation, *,
               lease: Lease | None = None) -> None:
        """Atomically write status (unless None), the operation, the capped history and an event.

        Raises StateError (temporary=False) when ``lease`` is stale: nothing is written then.
        """

    def publish(self, event: Event) -> str:
        """Append an event (bounded like :func:`bounded_event`) to the capped stream; returns its id."""

    def forget(self, target: Target) -> bool:
        """Drop status, history, index entry and kept manifests of a target no longer configured; the
        fencing token is kept. True when there was a status or history to drop."""


class Leases(Protocol):
    """Who may act: per-target leases with fencing tokens, and named singleton locks (the beat)."""

    def acquire(self, target: Target, owner: str, ttl: float) -> Lease | None:
        """Take the target's lock for ``ttl`` seconds with a fresh fencing token, or None if held."""

    def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend a lease still held by its owner; False when it was lost."""

    def release(self, lease: Lease) -> bool:
        """Free a lease still held by its owner; False when it was lost (then nothing changes)."""

    def acquire_named(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew (same owner) a named lock for ``ttl`` seconds, e.g. the one-beat lock."""

    def release_named(self, name: str, owner: str) -> bool: ...


class Coalescing(Protocol):
    """Per-target trigger coalescing: absent -> queued -> running (-> dirty) -> absent or queued."""

    def trigger(self, target: Target, ttl: float) -> bool:
        """A reconcile was requested: True when the caller must enqueue one (none queued yet)."""

    def begin_run(self, target: Target, ttl: float) -> None:
        """A reconcile starts: triggers from now on mark the target dirty."""

    def finish_run(self, target: Target, ttl: float) -> bool:
        """A reconcile ended: True when it was marked dirty and the caller must enqueue one more."""


class Schedule(Protocol):
    """Repository polling: which polls are due (intervals survive restarts) and the heads last seen."""

    def claim_due(self, intervals: Mapping[str, float], now: float | None = None) -> list[str]:
        """Repositories whose poll is due at ``now`` (default: the store's clock); each is rescheduled
        ``interval`` later. A name that is not valid fails the whole call before anything changes."""

    def repo_head(self, repository: str) -> str | None: ...

    def set_repo_head(self, repository: str, revision: str) -> None: ...


class Store(Records, Leases, Coalescing, Schedule, TargetIndex, Protocol):
    """Every role at once: what a worker process holds (``workers.runtime.Runtime.store``)."""

    def ping(self) -> bool: ...


ROLES: tuple[type, ...] = (RecordReader, Records, Leases, Coalescing, Schedule, TargetIndex, Store)
