"""Fixtures for the state tests: one real redis-server per session, a clean database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.redis_server import RedisServer
from gitops.state import InMemoryStore, RedisStore


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture
def redis_store(redis_server: RedisServer) -> RedisStore:
    client = redis_server.client()
    client.flushdb()
    return RedisStore(client, history_limit=5)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> InMemoryStore | RedisStore:
    if request.param == "memory":
        return InMemoryStore(history_limit=5)
    return request.getfixturevalue("redis_store")  # type: ignore[no-any-return]
