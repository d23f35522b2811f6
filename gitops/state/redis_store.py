"""RedisStore: every role of :class:`gitops.state.base.Store` on Redis (records, leases, coalescing,
schedule, the target index).

Used by the workers, ``gitops status`` and the HTTP API when a Redis URL is configured. Key design
choice: each logical change is one Lua script (see :mod:`gitops.state.lua`), so the fencing check and
the write it guards are atomic, and nothing is ever half-written; TTLs run on the Redis server's clock,
only the default ``now`` of ``claim_due`` comes from the injected :class:`gitops.clock.Clock`. Redis
errors are translated once, here, into :class:`gitops.errors.StateError` (temporary: Redis may come
back).

The target index (:mod:`gitops.state.index` defines what it answers), under ``<prefix>idx:``:

- ``f:<facet>``: a set of target keys (``app@cluster``) per facet: ``sync:<status>``,
  ``health:<status>``, ``cluster:<name>``, ``app:<name>``, ``drifted``, ``failed``;
- ``by:<sort>``: per order, a sorted set with every score 0 whose members
  (``primary\\0app\\0cluster``) sort byte by byte in that order; ``by:revision`` doubles as the
  revision-prefix index (ZRANGEBYLEX ``[prefix`` .. ``(prefix\\x7f``);
- ``of:<sort>``: per order, a hash target key -> member (to order a filtered set);
- ``entry``: a hash target key -> JSON of its facets and orders (``{"f": [...], "s": [...]}``), so
  the fenced write (RECORD) removes a target's old entry before adding its new one and FORGET drops
  it, in the same script as the status; ``version``: the layout version the entries were written
  with. About 1.8 KiB of Redis memory per target (17.5 MiB for 10,000; bench/index.py).

Costs per request (N targets, M matching): a page without filters is one MULTI of ZCARD +
ZRANGEBYLEX from the cursor (O(log N + page)), then one MGET of the page's statuses. A filtered page is
one script: SUNIONSTORE of each filter's values, SINTERSTORE across filters, SDIFFSTORE for
``drifted=False``/``failed=False``, the revision prefix as one ZRANGEBYLEX, the text as a plain
substring test over what is left (over every target when it is the only filter); then, when the
matches are dense (M >= N/4), the order is walked from the cursor keeping the members that match
(about page x N/M members read), else the M members (HMGET of the order's hash) go into a scratch
sorted set and one ZRANGEBYLEX reads the page (O(M log M)); never a read of a status; then one
MGET. Counts are the same filters and one SINTERSTORE (or SCARD without filters) per status. Scratch
keys are deleted by the script that made them and not replicated. The index is rebuilt from the
``targets`` set by :meth:`RedisStore.reindex`, which the first index read of each store object runs
when ``idx:version`` is missing or differs (statuses written before the index existed, or an older
layout); it is idempotent and leaves alone a target written meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import redis

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import InputError, StateError
from gitops.state import lua
from gitops.state.base import (
    EVENTS_LIMIT,
    HISTORY_LIMIT,
    Lease,
    OperationWrites,
    Store,
    bounded_event,
    write_event,
)
from gitops.state.connect import connect
from gitops.state.index import (
    COUNTED_FACETS,
    INDEX_VERSION,
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
from gitops.state.names import DEFAULT_PREFIX, Keys, check_name, check_operation_id, check_target
from gitops.state.redis_errors import translated as _translated
from gitops.vocabulary import Target

log = logging.getLogger(__name__)




def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


T = TypeVar("T")


def _decode(raw: bytes, key: str, parse: Callable[[Mapping[str, Any]], T]) -> T:
    """One stored record; a corrupt or foreign value is a StateError naming its key."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        return parse(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise StateError(f"corrupt state record at {key!r}: {type(exc).__name__}: {str(exc)[:200]}",
                         temporary=False) from exc


