"""Fixtures for the state tests: one real redis-server per session, a clean database per test, and
``lapse``: let time pass for a store's TTLs without sleeping (a manual clock for the in-memory store;
for Redis, every TTL is shortened by the same amount and keys whose TTL runs out are expired by Redis)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from gitops.clock import ManualClock, poll_until
from gitops.state import InMemoryStore, RedisStore
from workers.redis_server import RedisServer

Lapse = Callable[[float], None]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def redis_store(redis_server: RedisServer, clock: ManualClock) -> RedisStore:
    client = redis_server.client()
    client.flushdb()
    return RedisStore(client, history_limit=5, clock=clock)  # the clock: claim_due's default now only


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, clock: ManualClock) -> InMemoryStore | RedisStore:
    if request.param == "memory":
        return InMemoryStore(history_limit=5, clock=clock)
    return request.getfixturevalue("redis_store")  # type: ignore[no-any-return]


def lapse_redis(client: redis.Redis, seconds: float) -> None:
    """``seconds`` pass for every key with a TTL: the rest of its TTL shrinks, or it expires (PEXPIRE 1,
    then wait until Redis no longer has it)."""
    gone = []
    for key in client.scan_iter(count=1000):
        left = client.pttl(key)
        if left < 0:  # no TTL (-1) or already gone (-2)
            continue
        rest = left - int(seconds * 1000)
        if rest > 0:
            client.pexpire(key, rest)
        else:
            client.pexpire(key, 1)
            gone.append(key)
    assert poll_until(lambda: not any(client.exists(k) for k in gone), timeout=10, every=0.002), gone


@pytest.fixture
def lapse(store: InMemoryStore | RedisStore, clock: ManualClock) -> Lapse:
    if isinstance(store, RedisStore):
        return lambda seconds: lapse_redis(store.redis, seconds)
    return clock.advance
