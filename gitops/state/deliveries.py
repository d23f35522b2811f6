"""Webhook deliveries: replay marks and a capped log of what each delivery did (or why it did nothing).

Written by the webhook receivers (``web/webhooks``) for every delivery they answer, read by the
deliveries API and the dashboard's deliveries page. Two implementations of one :class:`Deliveries`
Protocol: :class:`RedisDeliveries` (production; replay marks are ``SET NX PX`` keys that Redis expires,
the log is one Lua script that pushes, then trims the list and the records it drops) and
:class:`InMemoryDeliveries` (tests; time from an injected :class:`gitops.clock.Clock`); a contract test
runs both. Key design choice: everything stored comes from unauthenticated callers (a rejected delivery
is recorded too), so every field is clipped before it is stored, the log keeps at most ``cap`` entries,
and a delivery id reaches a Redis key only as its SHA-256 (no separator, glob or newline can get in).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

import redis

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import InputError
from gitops.state.connect import connect
from gitops.state.model import clip
from gitops.state.names import DEFAULT_PREFIX
from gitops.state.redis_errors import translated

LOG_CAP: Final = 1000
# Rejected deliveries (forged, replayed, unreadable: anyone can send them) may hold at most this many
# places of the log, so a flood of them never pushes the verified ones out.
REJECTED_CAP: Final = 200
MAX_TRIGGERED: Final = 200
MAX_ID: Final = 200
MAX_URL: Final = 500
MAX_REASON: Final = 2000
_KEY = re.compile(r"^[0-9a-f]{8,40}$")
_PROVIDER = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class Verdict(StrEnum):
    ACCEPTED = "accepted"   # verified and acted on (or a ping answered)
    IGNORED = "ignored"     # verified, nothing to do (another event, a deleted branch, nothing matched)
    REJECTED = "rejected"   # not verified, replayed, or unreadable


def _clip_text(value: object, limit: int) -> str:
    text = clip(value, limit)
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def new_key(now: float) -> str:
    """A record key: time-ordered (milliseconds, hex) plus 32 random bits."""
    return f"{max(0, int(now * 1000)):011x}{secrets.token_hex(4)}"


def check_key(value: object) -> str:
    """A record key from an untrusted value (an HTTP path); InputError when it is not one."""
    if not isinstance(value, str) or not _KEY.match(value):
        raise InputError(f"invalid delivery key {str(value)[:60]!r}", field="key")
    return value


def check_provider(value: object) -> str:
    if not isinstance(value, str) or not _PROVIDER.match(value):
        raise InputError(f"invalid provider {str(value)[:40]!r}", field="provider")
    return value


@dataclass(frozen=True)
class Delivery:
    """One delivery as answered. ``id``: the provider's delivery id (or ``sha256:<hex>`` of the body
    when it sent none); ``key``: this record's own key (a delivery id can be recorded more than once:
    a replay is recorded too); ``paths``: changed paths the payload listed (None: it did not say);
    ``triggered``: (target key ``app@cluster``, task id or ``coalesced``); ``status``: the HTTP status
    answered."""

    id: str
    provider: str
    receiver: str = ""
    event: str = ""
    repository: str = ""
    ref: str = ""
    commit: str = ""
    paths: int | None = None
    verdict: Verdict = Verdict.REJECTED
    reason: str = ""
    triggered: tuple[tuple[str, str], ...] = ()
    time: float = 0.0
    remote: str = ""
    status: int = 0
    key: str = field(default="")

    def bounded(self) -> Delivery:
        """This delivery with every field clipped (and a key when it had none)."""
        key = self.key if _KEY.match(self.key or "") else new_key(self.time)
        triggered = tuple((_clip_text(t, 300), _clip_text(task, 200))
                          for t, task in self.triggered[:MAX_TRIGGERED])
        reason = _clip_text(self.reason, MAX_REASON)
        if len(self.triggered) > MAX_TRIGGERED:
            note = f" ({len(self.triggered) - MAX_TRIGGERED} more triggered targets not kept)"
            reason = _clip_text(self.reason, MAX_REASON - len(note)) + note
        paths = self.paths if self.paths is None or self.paths >= 0 else None
        return Delivery(
            id=_clip_text(self.id, MAX_ID), provider=_clip_text(self.provider, 40),
            receiver=_clip_text(self.receiver, 300), event=_clip_text(self.event, 100),
            repository=_clip_text(self.repository, MAX_URL), ref=_clip_text(self.ref, 300),
            commit=_clip_text(self.commit, 80), paths=paths, verdict=Verdict(self.verdict),
            reason=reason, triggered=triggered, time=float(self.time),
            remote=_clip_text(self.remote, 100), status=int(self.status), key=key)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "id": self.id, "provider": self.provider, "receiver": self.receiver,
                "event": self.event, "repository": self.repository, "ref": self.ref, "commit": self.commit,
                "paths": self.paths, "verdict": str(self.verdict), "reason": self.reason,
                "triggered": [{"target": t, "task": task} for t, task in self.triggered],
                "time": self.time, "remote": self.remote, "status": self.status}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Delivery:
        def text(name: str) -> str:
            value = data.get(name, "")
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected a string")
            return value

        paths = data.get("paths")
        if paths is not None and (not isinstance(paths, int) or isinstance(paths, bool)):
            raise TypeError("paths: expected an integer or null")
        triggered = data.get("triggered") or []
        if not isinstance(triggered, list):
            raise TypeError("triggered: expected a list")
        pairs = tuple((str(item["target"]), str(item["task"])) for item in triggered)
        number = data.get("time", 0.0)
        status = data.get("status", 0)
        if not isinstance(number, int | float) or not isinstance(status, int):
            raise TypeError("time, status: expected numbers")
        return Delivery(id=text("id"), provider=text("provider"), receiver=text("receiver"),
                        event=text("event"), repository=text("repository"), ref=text("ref"),
                        commit=text("commit"), paths=paths, verdict=Verdict(text("verdict")),
                        reason=text("reason"), triggered=pairs, time=float(number), remote=text("remote"),
                        status=status, key=text("key"))


class Deliveries(Protocol):
    """Replay marks and the delivery log."""

    def remember(self, provider: str, delivery_id: str, ttl: float) -> bool:
        """Mark ``delivery_id`` of ``provider`` seen for ``ttl`` seconds; False when it already was."""

    def forget(self, provider: str, delivery_id: str) -> None:
        """Drop the mark of ``delivery_id`` (its delivery could not be acted on: let a retry in)."""

    def record(self, delivery: Delivery) -> Delivery:
        """Append ``delivery`` (clipped; given a key when it has none) to the log, dropping the oldest
        beyond the cap; returns what was stored."""

    def recent(self, limit: int = 100, provider: str | None = None) -> list[Delivery]:
        """The newest deliveries first, at most ``limit``, only ``provider``'s when given."""

    def get(self, key: str) -> Delivery | None:
        """The delivery recorded under ``key``; or, when ``key`` is a provider's delivery id, the newest
        record of that id; None when neither is in the log."""


