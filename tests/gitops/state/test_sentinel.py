"""Redis Sentinel: the URL grammar of gitops.state.connect (hostile forms refused, naming the variable,
never showing the password) and the engine's store on a real Sentinel deployment, through a failover."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gitops.clock import poll_until
from gitops.errors import GitOpsError, InputError
from gitops.state import RedisStore, SentinelURL, connect, open_store, parse_redis_url
from gitops.state.connect import parse_sentinel_url


def _kit() -> Any:
    """tests/workers/sentinel_kit.py, loaded by its path (putting a test directory on ``sys.path`` would
    change what ``import conftest`` finds for the rest of the session)."""
    path = Path(__file__).resolve().parents[2] / "workers" / "sentinel_kit.py"
    spec = importlib.util.spec_from_file_location("sentinel_kit", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("sentinel_kit") or importlib.util.module_from_spec(spec)
    if "sentinel_kit" not in sys.modules:
        sys.modules["sentinel_kit"] = module
        spec.loader.exec_module(module)
    return module


kit = _kit()
MASTER = kit.MASTER


@pytest.mark.parametrize(("url", "expected"), [
    ("redis+sentinel://s1:26379,s2:26380/mymaster/2",
     SentinelURL((("s1", 26379), ("s2", 26380)), "mymaster", 2)),
    ("redis+sentinel://s1/mymaster", SentinelURL((("s1", 26379),), "mymaster", 0)),
    ("redis+sentinel://:p%40ss@10.0.0.1,10.0.0.2:1/m.1_x-y/0",
     SentinelURL((("10.0.0.1", 26379), ("10.0.0.2", 1)), "m.1_x-y", 0, None, "p@ss")),
    ("redis+sentinel://alice:pw@[::1]:26379/mymaster?sentinel_auth=yes",
     SentinelURL((("::1", 26379),), "mymaster", 0, "alice", "pw", sentinel_auth=True)),
])
def test_sentinel_grammar(url: str, expected: SentinelURL) -> None:
    assert parse_redis_url(url) == expected


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:pw@h:6380/1", "unix:///tmp/r.sock?db=0"])
def test_plain_urls_pass_through(url: str) -> None:
    assert parse_redis_url(url) is None


@pytest.mark.parametrize(("url", "why"), [
    ("redis+sentinel:///mymaster/0", "no sentinel host"),
    ("redis+sentinel://s1:0/mymaster", "sentinel port '0'"),
    ("redis+sentinel://s1:65536/mymaster", "sentinel port"),
    ("redis+sentinel://s1:26379x/mymaster", "sentinel port"),
    ("redis+sentinel://s1:-1/mymaster", "sentinel port"),
    ("redis+sentinel://s1:26379", "no master name"),
    ("redis+sentinel://s1:26379/", "no master name"),
    ("redis+sentinel://s1/my/master/0", "too many path segments"),
    ("redis+sentinel://s1/my%2Fmaster/0", "master name 'my/master'"),
    ("redis+sentinel://s1/mymaster/x", "database 'x'"),
    ("redis+sentinel://s1/mymaster/99999", "database"),
    ("redis+sentinel://s1/mymaster/-1", "database"),
    ("redis+sentinel://s1,s1/mymaster", "listed twice"),
    ("redis+sentinel://s1,,s2/mymaster", "sentinel host ''"),
    ("redis+sentinel://s1\r\nFLUSHALL/mymaster", "sentinel host"),
    ("redis+sentinel://s1/mymaster?master=evil", "unknown option"),
    ("redis+sentinel://s1/mymaster#frag", "fragment"),
    ("redis+sentinel://" + ",".join(f"h{i}:26379" for i in range(1000)) + "/mymaster", "longer than"),
    ("redis+sentinel://" + ",".join(f"h{i}" for i in range(17)) + "/mymaster", "17 sentinels"),
    ("sentinel://s1:26379;sentinel://s2:26379", "unknown scheme 'sentinel'"),
    ("http://h:6379/0", "unknown scheme 'http'"),
    ("127.0.0.1:6379", "unknown scheme ''"),
    ("redis://h:notaport/0", "Port could not be cast"),
])
def test_hostile_urls_are_input_errors_naming_the_variable(url: str, why: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_redis_url(url)
    assert why in str(caught.value)
    assert "GITOPS_REDIS_URL" in str(caught.value)
    assert caught.value.problem.field == "GITOPS_REDIS_URL"
    with pytest.raises(InputError):  # and no client is built
        connect(url)


@pytest.mark.parametrize("url", ["redis+sentinel://alice:s3cret@s1:99999/mymaster",
                                 "redis+sentinel://:s3/cret@s1/a/b/c", "redis+sentinel://:s3@cret@s1:0/m",
                                 "redis://:s3cret@h:99999/0", "http://:s3cret@h/0"])
def test_errors_and_repr_never_show_the_password(url: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_redis_url(url)
    assert "s3" not in str(caught.value) and "cret" not in str(caught.value)
    assert "***@" in str(caught.value)


def test_repr_never_shows_the_password() -> None:
    assert "s3cret" not in repr(parse_sentinel_url("redis+sentinel://:s3cret@s1/mymaster"))


def test_open_store_refuses_a_bad_url_before_connecting() -> None:
    with pytest.raises(InputError, match="GITOPS_REDIS_URL"):
        open_store("redis+sentinel://s1:26379/a/b/c")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with kit.sentinels(tmp_path_factory.mktemp("sentinel")) as running:
        yield running


def _write(store: RedisStore, value: str) -> bool:
    try:
        store.set_repo_head("repo", value)
    except GitOpsError as exc:  # the connection to the old master dropped: temporary, the next call works
        assert exc.temporary
        return False
    return True


def test_store_works_through_sentinels_and_follows_a_failover(deployment: Any) -> None:
    store = open_store(deployment.url(db=3))
    assert store.ping()
    store.set_repo_head("repo", "a" * 40)
    first = deployment.master_port()
    assert RedisStore(redis.Redis(host="127.0.0.1", port=first, db=3)).repo_head("repo") == "a" * 40

    promoted = deployment.failover()
    assert promoted != first
    assert poll_until(lambda: _write(store, "b" * 40), 30.0, every=0.1)
    on_new_master = RedisStore(redis.Redis(host="127.0.0.1", port=promoted, db=3))
    assert on_new_master.repo_head("repo") == "b" * 40  # the write landed on the new master
    assert store.repo_head("repo") == "b" * 40
    assert redis.Redis(host="127.0.0.1", port=promoted).info("replication")["role"] == "master"


def test_every_store_of_the_state_layer_connects_through_sentinels(deployment: Any) -> None:
    from gitops.state import open_appsets
    from gitops.state.access import RedisAccounts
    from gitops.state.deliveries import RedisDeliveries

    url = deployment.url(db=4)
    assert open_appsets(url).names() == []
    assert RedisAccounts.from_url(url).has_users() is False
    deliveries = RedisDeliveries.from_url(url)
    assert deliveries.client.ping()
    client = connect(url)
    assert client.connection_pool.get_master_address()[1] == deployment.master_port()  # type: ignore[attr-defined]
    assert client.connection_pool.service_name == MASTER  # type: ignore[attr-defined]
