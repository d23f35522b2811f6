"""The ApplicationSet controller's state: one versioned JSON record per set, and tombstones.

Written by the ApplicationSet controller (:mod:`gitops.appset.controller`) and by ``gitops appset
approve|pause|resume|restore`` (read-modify-write with compare-and-set); read by the workers' catalog
(the released generated applications join the configured ones) and by ``gitops status``. Two
implementations of one :class:`AppSetStore` Protocol: :class:`RedisAppSets` (production) and
:class:`InMemoryAppSets` (tests, time from an injected :class:`gitops.clock.Clock`); a contract test runs
both. Key design choice: the store keeps the record as opaque text with a version number (the schema is
:mod:`gitops.appset.record`'s), and every save names the version it read, so two controllers, or a
controller and an approving user, can never overwrite each other's change; a counter that every save
moves lets a catalog reload only when some set changed. Tombstones expire by themselves (Redis expiry).

Layout on Redis (every name checked by :func:`gitops.state.names.check_name` first, so no ``:``, glob or
newline reaches a key): ``<prefix>appset:rec:<set>`` (hash: ``version``, ``text``), ``<prefix>appset:names``
(set of the sets with a record), ``<prefix>appset:changes`` (the counter), ``<prefix>appset:tomb:<set>:<app>``
(a tombstone's JSON, ``PEXPIREAT`` its ``expires_at``) and ``<prefix>appset:tombs`` (sorted set of
``<set>:<app>`` scored by ``deleted_at``; members whose tombstone expired are removed when it is read).
A new version is the changes counter after the save (at least the old version plus one), so versions
only grow, even across a drop and a re-creation: a writer that read a record before it was dropped can
never overwrite its successor (no ABA).
"""

from __future__ import annotations

import json
import math
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

import redis

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import InputError, StateError
from gitops.state.connect import connect
from gitops.state.model import clip
from gitops.state.names import DEFAULT_PREFIX, check_name
from gitops.state.redis_errors import translated

MAX_RECORD: Final = 64 * 1024 * 1024  # bytes (UTF-8) of a record's text; longer: StateError
MAX_DOCUMENT: Final = 1024 * 1024     # bytes (UTF-8) of a tombstone's document; longer: InputError
MAX_REASON: Final = 2000              # characters of a tombstone's reason; clipped beyond


@dataclass(frozen=True)
class Versioned:
    """A stored record and the version a save must name to replace it."""

    version: int
    text: str


@dataclass(frozen=True)
class Tombstone:
    """A deleted generated application, restorable until ``expires_at``: ``document`` is its JSON
    Application document (:class:`gitops.appset.record.GeneratedApp`)."""

    appset: str
    application: str
    document: str
    deleted_at: float
    expires_at: float
    reason: str


class AppSetStore(Protocol):
    def load(self, appset: str) -> Versioned | None:
        """The record of ``appset``, or None when there is none."""

    def save(self, appset: str, text: str, expected: int) -> int | None:
        """Replace the record if its version is still ``expected`` (0: there must be none yet); returns
        the new version, or None when another writer got there first (nothing written)."""

    def drop(self, appset: str) -> bool:
        """Delete the record (an ApplicationSet removed from the configuration); True if there was one."""

    def names(self) -> list[str]:
        """Every set with a record, sorted."""

    def changes(self) -> int:
        """A counter every save and drop increments: unchanged means no record changed."""

    def bury(self, tombstone: Tombstone) -> None:
        """Keep a tombstone until its ``expires_at`` (replacing one of the same set and application)."""

    def tombstones(self, appset: str | None = None) -> list[Tombstone]:
        """Unexpired tombstones (of ``appset``, or of every set), newest first."""

    def exhume(self, appset: str, application: str) -> Tombstone | None:
        """Remove and return the tombstone, or None when there is none (or it expired)."""


# -- checks shared by both implementations ------------------------------------------------------------

def _record_bytes(text: str) -> bytes:
    """``text`` as stored (UTF-8); StateError when it is not a string, not encodable or too long."""
    if not isinstance(text, str):
        raise StateError(f"appset record: expected text, got {type(text).__name__}")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StateError(f"appset record: not storable as UTF-8: {exc}") from exc
    if len(data) > MAX_RECORD:
        raise StateError(f"appset record of {len(data)} bytes refused: at most {MAX_RECORD}")
    return data


def _expected(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"expected version must be an integer >= 0, got {str(value)[:40]!r}",
                         field="expected")
    return value


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"tombstone {what} must be a finite number, got {str(value)[:40]!r}", field=what)
    return float(value)