def _seen_digest(provider: str, delivery_id: str) -> str:
    return hashlib.sha256(f"{check_provider(provider)}\x00{delivery_id}".encode()).hexdigest()


def _limit(limit: int, cap: int) -> int:
    return max(0, min(int(limit), cap))


class InMemoryDeliveries:
    """:class:`Deliveries` in a dictionary (tests, ``gitops up`` without Redis); thread-safe."""

    def __init__(self, cap: int = LOG_CAP, clock: Clock = SYSTEM_CLOCK,
                 rejected_cap: int = REJECTED_CAP) -> None:
        self.cap, self.clock, self.rejected_cap = cap, clock, rejected_cap
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._log: OrderedDict[str, Delivery] = OrderedDict()
        self._rejected: OrderedDict[str, None] = OrderedDict()  # keys of rejected ones, oldest first

    def remember(self, provider: str, delivery_id: str, ttl: float) -> bool:
        digest = _seen_digest(provider, delivery_id)
        now = self.clock.monotonic()
        with self._lock:
            for old in [d for d, until in self._seen.items() if until <= now]:
                del self._seen[old]
            if digest in self._seen:
                return False
            self._seen[digest] = now + max(0.001, float(ttl))
            return True

    def forget(self, provider: str, delivery_id: str) -> None:
        with self._lock:
            self._seen.pop(_seen_digest(provider, delivery_id), None)

    def record(self, delivery: Delivery) -> Delivery:
        stored = delivery.bounded()
        with self._lock:
            self._log[stored.key] = stored
            self._log.move_to_end(stored.key, last=False)
            if stored.verdict is Verdict.REJECTED:
                self._rejected[stored.key] = None
                while len(self._rejected) > self.rejected_cap:
                    self._log.pop(self._rejected.popitem(last=False)[0], None)
            while len(self._log) > self.cap:
                self._rejected.pop(self._log.popitem(last=True)[0], None)
        return stored

    def recent(self, limit: int = 100, provider: str | None = None) -> list[Delivery]:
        with self._lock:
            found = [d for d in self._log.values() if provider is None or d.provider == provider]
        return found[:_limit(limit, self.cap)]

    def get(self, key: str) -> Delivery | None:
        with self._lock:
            if key in self._log:
                return self._log[key]
            return next((d for d in self._log.values() if d.id == key), None)


