"""InMemoryStore: every role of :class:`gitops.state.base.Store` in one process (tests, eager runs).

Used by unit tests of the workers and by anything that needs state without Redis. Key design choice:
the same semantics as the Redis store — fencing tokens, capped history (ordered like the Redis sorted
set), bounded events, coalescing transitions, lock expiry, validation before any change — under one
``threading.Lock``, with time from an injected :class:`gitops.clock.Clock`, so tests written against
it hold for Redis too (the contract tests in tests/gitops/state run the same scenarios on both) and
move time with a :class:`gitops.clock.ManualClock` instead of sleeping. The target index keeps one
:class:`gitops.state.index.IndexEntry` per status (updated by the write and by ``forget``, like Redis)
and answers a query by filtering and sorting those entries with the shared plan, members and cursor of
:mod:`gitops.state.index`: O(targets) per query, fine for tests and the CLI, and equal to Redis by
construction (tests/gitops/state/test_index.py checks it, with random writes too).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import replace

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import StateError
from gitops.state.base import (
    EVENTS_LIMIT,
    HISTORY_LIMIT,
    Lease,
    OperationWrites,
    Store,
    bounded_event,
    write_event,
)
from gitops.state.index import (
    COUNTED_FACETS,
    MAX_PAGE,
    IndexEntry,
    QueryPlan,
    RenderedManifests,
    SortKey,
    TargetCounts,
    TargetPage,
    TargetQuery,
    bounded_manifests,
    check_limit,
    counts_from,
    encode_cursor,
    index_entry,
    member_target,
    plan_query,
    revision_prefix,
)
from gitops.state.model import Event, Operation, TargetStatus, clip
from gitops.state.names import check_name, check_operation_id, check_target
from gitops.vocabulary import Target


def _history_order(operation: Operation) -> tuple[float, str]:
    """The order of a Redis sorted set scored by start time: score, then member."""
    return operation.started, operation.id


class InMemoryStore(OperationWrites, Store):
    """A Store in a dict; TTLs run on ``clock.monotonic()``, stamps and due times on ``clock.now()``."""

    def __init__(self, *, history_limit: int = HISTORY_LIMIT, events_limit: int = EVENTS_LIMIT,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._mutex = threading.Lock()
        self.clock = clock
        self.history_limit = history_limit
        self.events_limit = events_limit
        self._status: dict[Target, TargetStatus] = {}
        self._ops: dict[Target, dict[str, Operation]] = {}
        self._fence: dict[Target, int] = {}
        self._tokens: dict[Target, int] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._sched: dict[Target, tuple[str, float]] = {}
        self._events: list[Event] = []
        self._seq = itertools.count(1)
        self._due: dict[str, float] = {}
        self._heads: dict[str, str] = {}
        self._entries: dict[Target, IndexEntry] = {}
        self._manifests: dict[Target, RenderedManifests] = {}

    def _expiry(self, ttl: float) -> float:
        return self.clock.monotonic() + ttl

    def _expired(self, at: float) -> bool:
        return at <= self.clock.monotonic()

    # -- records --------------------------------------------------------------------------------
    def _write(self, status: TargetStatus | None, operation: Operation, lease: Lease | None,
               kind: str, message: str) -> None:
        target = check_target(operation.application, operation.cluster)
        check_operation_id(operation.id)
        if lease is not None and lease.target != target:
            raise StateError(f"lease for {lease.target} used to write {target}", target=target.key)
        with self._mutex:
            if lease is not None:
                if lease.token < self._fence.get(target, 0):
                    raise StateError(f"stale lease (token {lease.token}): a newer reconcile of {target} "
                                     "has written since; this write was refused", target=target.key)
                self._fence[target] = lease.token
            if status is not None:
                self._status[target] = status
                self._entries[target] = index_entry(target, status)
            ops = self._ops.setdefault(target, {})
            ops[operation.id] = operation
            for old in sorted(ops.values(), key=_history_order)[: max(0, len(ops) - self.history_limit)]:
                del ops[old.id]
            self._append(write_event(kind, operation, message))

    def _append(self, event: Event) -> str:
        event = replace(event, id=f"{int(self.clock.now() * 1000)}-{next(self._seq)}")
        self._events.append(event)
        del self._events[: max(0, len(self._events) - self.events_limit)]
        return event.id

    def publish(self, event: Event) -> str:
        check_target(event.application, event.cluster)
        with self._mutex:
            return self._append(bounded_event(event))

    def status(self, target: Target) -> TargetStatus | None:
        check_target(target.application, target.cluster)
        with self._mutex:
            return self._status.get(target)

    def statuses(self) -> list[TargetStatus]:
        with self._mutex:
            return [self._status[t] for t in sorted(self._status, key=lambda t: t.key)]

    def history(self, target: Target, limit: int = HISTORY_LIMIT) -> list[Operation]:
        check_target(target.application, target.cluster)
        with self._mutex:
            ops = sorted(self._ops.get(target, {}).values(), key=_history_order, reverse=True)
        return ops[: max(0, limit)]

    def operation(self, target: Target, op_id: str) -> Operation | None:
        check_target(target.application, target.cluster)
        with self._mutex:
            return self._ops.get(target, {}).get(check_operation_id(op_id))

    def events(self, after: str = "0", count: int = 100, block_ms: int | None = None) -> list[Event]:
        def seq(event_id: str) -> tuple[int, int]:
            ms, _, n = event_id.partition("-")
            return int(ms), int(n or 0)

        # ``block_ms`` is accepted for the Protocol but never waits: nothing else can append meanwhile
        with self._mutex:
            if after == "$":
                return []
            floor = seq(after) if after != "0" else (0, 0)
            return [e for e in self._events if seq(e.id) > floor][:count]

    def last_event_id(self) -> str:
        with self._mutex:
            return self._events[-1].id if self._events else "0"

    def forget(self, target: Target) -> bool:
        check_target(target.application, target.cluster)
        with self._mutex:
            had = self._status.pop(target, None) is not None
            self._entries.pop(target, None)
            self._manifests.pop(target, None)
            return bool(self._ops.pop(target, None)) or had

    # -- target index ---------------------------------------------------------------------------
    def _matching(self, plan: QueryPlan) -> list[IndexEntry]:
        if plan.nothing:
            return []
        return [e for e in self._entries.values() if plan.matches(e)]

    def query(self, query: TargetQuery) -> TargetPage:
        plan = plan_query(query)
        with self._mutex:
            ordered = sorted(e.members[plan.sort] for e in self._matching(plan))
            if plan.descending:
                ordered.reverse()
            after = plan.after
            rest = [m for m in ordered if after is None or (m < after if plan.descending else m > after)]
            page = rest[: plan.limit]
            items = tuple(self._status[member_target(m)] for m in page)
        more = len(rest) > plan.limit
        return TargetPage(items, len(ordered), encode_cursor(plan, page[-1]) if more else None)

    def counts(self, query: TargetQuery | None = None) -> TargetCounts:
        plan = plan_query(query or TargetQuery(), paged=False)
        with self._mutex:
            matching = self._matching(plan)
        return counts_from(len(matching), {f: sum(f in e.facets for e in matching) for f in COUNTED_FACETS})

    def at_revision(self, prefix: str, limit: int = MAX_PAGE) -> list[TargetStatus]:
        plan = QueryPlan(revision=revision_prefix(prefix))
        check_limit(limit)
        with self._mutex:
            found = sorted(e.members[SortKey.REVISION] for e in self._matching(plan))[:limit]
            return [self._status[member_target(m)] for m in found]

    def keep_manifests(self, target: Target, manifests: RenderedManifests) -> None:
        check_target(target.application, target.cluster)
        kept = bounded_manifests(manifests)
        with self._mutex:
            self._manifests[target] = kept

    def manifests(self, target: Target) -> RenderedManifests | None:
        check_target(target.application, target.cluster)
        with self._mutex:
            return self._manifests.get(target)

    # -- leases ---------------------------------------------------------------------------------
    def _held(self, key: str) -> tuple[str, float] | None:
        held = self._locks.get(key)
        if held is not None and self._expired(held[1]):
            del self._locks[key]
            return None
        return held

    @staticmethod
    def _lease_key(lease: Lease) -> tuple[str, str]:
        target = check_target(lease.target.application, lease.target.cluster)
        return f"lock:{target.key}", f"{clip(lease.owner, 200)}|{lease.token}"

    def acquire(self, target: Target, owner: str, ttl: float) -> Lease | None:
        check_target(target.application, target.cluster)
        key = f"lock:{target.key}"
        with self._mutex:
            if self._held(key) is not None:
                return None
            token = self._tokens.get(target, 0) + 1
            self._tokens[target] = token
            self._locks[key] = (f"{clip(owner, 200)}|{token}", self._expiry(ttl))
            return Lease(target, owner, token)

    def renew(self, lease: Lease, ttl: float) -> bool:
        key, value = self._lease_key(lease)
        with self._mutex:
            held = self._held(key)
            if held is None or held[0] != value:
                return False
            self._locks[key] = (value, self._expiry(ttl))
            return True

    def release(self, lease: Lease) -> bool:
        key, value = self._lease_key(lease)
        with self._mutex:
            held = self._held(key)
            if held is None or held[0] != value:
                return False
            del self._locks[key]
            return True

    def acquire_named(self, name: str, owner: str, ttl: float) -> bool:
        key, value = f"named:{check_name(name, 'lock name')}", clip(owner, 200)
        with self._mutex:
            held = self._held(key)
            if held is not None and held[0] != value:
                return False
            self._locks[key] = (value, self._expiry(ttl))
            return True

    def release_named(self, name: str, owner: str) -> bool:
        key, value = f"named:{check_name(name, 'lock name')}", clip(owner, 200)
        with self._mutex:
            held = self._held(key)
            if held is None or held[0] != value:
                return False
            del self._locks[key]
            return True

    # -- coalescing -----------------------------------------------------------------------------
    def _state(self, target: Target) -> str | None:
        entry = self._sched.get(target)
        if entry is not None and self._expired(entry[1]):
            del self._sched[target]
            return None
        return None if entry is None else entry[0]

    def trigger(self, target: Target, ttl: float) -> bool:
        check_target(target.application, target.cluster)
        with self._mutex:
            state = self._state(target)
            if state is None:
                self._sched[target] = ("queued", self._expiry(ttl))
                return True
            if state == "running":
                self._sched[target] = ("dirty", self._sched[target][1])
            return False

    def begin_run(self, target: Target, ttl: float) -> None:
        check_target(target.application, target.cluster)
        with self._mutex:
            self._sched[target] = ("running", self._expiry(ttl))

    def finish_run(self, target: Target, ttl: float) -> bool:
        check_target(target.application, target.cluster)
        with self._mutex:
            if self._state(target) == "dirty":
                self._sched[target] = ("queued", self._expiry(ttl))
                return True
            self._sched.pop(target, None)
            return False

    # -- schedule -------------------------------------------------------------------------------
    def claim_due(self, intervals: Mapping[str, float], now: float | None = None) -> list[str]:
        at = self.clock.now() if now is None else now
        checked = [(check_name(name, "repository"), float(interval))
                   for name, interval in sorted(intervals.items())]
        due = []
        with self._mutex:
            for name, interval in checked:
                if self._due.get(name, float("-inf")) <= at:
                    self._due[name] = at + interval
                    due.append(name)
        return due

    def repo_head(self, repository: str) -> str | None:
        with self._mutex:
            return self._heads.get(check_name(repository, "repository"))

    def set_repo_head(self, repository: str, revision: str) -> None:
        with self._mutex:
            self._heads[check_name(repository, "repository")] = clip(revision, 128)

    def ping(self) -> bool:
        return True
