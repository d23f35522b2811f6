"""Rate limits per destination: a fixed window of one minute, counted in Redis (or in memory).

Called by the workers' notification delivery (workers/notices.py) before each attempt: ``take`` counts
the attempt in the current minute of the destination's key and says how long to wait when the
minute's budget is spent. Two implementations of one :class:`RateLimits` Protocol:
:class:`RedisRateLimits` (production: every worker shares the count) and :class:`InMemoryRateLimits`
(tests, one process); tests/gitops/notify holds both to one contract. Key design choices: a fixed
window (INCR plus an expiry, one round trip) rather than a token bucket: simple, exact per minute, and
a refused attempt is retried when the window turns; the time is the caller's (an injected clock in
tests); keys are digests chosen by the caller (never a URL or a secret).
"""

from __future__ import annotations

import re
import threading
from typing import Final, Protocol

import redis

from gitops.errors import InputError
from gitops.state.names import DEFAULT_PREFIX
from gitops.state.redis_errors import translated as _translated

WINDOW: Final = 60.0  # seconds of one window
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class RateLimits(Protocol):
    """Deliveries per destination and window."""

    def take(self, key: str, limit: int, now: float) -> float:
        """Count one delivery to ``key`` at ``now``: 0.0 when it is within ``limit`` for the current
        window (go ahead), else the seconds until the window turns (wait)."""

    def used(self, key: str, now: float) -> int:
        """Deliveries counted for ``key`` in the window of ``now`` (refused ones included)."""


def _window(now: float) -> int:
    return int(now // WINDOW)


def _wait(now: float) -> float:
    return max(0.001, (_window(now) + 1) * WINDOW - now)


def _check(key: str, limit: int) -> None:
    if not _KEY.match(key):
        raise InputError("a rate-limit key is 1-128 letters, digits, '_', '.', ':' or '-'", field="key")
    if limit < 1:
        raise InputError("a rate limit is at least 1", field="limit")




class RedisRateLimits:
    """:class:`RateLimits` on Redis: ``<prefix>ratelimit:<key>:<window>``, a counter expiring after two
    windows."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix

    def _name(self, key: str, now: float) -> str:
        return f"{self.prefix}ratelimit:{key}:{_window(now)}"

    def take(self, key: str, limit: int, now: float) -> float:
        _check(key, limit)
        name = self._name(key, now)
        with _translated("rate limit"):
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, int(2 * WINDOW))
            count = int(pipe.execute()[0])
        return 0.0 if count <= limit else _wait(now)

    def used(self, key: str, now: float) -> int:
        _check(key, 1)
        with _translated("rate limit"):
            found = self.client.get(self._name(key, now))
        return int(found) if found is not None else 0


class InMemoryRateLimits:
    """:class:`RateLimits` in one process (tests, the CLI)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, now: float) -> float:
        _check(key, limit)
        window = _window(now)
        with self._lock:
            for old in [k for k in self._counts if k[1] < window - 1]:
                del self._counts[old]
            count = self._counts[(key, window)] = self._counts.get((key, window), 0) + 1
        return 0.0 if count <= limit else _wait(now)

    def used(self, key: str, now: float) -> int:
        _check(key, 1)
        with self._lock:
            return self._counts.get((key, _window(now)), 0)