# KEYS: log list, records hash, rejected list.  ARGV: record key, record json, cap, rejected (0|1),
# rejected cap. The rejected list names the rejected entries of the log (newest first), at most
# ``rejected cap`` of them: the oldest beyond it leave the log too.
_RECORD: Final = """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  redis.call('LPUSH', KEYS[3], ARGV[1])
  local over = redis.call('LLEN', KEYS[3]) - tonumber(ARGV[5])
  while over > 0 do
    local old = redis.call('RPOP', KEYS[3])
    if old then redis.call('LREM', KEYS[1], 1, old) redis.call('HDEL', KEYS[2], old) end
    over = over - 1
  end
end
local extra = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[3])
while extra > 0 do
  local old = redis.call('RPOP', KEYS[1])
  if old then redis.call('HDEL', KEYS[2], old) redis.call('LREM', KEYS[3], 1, old) end
  extra = extra - 1
end
return 1
"""


def _translated(what: str) -> AbstractContextManager[None]:
    return translated(f"deliveries: {what}")


def _decode(raw: bytes | str | None) -> Delivery | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        return Delivery.from_dict(data)
    except (ValueError, TypeError, KeyError):
        return None  # a corrupt record hides itself, never the rest of the log


class RedisDeliveries:
    """:class:`Deliveries` on Redis: replay marks ``<prefix>webhooks:seen:<sha256>`` (expired by Redis),
    the log ``<prefix>webhooks:log`` (list of record keys, newest first), ``<prefix>webhooks:records``
    (hash of key -> JSON) and ``<prefix>webhooks:rejected`` (the rejected entries of the log, at most
    ``rejected_cap``), kept in step by one script."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX,
                 cap: int = LOG_CAP, rejected_cap: int = REJECTED_CAP) -> None:
        self.client, self.prefix, self.cap, self.rejected_cap = client, prefix, cap, rejected_cap
        self._record = client.register_script(_RECORD)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisDeliveries:
        client = connect(url, socket_timeout=10, socket_connect_timeout=5,
                         health_check_interval=30, retry_on_timeout=True)
        return cls(client, **kw)

    @property
    def log_key(self) -> str:
        return f"{self.prefix}webhooks:log"

    @property
    def rejected_key(self) -> str:
        """The rejected entries of the log (a list of record keys, newest first)."""
        return f"{self.prefix}webhooks:rejected"

    @property
    def records_key(self) -> str:
        return f"{self.prefix}webhooks:records"

    def seen_key(self, provider: str, delivery_id: str) -> str:
        return f"{self.prefix}webhooks:seen:{_seen_digest(provider, delivery_id)}"

    def remember(self, provider: str, delivery_id: str, ttl: float) -> bool:
        key = self.seen_key(provider, delivery_id)
        with _translated("remember"):
            return bool(self.client.set(key, b"1", nx=True, px=max(1, int(float(ttl) * 1000))))

    def forget(self, provider: str, delivery_id: str) -> None:
        with _translated("forget"):
            self.client.delete(self.seen_key(provider, delivery_id))

    def record(self, delivery: Delivery) -> Delivery:
        stored = delivery.bounded()
        with _translated("record"):
            self._record(keys=[self.log_key, self.records_key, self.rejected_key],
                         args=[stored.key, json.dumps(stored.to_dict()), self.cap,
                               int(stored.verdict is Verdict.REJECTED), self.rejected_cap])
        return stored

    def _keys(self) -> list[str]:
        with _translated("list"):
            raw = self.client.lrange(self.log_key, 0, self.cap - 1)
        return [k.decode() if isinstance(k, bytes) else str(k) for k in raw]

    def _load(self, keys: list[str]) -> list[Delivery]:
        if not keys:
            return []
        with _translated("read"):
            raws = self.client.hmget(self.records_key, keys)
        return [d for d in (_decode(r) for r in raws) if d is not None]

    def recent(self, limit: int = 100, provider: str | None = None) -> list[Delivery]:
        wanted = _limit(limit, self.cap)
        keys = self._keys()
        if provider is None:
            return self._load(keys[:wanted])
        found: list[Delivery] = []
        for chunk in _chunks(keys, 200):
            found += [d for d in self._load(chunk) if d.provider == provider]
            if len(found) >= wanted:
                break
        return found[:wanted]

    def get(self, key: str) -> Delivery | None:
        if _KEY.match(key):
            with _translated("get"):
                found = _decode(self.client.hget(self.records_key, key))
            if found is not None:
                return found
        for keys in _chunks(self._keys(), 200):
            match = next((d for d in self._load(keys) if d.id == key), None)
            if match is not None:
                return match
        return None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
