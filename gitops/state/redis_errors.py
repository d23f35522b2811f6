"""Redis errors as the engine's: one translation for every Redis-backed store of gitops.state.

Called by each Redis implementation (redis_store, access, appsets, deliveries, suspensions, wakes,
ratelimits) around its commands. Key choice: a Redis error is a temporary StateError (the server can
come back; the caller retries), chained to the original and naming what was being done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from gitops.errors import StateError


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run the block; a Redis error becomes ``StateError("redis: <what>: ...", temporary=True)``."""
    try:
        yield
    except redis.RedisError as exc:
        raise StateError(f"redis: {what}: {exc}", temporary=True) from exc
