"""Wake-ups: targets to reconcile at a given time (a sync window that held them closes).

Written by workers/gates.py when a window holds a target (``at`` = when the window's verdict changes),
claimed by the beat (workers/beat.py) each tick, which dispatches a reconcile with the reason as the
trigger detail ("sync window freeze closed"). Key design choices: one wake per target, the latest
decision wins (a later hold knows best when the target may write); claiming is atomic (a Lua script
takes the due members and their reasons in one step), so a wake is dispatched once even with a standby
beat; members and keys are built only from names that passed :func:`gitops.state.names.check_target`
and reasons are clipped, so a forged value never reaches a key. :class:`InMemoryWakes` is the same
contract for tests and single-process runs.
"""

from __future__ import annotations

import math
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from gitops.errors import InputError, StateError
from gitops.state.model import clip
from gitops.state.names import DEFAULT_PREFIX, check_target
from gitops.state.redis_errors import translated
from gitops.vocabulary import Target

MAX_REASON = 200
MAX_CLAIM = 1000


@dataclass(frozen=True)
class Wake:
    """Reconcile ``target`` at ``at`` (epoch seconds) because ``reason``."""

    target: Target
    at: float
    reason: str


class Wakes(Protocol):
    def schedule(self, wake: Wake) -> None:
        """Wake ``wake.target`` at ``wake.at`` (replacing any wake it had)."""

    def claim_due(self, now: float, limit: int = 100) -> list[Wake]:
        """Take (remove and return) the wakes due at ``now``, earliest first, at most ``limit``."""

    def pending(self, target: Target) -> Wake | None: ...


def _checked(wake: Wake) -> Wake:
    check_target(wake.target.application, wake.target.cluster)
    if not math.isfinite(wake.at):
        raise StateError(f"wake of {wake.target} at {wake.at!r}: not a time")
    return Wake(wake.target, float(wake.at), clip(wake.reason, MAX_REASON))


def _target(member: str) -> Target | None:
    application, _, cluster = member.partition("@")
    try:
        return check_target(application, cluster)
    except InputError:  # a foreign member: skipped, never dispatched
        return None


class InMemoryWakes:
    def __init__(self) -> None:
        self._wakes: dict[Target, Wake] = {}
        self._lock = threading.Lock()

    def schedule(self, wake: Wake) -> None:
        checked = _checked(wake)
        with self._lock:
            self._wakes[checked.target] = checked

    def claim_due(self, now: float, limit: int = 100) -> list[Wake]:
        with self._lock:
            due = sorted((w for w in self._wakes.values() if w.at <= now), key=lambda w: (w.at, w.target.key))
            due = due[:max(0, min(limit, MAX_CLAIM))]
            for wake in due:
                del self._wakes[wake.target]
            return due

    def pending(self, target: Target) -> Wake | None:
        with self._lock:
            return self._wakes.get(target)


# KEYS: the sorted set (member app@cluster, score due time), the hash of reasons. ARGV: now, limit.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  local member = due[i]
  redis.call('ZREM', KEYS[1], member)
  local reason = redis.call('HGET', KEYS[2], member) or ''
  redis.call('HDEL', KEYS[2], member)
  table.insert(out, member)
  table.insert(out, due[i + 1])
  table.insert(out, reason)
end
return out
"""


def _translated(what: str) -> AbstractContextManager[None]:
    return translated(f"wakes: {what}")


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class RedisWakes:
    """Wakes in Redis: ``<prefix>wakes`` (sorted set by due time) and ``<prefix>wakes:why`` (reasons)."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = client
        self.key = f"{prefix}wakes"
        self.reasons = f"{prefix}wakes:why"
        self._claim = client.register_script(_CLAIM)

    def schedule(self, wake: Wake) -> None:
        checked = _checked(wake)
        member = checked.target.key
        with _translated("schedule"):
            pipe = self.redis.pipeline(transaction=True)
            pipe.zadd(self.key, {member: checked.at})
            pipe.hset(self.reasons, member, checked.reason)
            pipe.execute()

    def claim_due(self, now: float, limit: int = 100) -> list[Wake]:
        with _translated("claim"):
            raw = self._claim(keys=[self.key, self.reasons],
                              args=[repr(float(now)), max(0, min(int(limit), MAX_CLAIM))])
        wakes = []
        for i in range(0, len(raw) - 2, 3):
            target = _target(_text(raw[i]))
            if target is not None:
                wakes.append(Wake(target, float(_text(raw[i + 1])), clip(_text(raw[i + 2]), MAX_REASON)))
        return wakes

    def pending(self, target: Target) -> Wake | None:
        member = check_target(target.application, target.cluster).key
        with _translated("pending"):
            score = self.redis.zscore(self.key, member)
            reason = self.redis.hget(self.reasons, member)
        if score is None:
            return None
        return Wake(target, float(score), clip(_text(reason or b""), MAX_REASON))
