"""The state port: the :class:`Store` Protocol and the lease it hands out.

Implemented by :class:`gitops.state.redis_store.RedisStore` (production, workers) and
:class:`gitops.state.memory.InMemoryStore` (tests, single-process CLI). Called by the workers (record,
locks, coalescing, beat scheduling), ``gitops status`` and the HTTP API (read side). Key design choice:
locking and writing share one fencing token. :meth:`Store.acquire` hands out a strictly increasing token
per target; every write carries it and the store refuses a write whose token is older than one it has
already accepted, so a worker that lost its lease (paused, partitioned, killed and redelivered) can
never overwrite the result of the worker that took over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gitops.state.model import Event, Operation, TargetStatus
from gitops.status import Target

HISTORY_LIMIT = 50
EVENTS_LIMIT = 10_000


@dataclass(frozen=True)
class Lease:
    """A held per-target lock: ``token`` is the fencing token every write under it carries."""

    target: Target
    owner: str
    token: int


class OperationWrites(ABC):
    """``begin`` and ``record`` of the Store, expressed once over a store's one atomic, fenced write."""

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


class Store(Protocol):
    """Durable status, history, events, per-target leases and trigger coalescing."""

    # -- writes (fenced) ----------------------------------------------------------------------
    def begin(self, operation: Operation, *, lease: Lease | None = None) -> None:
        """Record a Running operation (upsert by id: a redelivered task reuses its id)."""

    def record(self, status: TargetStatus | None, operation: Operation, *,
               lease: Lease | None = None) -> None:
        """Atomically write status (unless None), the operation, the capped history and an event.

        Raises StateError (temporary=False) when ``lease`` is stale: nothing is written then.
        """

    def publish(self, event: Event) -> str:
        """Append an event to the capped stream; returns its id."""

    # -- reads --------------------------------------------------------------------------------
    def status(self, target: Target) -> TargetStatus | None: ...

    def statuses(self) -> list[TargetStatus]: ...

    def history(self, target: Target, limit: int = HISTORY_LIMIT) -> list[Operation]:
        """Operations of the target, newest first."""

    def operation(self, target: Target, op_id: str) -> Operation | None: ...

    def events(self, after: str = "0", count: int = 100, block_ms: int | None = None) -> list[Event]:
        """Events after the id ``after`` ("0": from the start, "$": only new ones)."""

    def forget(self, target: Target) -> bool:
        """Drop status and history of a target no longer configured; the fencing token is kept."""

    # -- per-target leases ----------------------------------------------------------------------
    def acquire(self, target: Target, owner: str, ttl: float) -> Lease | None:
        """Take the target's lock for ``ttl`` seconds with a fresh fencing token, or None if held."""

    def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend a lease still held by its owner; False when it was lost."""

    def release(self, lease: Lease) -> bool: ...

    # -- coalescing -----------------------------------------------------------------------------
    def trigger(self, target: Target, ttl: float) -> bool:
        """A reconcile was requested: True when the caller must enqueue one (none queued yet)."""

    def begin_run(self, target: Target, ttl: float) -> None:
        """A reconcile starts: triggers from now on mark the target dirty."""

    def finish_run(self, target: Target, ttl: float) -> bool:
        """A reconcile ended: True when it was marked dirty and the caller must enqueue one more."""

    # -- singletons and polling -----------------------------------------------------------------
    def acquire_named(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew (same owner) a named lock, e.g. the one-beat lock."""

    def release_named(self, name: str, owner: str) -> bool: ...

    def claim_due(self, intervals: Mapping[str, float], now: float | None = None) -> list[str]:
        """Repositories whose poll is due at ``now``; each is rescheduled ``interval`` later."""

    def repo_head(self, repository: str) -> str | None: ...

    def set_repo_head(self, repository: str, revision: str) -> None: ...

    def ping(self) -> bool: ...
