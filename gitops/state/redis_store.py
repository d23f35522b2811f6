"""RedisStore: every role of :class:`gitops.state.base.Store` on Redis (records, leases, coalescing,
schedule).

Used by the workers, ``gitops status`` and the HTTP API when a Redis URL is configured. Key design
choice: each logical change is one Lua script (see :mod:`gitops.state.lua`), so the fencing check and
the write it guards are atomic, and nothing is ever half-written; TTLs run on the Redis server's clock,
only the default ``now`` of ``claim_due`` comes from the injected :class:`gitops.clock.Clock`. Redis
errors are translated once, here, into :class:`gitops.errors.StateError` (temporary: Redis may come
back).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import redis

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import StateError
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
from gitops.state.model import Event, Operation, TargetStatus, clip
from gitops.state.names import DEFAULT_PREFIX, Keys, check_name, check_operation_id
from gitops.vocabulary import Target

log = logging.getLogger(__name__)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StateError(f"redis: {what}: {exc}", temporary=True) from exc


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
            "ACQUIRE_NAMED", "CLAIM_DUE")}

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisStore:
        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
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
                event.data["phase"]]
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

    def forget(self, target: Target) -> bool:
        """Drop the status and history of a target that is no longer configured (fence kept)."""
        k = self.keys
        with _translated("forget"), self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(k.status(target), k.history(target), k.operations(target))
            pipe.srem(k.targets(), target.key)
            deleted, _removed = pipe.execute()
        return bool(deleted)

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