def _checked(tombstone: Tombstone) -> Tombstone:
    """``tombstone`` as stored: names checked, times finite, document bounded, reason clipped."""
    check_name(tombstone.appset, "appset")
    check_name(tombstone.application, "application")
    if not isinstance(tombstone.document, str):
        raise InputError("tombstone document must be text", field="document")
    try:
        size = len(tombstone.document.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InputError(f"tombstone document is not storable as UTF-8: {exc}", field="document") from exc
    if size > MAX_DOCUMENT:
        raise InputError(f"tombstone document of {size} bytes refused: at most {MAX_DOCUMENT}",
                         field="document")
    return replace(tombstone, deleted_at=_time(tombstone.deleted_at, "deleted_at"),
                   expires_at=_time(tombstone.expires_at, "expires_at"),
                   reason=clip(tombstone.reason, MAX_REASON).encode("utf-8", "replace").decode("utf-8"))


def _member(appset: str, application: str) -> str:
    """The index member (and key suffix) of a tombstone: names never hold ``:``, so it is unambiguous."""
    return f"{check_name(appset, 'appset')}:{check_name(application, 'application')}"


def _newest_first(tombstone: Tombstone) -> tuple[float, str]:
    """The order of :meth:`AppSetStore.tombstones` (reversed), the same as Redis's ZREVRANGE."""
    return tombstone.deleted_at, f"{tombstone.appset}:{tombstone.application}"


def _encode_tombstone(tombstone: Tombstone) -> str:
    return json.dumps({"appset": tombstone.appset, "application": tombstone.application,
                       "document": tombstone.document, "deleted_at": tombstone.deleted_at,
                       "expires_at": tombstone.expires_at, "reason": tombstone.reason})


def _decode_tombstone(raw: bytes | str | None, member: str | None = None) -> Tombstone | None:
    """A stored tombstone; None when absent or corrupt (a corrupt one hides itself, never the others)."""
    if raw is None:
        return None
    try:
        data: Any = json.loads(raw)
        if not isinstance(data, dict):
            return None
        texts = [data.get(k) for k in ("appset", "application", "document", "reason")]
        times = [data.get(k) for k in ("deleted_at", "expires_at")]
        if not all(isinstance(t, str) for t in texts) or \
                not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
            return None
        found = Tombstone(appset=data["appset"], application=data["application"], document=data["document"],
                          deleted_at=float(data["deleted_at"]), expires_at=float(data["expires_at"]),
                          reason=data["reason"])
        if member is not None and member != f"{found.appset}:{found.application}":
            return None  # written under another key: not to be trusted
        return found
    except (ValueError, TypeError, KeyError):
        return None


# -- in memory ----------------------------------------------------------------------------------------

class InMemoryAppSets:
    """:class:`AppSetStore` in dictionaries (tests, ``gitops up`` without Redis); thread-safe; tombstones
    expire when the injected clock's ``now()`` reaches their ``expires_at``."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, Versioned] = {}
        self._changes = 0
        self._tombstones: dict[tuple[str, str], Tombstone] = {}

    def load(self, appset: str) -> Versioned | None:
        check_name(appset, "appset")
        with self._lock:
            return self._records.get(appset)

    def save(self, appset: str, text: str, expected: int) -> int | None:
        check_name(appset, "appset")
        _expected(expected)
        _record_bytes(text)
        with self._lock:
            current = self._records.get(appset)
            if (current.version if current is not None else 0) != expected:
                return None
            self._changes += 1
            version = max(self._changes, expected + 1)
            self._records[appset] = Versioned(version, text)
            return version

    def drop(self, appset: str) -> bool:
        check_name(appset, "appset")
        with self._lock:
            if self._records.pop(appset, None) is None:
                return False
            self._changes += 1
            return True

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._records)

    def changes(self) -> int:
        with self._lock:
            return self._changes

    def _expire(self) -> None:
        now = self.clock.now()
        for key in [k for k, t in self._tombstones.items() if t.expires_at <= now]:
            del self._tombstones[key]

    def bury(self, tombstone: Tombstone) -> None:
        stored = _checked(tombstone)
        with self._lock:
            self._tombstones[(stored.appset, stored.application)] = stored
            self._expire()

    def tombstones(self, appset: str | None = None) -> list[Tombstone]:
        if appset is not None:
            check_name(appset, "appset")
        with self._lock:
            self._expire()
            found = [t for t in self._tombstones.values() if appset is None or t.appset == appset]
        return sorted(found, key=_newest_first, reverse=True)

    def exhume(self, appset: str, application: str) -> Tombstone | None:
        _member(appset, application)
        with self._lock:
            self._expire()
            return self._tombstones.pop((appset, application), None)


# -- on Redis -----------------------------------------------------------------------------------------

# KEYS: record hash, names set, changes counter.  ARGV: expected version, text, set name.
# Returns the new version; 0 when the record's version is not the expected one; -1 when the stored
# version is not a number (a corrupt record: nothing written).
_SAVE: Final = """
local raw = redis.call('HGET', KEYS[1], 'version')
local current = 0
if raw then
  current = tonumber(raw)
  if current == nil then return -1 end
end
if current ~= tonumber(ARGV[1]) then return 0 end
local version = redis.call('INCR', KEYS[3])
if version <= current then version = current + 1 end
redis.call('HSET', KEYS[1], 'version', version, 'text', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return version
"""

# KEYS: record hash, names set, changes counter.  ARGV: set name.  Returns 1 when there was a record.
_DROP: Final = """
local gone = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if gone == 1 then redis.call('INCR', KEYS[3]) end
return gone
"""

# KEYS: tombstone key, index.  ARGV: JSON, expires_at (ms since the epoch), deleted_at, member.
# PEXPIREAT in the past deletes the key at once: then the index forgets the member too.
_BURY: Final = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return 1
"""

# KEYS: index.  ARGV: tombstone key prefix, set name ('' for every set).  Returns [member, json, ...]
# newest first; members whose key expired (or vanished) leave the index.
_LIST: Final = """
local found = {}
local wanted = ARGV[2] .. ':'
for _, member in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local raw = redis.call('GET', ARGV[1] .. member)
  if not raw then
    redis.call('ZREM', KEYS[1], member)
  elseif ARGV[2] == '' or string.sub(member, 1, string.len(wanted)) == wanted then
    found[#found + 1] = member
    found[#found + 1] = raw
  end
end
return found
"""

# KEYS: tombstone key, index.  ARGV: member.  Returns the JSON (or nil), removed with its index member.
_EXHUME: Final = """
local raw = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return raw
"""


def _translated(what: str) -> AbstractContextManager[None]:
    return translated(f"appsets: {what}")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


class RedisAppSets:
    """:class:`AppSetStore` on Redis (layout in the module docstring): saves and drops are Lua scripts
    (compare-and-set, the counter and the set of names in one step), tombstones expire by Redis."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix
        self._save = client.register_script(_SAVE)
        self._drop = client.register_script(_DROP)
        self._bury = client.register_script(_BURY)
        self._list = client.register_script(_LIST)
        self._exhume = client.register_script(_EXHUME)

    @classmethod
    def from_url(cls, url: str) -> RedisAppSets:
        client = connect(url, socket_timeout=10, socket_connect_timeout=5,
                         health_check_interval=30, retry_on_timeout=True)
        return cls(client)

    def record_key(self, appset: str) -> str:
        return f"{self.prefix}appset:rec:{check_name(appset, 'appset')}"

    @property
    def names_key(self) -> str:
        return f"{self.prefix}appset:names"

    @property
    def changes_key(self) -> str:
        return f"{self.prefix}appset:changes"

    @property
    def tombstone_prefix(self) -> str:
        return f"{self.prefix}appset:tomb:"

    def tombstone_key(self, appset: str, application: str) -> str:
        return self.tombstone_prefix + _member(appset, application)

    @property
    def index_key(self) -> str:
        """Sorted set of every tombstone's ``<set>:<app>``, scored by ``deleted_at``."""
        return f"{self.prefix}appset:tombs"

    def load(self, appset: str) -> Versioned | None:
        key = self.record_key(appset)
        with _translated("load"):
            version, text = self.client.hmget(key, ["version", "text"])
        if version is None:
            return None
        try:
            number = int(version)
        except ValueError:
            number = 0
        if number <= 0 or text is None:
            raise StateError(f"corrupt appset record at {key!r}")
        return Versioned(number, _text(text))

    def save(self, appset: str, text: str, expected: int) -> int | None:
        key = self.record_key(appset)
        _expected(expected)
        data = _record_bytes(text)
        with _translated("save"):
            version = int(self._save(keys=[key, self.names_key, self.changes_key],
                                     args=[expected, data, appset]))
        if version < 0:
            raise StateError(f"corrupt appset record at {key!r}: its version is not a number")
        return version or None

    def drop(self, appset: str) -> bool:
        key = self.record_key(appset)
        with _translated("drop"):
            return bool(self._drop(keys=[key, self.names_key, self.changes_key], args=[appset]))

    def names(self) -> list[str]:
        with _translated("names"):
            raw = self.client.smembers(self.names_key)
        return sorted(_text(n) for n in raw)

    def changes(self) -> int:
        with _translated("changes"):
            raw = self.client.get(self.changes_key)
        try:
            return int(raw) if raw is not None else 0
        except ValueError as exc:
            raise StateError(f"corrupt appset counter at {self.changes_key!r}") from exc

    def bury(self, tombstone: Tombstone) -> None:
        stored = _checked(tombstone)
        member = _member(stored.appset, stored.application)
        with _translated("bury"):
            self._bury(keys=[self.tombstone_prefix + member, self.index_key],
                       args=[_encode_tombstone(stored), max(1, math.ceil(stored.expires_at * 1000)),
                             repr(stored.deleted_at), member])

    def tombstones(self, appset: str | None = None) -> list[Tombstone]:
        wanted = "" if appset is None else check_name(appset, "appset")
        with _translated("tombstones"):
            raw = self._list(keys=[self.index_key], args=[self.tombstone_prefix, wanted])
        pairs = zip(raw[0::2], raw[1::2], strict=True)
        found = [_decode_tombstone(body, _text(member)) for member, body in pairs]
        return [t for t in found if t is not None]

    def exhume(self, appset: str, application: str) -> Tombstone | None:
        member = _member(appset, application)
        with _translated("exhume"):
            raw = self._exhume(keys=[self.tombstone_prefix + member, self.index_key], args=[member])
        return _decode_tombstone(raw, member)