def _decode_all(raws: list[bytes | None], keys: list[str],
                parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """Records of a list read; corrupt ones are logged and skipped so one bad key cannot hide the rest."""
    out: list[T] = []
    for raw, key in zip(raws, keys, strict=True):
        if raw is None:
            continue
        try:
            out.append(_decode(raw, key, parse))
        except StateError as exc:
            log.warning("%s", exc)
    return out


class RedisStore(OperationWrites, Store):
    """A Store on one Redis database; ``prefix`` carries the schema version."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX,
                 history_limit: int = HISTORY_LIMIT, events_limit: int = EVENTS_LIMIT,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis = client
        self.clock = clock
        self.keys = Keys(prefix)
        self.history_limit = history_limit
        self.events_limit = events_limit
        self._scripts = {name: client.register_script(getattr(lua, name)) for name in (
            "ACQUIRE", "RENEW", "RELEASE", "RECORD", "TRIGGER", "BEGIN_RUN", "FINISH_RUN",
            "ACQUIRE_NAMED", "CLAIM_DUE", "FORGET", "REINDEX", "QUERY", "COUNTS")}
        self._index_checked = False

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisStore:
        client = connect(url, socket_timeout=10, socket_connect_timeout=5,
                         health_check_interval=30, retry_on_timeout=True)
        return cls(client, **kw)

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        with _translated(name.lower()):
            return self._scripts[name](keys=keys, args=args)

    # -- records: writes ------------------------------------------------------------------------
    def _write(self, status: TargetStatus | None, operation: Operation, lease: Lease | None,
               kind: str, message: str) -> None:
        target = operation.target
        check_operation_id(operation.id)
        if lease is not None and lease.target != target:
            raise StateError(f"lease for {lease.target} used to write {target}", target=target.key)
        event = write_event(kind, operation, message)
        k = self.keys
        keys = [k.fence(target), k.status(target), k.operations(target), k.history(target),
                k.targets(), k.events()]
        args = [lease.token if lease else -1, json.dumps(status.to_dict()) if status else "",
                operation.id, json.dumps(operation.to_dict()), repr(operation.started),
                self.history_limit, target.key, self.events_limit, event.kind, event.message,
                event.data["phase"], self._entry_json(index_entry(target, status)) if status else "",
                k.index_prefix()]
        if not self._run("RECORD", keys, args):
            raise StateError(f"stale lease (token {lease.token if lease else '-'}): a newer reconcile "
                             f"of {target} has written since; this write was refused",
                             target=target.key, temporary=False)

    def publish(self, event: Event) -> str:
        check_name(event.application, "application")
        check_name(event.cluster, "cluster")
        event = bounded_event(event)
        fields: dict[str, str] = {"kind": event.kind, "target": f"{event.application}@{event.cluster}",
                                  "message": event.message, "time": repr(event.time), **event.data}
        with _translated("publish"):
            return _text(self.redis.xadd(self.keys.events(), cast(Any, fields), maxlen=self.events_limit,
                                         approximate=True))

    # -- records: reads -------------------------------------------------------------------------
    def status(self, target: Target) -> TargetStatus | None:
        key = self.keys.status(target)
        with _translated("status"):
            raw = self.redis.get(key)
        return None if raw is None else _decode(raw, key, TargetStatus.from_dict)

    def statuses(self) -> list[TargetStatus]:
        with _translated("statuses"):
            members = sorted(_text(m) for m in self.redis.smembers(self.keys.targets()))
            targets = [Target(*m.split("@", 1)) for m in members if "@" in m]
            keys = [self.keys.status(t) for t in targets]
            raws = self.redis.mget(keys) if keys else []
        return _decode_all(raws, keys, TargetStatus.from_dict)

    def history(self, target: Target, limit: int = HISTORY_LIMIT) -> list[Operation]:
        key = self.keys.history(target)
        if limit <= 0:
            return []
        with _translated("history"):
            ids = self.redis.zrevrange(key, 0, limit - 1)
            if not ids:
                return []
            raws = self.redis.hmget(self.keys.operations(target), ids)
        return _decode_all(raws, [f"{self.keys.operations(target)}[{_text(i)}]" for i in ids],
                           Operation.from_dict)

    def operation(self, target: Target, op_id: str) -> Operation | None:
        with _translated("operation"):
            raw = self.redis.hget(self.keys.operations(target), check_operation_id(op_id))
        key = f"{self.keys.operations(target)}[{op_id}]"
        return None if raw is None else _decode(raw, key, Operation.from_dict)

    def events(self, after: str = "0", count: int = 100, block_ms: int | None = None) -> list[Event]:
        with _translated("events"):
            reply = self.redis.xread({self.keys.events(): after}, count=count, block=block_ms)
        out: list[Event] = []
        for _stream, entries in cast(list[tuple[Any, list[tuple[bytes, dict[bytes, bytes]]]]], reply or []):
            for entry_id, raw in entries:
                data = {_text(k): _text(v) for k, v in raw.items()}
                app, _, cluster = data.pop("target", "@").partition("@")
                out.append(Event(kind=data.pop("kind", ""), application=app, cluster=cluster,
                                 message=data.pop("message", ""), time=float(data.pop("time", "0") or 0),
                                 data=data, id=_text(entry_id)))
        return out

    def last_event_id(self) -> str:
        with _translated("events"):
            newest = self.redis.xrevrange(self.keys.events(), count=1)
        return _text(newest[0][0]) if newest else "0"

    def forget(self, target: Target) -> bool:
        """Drop the status, history, index entry and manifests of a target that is no longer
        configured (fence kept)."""
        k = self.keys
        keys = [k.status(target), k.history(target), k.operations(target), k.targets(), k.manifests(target)]
        return bool(self._run("FORGET", keys, [target.key, k.index_prefix()]))

    # -- target index ---------------------------------------------------------------------------
    @staticmethod
    def _entry_json(entry: IndexEntry) -> str:
        """The entry as RECORD and REINDEX take it: facets and (order, member) pairs (see lua._INDEX)."""
        return json.dumps({"f": sorted(entry.facets), "z": [[str(s), entry.members[s]] for s in SortKey]},
                          separators=(",", ":"))

    def _spec(self, plan: QueryPlan) -> str:
        k = self.keys
        return json.dumps({"groups": [[k.index_facet(f) for f in g] for g in plan.groups],
                           "neg": [k.index_facet(f) for f in plan.negatives], "rev": plan.revision,
                           "text": plan.text})

    def _ensure_index(self) -> None:
        """Rebuild the index once per store object if it was built by another layout (or never)."""
        if self._index_checked:
            return
        with _translated("index version"):
            version = self.redis.get(self.keys.index_version())
        if version is None or _text(version) != INDEX_VERSION:
            self.reindex()
        self._index_checked = True

    def reindex(self, batch: int = 200) -> int:
        """Rebuild the target index from the ``targets`` set and the statuses (idempotent): index
        every status, drop entries of targets without one, then mark ``idx:version``. A status
        written meanwhile is left to its writer (compared by SHA-1). Returns how many statuses this
        call indexed."""
        k = self.keys
        with _translated("reindex"):
            ids = {_text(m) for m in self.redis.sscan_iter(k.targets(), count=1000)}
            ids |= {_text(m) for m, _ in self.redis.hscan_iter(k.index_entries(), count=1000)}
        targets: list[Target] = []
        for key in sorted(ids):
            app, _, cluster = key.partition("@")
            try:
                targets.append(check_target(app, cluster))
            except InputError:
                log.warning("reindex: skipped %r: not a target key", key[:300])
        indexed = 0
        for start in range(0, len(targets), batch):
            chunk = targets[start:start + batch]
            status_keys = [k.status(t) for t in chunk]
            with _translated("reindex"):
                raws = self.redis.mget(status_keys)
            args: list[str] = [k.index_prefix()]
            for target, key, raw in zip(chunk, status_keys, raws, strict=True):
                entry = ""
                if raw is not None:
                    try:
                        status = _decode(raw, key, TargetStatus.from_dict)
                        entry = self._entry_json(index_entry(target, status))
                    except StateError as exc:
                        log.warning("reindex: %s", exc)
                sha = "-" if raw is None else hashlib.sha1(raw, usedforsecurity=False).hexdigest()
                args += [target.key, sha, entry]
            indexed += int(self._run("REINDEX", [k.targets(), *status_keys], args))
        with _translated("reindex"):
            self.redis.set(k.index_version(), INDEX_VERSION)
        self._index_checked = True
        return indexed

    def _statuses_of(self, targets: list[Target]) -> list[TargetStatus]:
        keys = [self.keys.status(t) for t in targets]
        if not keys:
            return []
        with _translated("statuses"):
            raws = self.redis.mget(keys)
        return _decode_all(raws, keys, TargetStatus.from_dict)

    def query(self, query: TargetQuery) -> TargetPage:
        plan = plan_query(query)
        if plan.nothing:
            return TargetPage((), 0, None)
        self._ensure_index()
        k = self.keys
        order, after, want = k.index_order(plan.sort), plan.after, plan.limit + 1
        if plan.filtered:
            reply = self._run("QUERY", [k.targets(), k.index_order(SortKey.REVISION), order,
                                        k.index_members(plan.sort)],
                              [k.index_scratch(), self._spec(plan), "1" if plan.descending else "0",
                               after or "", want])
            total, members = int(reply[0]), [_text(m) for m in reply[1:]]
        else:
            with _translated("query"), self.redis.pipeline(transaction=True) as pipe:
                pipe.zcard(order)
                if plan.descending:
                    pipe.zrevrangebylex(order, "+" if after is None else f"({after}", "-", start=0, num=want)
                else:
                    pipe.zrangebylex(order, "-" if after is None else f"({after}", "+", start=0, num=want)
                count, found = pipe.execute()
            total, members = int(count), [_text(m) for m in found]
        page = members[: plan.limit]
        items = self._statuses_of([member_target(m) for m in page])
        more = len(members) > plan.limit
        return TargetPage(tuple(items), total, encode_cursor(plan, page[-1]) if more else None)

    def counts(self, query: TargetQuery | None = None) -> TargetCounts:
        plan = plan_query(query or TargetQuery(), paged=False)
        if plan.nothing:
            return counts_from(0, {})
        self._ensure_index()
        k = self.keys
        reply = self._run("COUNTS", [k.targets(), k.index_order(SortKey.REVISION)],
                          [k.index_scratch(), self._spec(plan), *(k.index_facet(f) for f in COUNTED_FACETS)])
        return counts_from(int(reply[0]), dict(zip(COUNTED_FACETS, (int(n) for n in reply[1:]), strict=True)))

    def at_revision(self, prefix: str, limit: int = MAX_PAGE) -> list[TargetStatus]:
        start = revision_prefix(prefix)
        check_limit(limit)
        self._ensure_index()
        with _translated("at revision"):
            found = self.redis.zrangebylex(self.keys.index_order(SortKey.REVISION), f"[{start}",
                                           f"({start}\x7f", start=0, num=limit)
        return self._statuses_of([member_target(_text(m)) for m in found])

    def keep_manifests(self, target: Target, manifests: RenderedManifests) -> None:
        key = self.keys.manifests(target)
        kept = bounded_manifests(manifests)
        with _translated("keep manifests"):
            self.redis.hset(key, mapping={"digest": kept.digest, "operation": kept.operation,
                                          "text": kept.text, "truncated": "1" if kept.truncated else "0"})

    def manifests(self, target: Target) -> RenderedManifests | None:
        key = self.keys.manifests(target)
        with _translated("manifests"):
            raw = self.redis.hgetall(key)
        if not raw:
            return None
        data = {_text(f): v for f, v in raw.items()}
        if not {"digest", "operation", "text"} <= set(data):
            raise StateError(f"corrupt state record at {key!r}: fields {sorted(data)[:10]}", temporary=False)
        return RenderedManifests(digest=_text(data["digest"]), operation=_text(data["operation"]),
                                 text=data["text"].decode("utf-8", "replace"),
                                 truncated=data.get("truncated") == b"1")

    # -- leases ---------------------------------------------------------------------------------
    def acquire(self, target: Target, owner: str, ttl: float) -> Lease | None:
        token = int(self._run("ACQUIRE", [self.keys.lock(target), self.keys.token_counter(target)],
                              [clip(owner, 200), _ms(ttl)]))
        return Lease(target, owner, token) if token else None

    def _lease_value(self, lease: Lease) -> str:
        return f"{clip(lease.owner, 200)}|{lease.token}"

    def renew(self, lease: Lease, ttl: float) -> bool:
        return bool(self._run("RENEW", [self.keys.lock(lease.target)], [self._lease_value(lease), _ms(ttl)]))

    def release(self, lease: Lease) -> bool:
        return bool(self._run("RELEASE", [self.keys.lock(lease.target)], [self._lease_value(lease)]))

    def acquire_named(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._run("ACQUIRE_NAMED", [self.keys.named_lock(name)], [clip(owner, 200), _ms(ttl)]))

    def release_named(self, name: str, owner: str) -> bool:
        return bool(self._run("RELEASE", [self.keys.named_lock(name)], [clip(owner, 200)]))

    # -- coalescing -----------------------------------------------------------------------------
    def trigger(self, target: Target, ttl: float) -> bool:
        return bool(self._run("TRIGGER", [self.keys.schedule(target)], [_ms(ttl)]))

    def begin_run(self, target: Target, ttl: float) -> None:
        self._run("BEGIN_RUN", [self.keys.schedule(target)], [_ms(ttl)])

    def finish_run(self, target: Target, ttl: float) -> bool:
        return bool(self._run("FINISH_RUN", [self.keys.schedule(target)], [_ms(ttl)]))

    # -- schedule -------------------------------------------------------------------------------
    def claim_due(self, intervals: Mapping[str, float], now: float | None = None) -> list[str]:
        args: list[Any] = [repr(self.clock.now() if now is None else now)]
        for name, interval in sorted(intervals.items()):
            args += [check_name(name, "repository"), repr(float(interval))]
        return [_text(n) for n in self._run("CLAIM_DUE", [self.keys.repo_due()], args)]

    def repo_head(self, repository: str) -> str | None:
        with _translated("repo head"):
            raw = self.redis.get(self.keys.repo_head(repository))
        return None if raw is None else _text(raw)

    def set_repo_head(self, repository: str, revision: str) -> None:
        with _translated("repo head"):
            self.redis.set(self.keys.repo_head(repository), clip(revision, 128))

    def ping(self) -> bool:
        with _translated("ping"):
            return bool(self.redis.ping())
