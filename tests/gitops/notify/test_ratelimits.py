"""Per-destination rate limits: the fixed window, the same contract in Redis and in memory, and keys
that cannot address anything else in Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitops.errors import InputError
from gitops.state.ratelimits import InMemoryRateLimits, RateLimits, RedisRateLimits
from workers.redis_server import RedisServer

T0 = 6_000_000.0  # the start of a minute


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> RateLimits:
    if request.param == "memory":
        return InMemoryRateLimits()
    client = request.getfixturevalue("redis_server").client()
    client.flushdb()
    return RedisRateLimits(client)


def test_n_per_window_then_wait_until_it_turns(limits: RateLimits) -> None:
    assert [limits.take("notify:a", 3, T0 + 1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limits.take("notify:a", 3, T0 + 15) == 45.0
    assert limits.take("notify:b", 3, T0 + 15) == 0.0  # another destination has its own budget
    assert limits.used("notify:a", T0 + 20) == 4 and limits.used("notify:c", T0) == 0
    assert limits.take("notify:a", 3, T0 + 60) == 0.0  # the next window
    assert limits.used("notify:a", T0 + 61) == 1


@pytest.mark.parametrize("key", ["", "a b", "x" * 200, "notify:\r\nFLUSHALL", "../etc"])
def test_hostile_keys_and_limits_are_refused(limits: RateLimits, key: str) -> None:
    with pytest.raises(InputError):
        limits.take(key, 3, T0)
    with pytest.raises(InputError):
        limits.take("notify:a", 0, T0)
