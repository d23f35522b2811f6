"""The ApplicationSet controller's store: one contract for Redis and memory (compare-and-set saves,
versions that only grow, a changes counter that moves on every change and only then, sorted names,
tombstones listed newest first, exhumed once, expiring by themselves, hostile names and oversized input
refused before anything is written, concurrent writers never losing an update), plus what only Redis
shows (keys under the versioned prefix, a corrupt tombstone skipped, errors translated)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from gitops.clock import ManualClock
from gitops.errors import InputError, StateError
from gitops.state import (
    AppSetStore,
    InMemoryAppSets,
    RedisAppSets,
    Tombstone,
    Versioned,
    open_appsets,
)
from gitops.state.appsets import MAX_DOCUMENT, MAX_RECORD
from gitops.state.names import DEFAULT_PREFIX
from workers.redis_server import RedisServer, free_port

from .conftest import lapse_redis

Store = InMemoryAppSets | RedisAppSets
HOSTILE = ["a:b", "a*", "web\nprod", "..", "Web", "", "-web", "x" * 254, "a b", "a/b"]


@pytest.fixture
def rclient(redis_server: RedisServer) -> redis.Redis[bytes]:
    client = redis_server.client()
    client.flushdb()
    return client


@pytest.fixture(params=["memory", "redis"])
def appsets(request: pytest.FixtureRequest, clock: ManualClock) -> Store:
    if request.param == "memory":
        return InMemoryAppSets(clock=clock)
    return RedisAppSets(request.getfixturevalue("rclient"))


def _now(store: Store, clock: ManualClock) -> float:
    """The time tombstones expire by: the manual clock for memory, Redis's (the real) one for Redis."""
    return clock.now() if isinstance(store, InMemoryAppSets) else time.time()


def _pass(store: Store, clock: ManualClock) -> Callable[[float], None]:
    """Let seconds pass for the tombstones (the manual clock; for Redis every TTL shrinks by as much)."""
    if isinstance(store, RedisAppSets):
        return lambda seconds: lapse_redis(store.client, seconds)
    return clock.advance


def _tomb(store: Store, clock: ManualClock, appset: str, application: str, *, age: float = 0.0,
          ttl: float = 3600.0, document: str = '{"kind": "Application"}', reason: str = "gone") -> Tombstone:
    now = _now(store, clock)
    return Tombstone(appset=appset, application=application, document=document, deleted_at=now - age,
                     expires_at=now - age + ttl, reason=reason)


def _nothing_written(store: Store) -> bool:
    if isinstance(store, RedisAppSets):
        return store.client.dbsize() == 0
    return store.names() == [] and store.changes() == 0 and store.tombstones() == []


def test_the_stores_satisfy_the_protocol(appsets: Store) -> None:
    store: AppSetStore = appsets
    assert store.load("web") is None
    assert store.names() == []
    assert store.changes() == 0
    assert store.tombstones() == []


# -- records --------------------------------------------------------------------------------------------

def test_save_with_expected_zero_creates_the_record(appsets: Store) -> None:
    version = appsets.save("web", '{"a": 1}', 0)
    assert version is not None and version > 0
    assert appsets.load("web") == Versioned(version, '{"a": 1}')
    assert appsets.names() == ["web"]


def test_save_with_expected_zero_fails_when_the_record_exists(appsets: Store) -> None:
    first = appsets.save("web", "one", 0)
    assert appsets.save("web", "two", 0) is None
    assert appsets.load("web") == Versioned(first or -1, "one")


def test_a_stale_version_writes_nothing(appsets: Store) -> None:
    v1 = appsets.save("web", "one", 0)
    assert v1 is not None
    v2 = appsets.save("web", "two", v1)
    assert v2 is not None and v2 > v1
    before = appsets.changes()
    assert appsets.save("web", "three", v1) is None      # read v1, someone saved v2 since
    assert appsets.save("web", "three", v2 + 100) is None  # a version never handed out
    assert appsets.load("web") == Versioned(v2, "two")
    assert appsets.changes() == before


def test_versions_only_grow_even_across_a_drop(appsets: Store) -> None:
    seen = []
    expected = 0
    for n in range(5):
        version = appsets.save("web", f"text {n}", expected)
        assert version is not None
        seen.append(version)
        expected = version
    assert seen == sorted(seen) and len(set(seen)) == 5
    assert appsets.drop("web")
    again = appsets.save("web", "reborn", 0)
    assert again is not None and again > seen[-1]
    # a writer that read the record before the drop cannot replace its successor
    assert all(appsets.save("web", "stale", v) is None for v in seen)
    assert appsets.load("web") == Versioned(again, "reborn")


def test_changes_move_on_every_save_and_drop_and_not_on_a_failed_one(appsets: Store) -> None:
    assert appsets.changes() == 0
    v1 = appsets.save("web", "one", 0)
    assert v1 is not None
    c1 = appsets.changes()
    assert c1 > 0
    assert appsets.save("web", "other", 0) is None
    assert appsets.changes() == c1
    assert appsets.save("web", "two", v1) is not None
    c2 = appsets.changes()
    assert c2 > c1
    assert appsets.save("api", "one", 0) is not None
    c3 = appsets.changes()
    assert c3 > c2
    assert appsets.drop("web") is True
    c4 = appsets.changes()
    assert c4 > c3
    assert appsets.drop("web") is False  # nothing there: nothing changed
    assert appsets.changes() == c4


def test_names_are_sorted_and_drop_removes_one(appsets: Store) -> None:
    for name in ["zeta", "alpha", "mid.dle", "beta-2"]:
        assert appsets.save(name, name, 0) is not None
    assert appsets.names() == ["alpha", "beta-2", "mid.dle", "zeta"]
    assert appsets.drop("mid.dle") is True
    assert appsets.load("mid.dle") is None
    assert appsets.names() == ["alpha", "beta-2", "zeta"]
    assert appsets.drop("never") is False


def test_text_comes_back_exactly(appsets: Store) -> None:
    text = '{"name": "caf\u00e9 \u2603", "lines": "a\\nb", "empty": ""}\n\ttab \U0001f600'
    version = appsets.save("web", text, 0)
    assert appsets.load("web") == Versioned(version or -1, text)
    assert appsets.save("empty", "", 0) is not None
    loaded = appsets.load("empty")
    assert loaded is not None and loaded.text == ""


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_set_names_are_refused_before_anything_is_written(appsets: Store, name: str) -> None:
    with pytest.raises(InputError):
        appsets.save(name, "text", 0)
    with pytest.raises(InputError):
        appsets.load(name)
    with pytest.raises(InputError):
        appsets.drop(name)
    with pytest.raises(InputError):
        appsets.tombstones(name)
    with pytest.raises(InputError):
        appsets.exhume(name, "web")
    with pytest.raises(InputError):
        appsets.bury(Tombstone(name, "web", "{}", 1.0, 2e10, "r"))
    assert _nothing_written(appsets)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_application_names_are_refused(appsets: Store, clock: ManualClock, name: str) -> None:
    with pytest.raises(InputError):
        appsets.bury(_tomb(appsets, clock, "set", name))
    with pytest.raises(InputError):
        appsets.exhume("set", name)
    assert _nothing_written(appsets)


@pytest.mark.parametrize("expected", [-1, True, 1.5, "1", None])
def test_a_malformed_expected_version_is_refused(appsets: Store, expected: object) -> None:
    with pytest.raises(InputError):
        appsets.save("web", "text", expected)  # type: ignore[arg-type]
    assert _nothing_written(appsets)


def test_an_oversized_record_is_refused(appsets: Store) -> None:
    with pytest.raises(StateError) as info:
        appsets.save("web", "x" * (MAX_RECORD + 1), 0)
    assert not info.value.temporary
    assert _nothing_written(appsets)


def test_an_unencodable_record_is_refused(appsets: Store) -> None:
    with pytest.raises(StateError):
        appsets.save("web", "half a pair \ud800", 0)
    assert _nothing_written(appsets)


def _race(store: Store, writers: int, rounds: int) -> int:
    """``writers`` threads each add 1 to a counter kept in the text ``rounds`` times, by load then
    compare-and-set save, retrying when another got there first; returns the failed saves. The first
    attempts are forced to collide (every thread loads, then all save at once), the rest race freely."""
    loaded = threading.Barrier(writers)
    errors: list[BaseException] = []
    conflicts = [0] * writers

    def work(me: int) -> None:
        try:
            first = True
            for _ in range(rounds):
                while True:
                    current = store.load("counter")
                    value = int(current.text) if current else 0
                    if first:
                        loaded.wait(timeout=30)
                        first = False
                    if store.save("counter", str(value + 1), current.version if current else 0) is not None:
                        break
                    conflicts[me] += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    return sum(conflicts)


def test_concurrent_writers_never_lose_an_update(appsets: Store) -> None:
    writers, rounds = 8, 25
    assert _race(appsets, writers, rounds) >= writers - 1  # all but one of the first saves lost
    loaded = appsets.load("counter")
    assert loaded is not None and int(loaded.text) == writers * rounds
    assert appsets.names() == ["counter"]


def test_only_successful_saves_move_the_counter_under_contention(rclient: redis.Redis[bytes],
                                                                 clock: ManualClock) -> None:
    for store in (InMemoryAppSets(clock=clock), RedisAppSets(rclient)):
        _race(store, 6, 10)
        assert store.changes() == 60  # every save counted once, no failed one at all


# -- tombstones -----------------------------------------------------------------------------------------

def test_bury_then_list_newest_first(appsets: Store, clock: ManualClock) -> None:
    old = _tomb(appsets, clock, "set-a", "old", age=300)
    new = _tomb(appsets, clock, "set-b", "new", age=10)
    mid = _tomb(appsets, clock, "set-a", "mid", age=100)
    for tomb in (old, new, mid):
        appsets.bury(tomb)
    assert appsets.tombstones() == [new, mid, old]
    assert appsets.tombstones("set-a") == [mid, old]
    assert appsets.tombstones("set-b") == [new]
    assert appsets.tombstones("set") == []  # a prefix of a name is not the name
    assert appsets.tombstones("nothing") == []


def test_tombstones_are_separate_from_records(appsets: Store, clock: ManualClock) -> None:
    before = appsets.changes()
    appsets.bury(_tomb(appsets, clock, "web", "app"))
    assert appsets.names() == [] and appsets.load("web") is None
    assert appsets.changes() == before


def test_exhume_returns_the_tombstone_once(appsets: Store, clock: ManualClock) -> None:
    tomb = _tomb(appsets, clock, "web", "app", document='{"metadata": {"name": "app"}}', reason="pruned")
    other = _tomb(appsets, clock, "web", "keep")
    appsets.bury(tomb)
    appsets.bury(other)
    assert appsets.exhume("web", "app") == tomb
    assert appsets.exhume("web", "app") is None
    assert appsets.exhume("web", "never") is None
    assert appsets.tombstones() == [other]


def test_bury_replaces_the_tombstone_of_the_same_application(appsets: Store, clock: ManualClock) -> None:
    first = _tomb(appsets, clock, "web", "app", age=50, document='{"v": 1}')
    second = _tomb(appsets, clock, "web", "app", age=5, document='{"v": 2}', reason="again")
    other = _tomb(appsets, clock, "web", "other", age=20)
    appsets.bury(first)
    appsets.bury(other)
    appsets.bury(second)
    assert appsets.tombstones() == [second, other]
    assert appsets.exhume("web", "app") == second
    assert appsets.exhume("web", "app") is None


def test_tombstones_expire(appsets: Store, clock: ManualClock) -> None:
    short = _tomb(appsets, clock, "web", "short", age=1, ttl=61)
    long = _tomb(appsets, clock, "web", "long", age=2, ttl=3600)
    appsets.bury(short)
    appsets.bury(long)
    _pass(appsets, clock)(30)
    assert appsets.tombstones() == [short, long]
    _pass(appsets, clock)(120)
    assert appsets.tombstones() == [long]
    assert appsets.tombstones("web") == [long]
    assert appsets.exhume("web", "short") is None
    assert appsets.exhume("web", "long") == long


def test_an_expired_tombstone_never_shows(appsets: Store, clock: ManualClock) -> None:
    appsets.bury(_tomb(appsets, clock, "web", "dead", age=120, ttl=60))  # expired a minute ago
    assert appsets.tombstones() == []
    assert appsets.exhume("web", "dead") is None
    # replacing a live tombstone by an expired one leaves none
    appsets.bury(_tomb(appsets, clock, "web", "app"))
    appsets.bury(_tomb(appsets, clock, "web", "app", age=120, ttl=60))
    assert appsets.tombstones() == []


def test_an_oversized_tombstone_is_refused(appsets: Store, clock: ManualClock) -> None:
    with pytest.raises(InputError):
        appsets.bury(_tomb(appsets, clock, "web", "app", document="x" * (MAX_DOCUMENT + 1)))
    assert _nothing_written(appsets)
    at_cap = _tomb(appsets, clock, "web", "app", document="x" * MAX_DOCUMENT)
    appsets.bury(at_cap)
    assert appsets.tombstones() == [at_cap]


@pytest.mark.parametrize("deleted_at, expires_at", [(float("nan"), 1e12), (1.0, float("inf")), ("1", 1e12)])
def test_tombstone_times_must_be_finite_numbers(appsets: Store, deleted_at: object,
                                                expires_at: object) -> None:
    with pytest.raises(InputError):
        appsets.bury(Tombstone("web", "app", "{}", deleted_at, expires_at, "r"))  # type: ignore[arg-type]
    assert _nothing_written(appsets)


def test_a_long_reason_is_clipped(appsets: Store, clock: ManualClock) -> None:
    appsets.bury(_tomb(appsets, clock, "web", "app", reason="why " * 5000))
    [stored] = appsets.tombstones()
    assert len(stored.reason) <= 2000 and stored.reason.startswith("why why")


# -- Redis only -----------------------------------------------------------------------------------------

def test_redis_keys_live_under_the_versioned_prefix(rclient: redis.Redis[bytes]) -> None:
    store = RedisAppSets(rclient)
    assert store.save("web", "text", 0) is not None
    store.bury(Tombstone("web", "app", "{}", time.time(), time.time() + 3600, "r"))
    keys = sorted(k.decode() for k in rclient.keys("*"))
    assert keys == [f"{DEFAULT_PREFIX}appset:{rest}" for rest in
                    ["changes", "names", "rec:web", "tomb:web:app", "tombs"]]
    assert rclient.ttl(f"{DEFAULT_PREFIX}appset:tomb:web:app") > 3500
    assert rclient.ttl(f"{DEFAULT_PREFIX}appset:rec:web") == -1


def test_a_custom_prefix_keeps_stores_apart(rclient: redis.Redis[bytes]) -> None:
    one, two = RedisAppSets(rclient), RedisAppSets(rclient, prefix="other:v1:")
    assert one.save("web", "one", 0) is not None
    assert two.load("web") is None and two.names() == [] and two.changes() == 0
    assert all(k.startswith((DEFAULT_PREFIX.encode(), b"other:")) for k in rclient.keys("*"))


def test_the_index_forgets_expired_tombstones_on_read(rclient: redis.Redis[bytes]) -> None:
    store = RedisAppSets(rclient)
    now = time.time()
    store.bury(Tombstone("web", "short", "{}", now, now + 60, "r"))
    store.bury(Tombstone("web", "long", "{}", now - 1, now + 3600, "r"))
    lapse_redis(rclient, 120)
    assert rclient.zcard(store.index_key) == 2
    assert [t.application for t in store.tombstones("other")] == []
    assert rclient.zrange(store.index_key, 0, -1) == [b"web:long"]


def test_a_corrupt_tombstone_is_skipped(rclient: redis.Redis[bytes]) -> None:
    store = RedisAppSets(rclient)
    now = time.time()
    good = Tombstone("web", "good", "{}", now, now + 3600, "r")
    store.bury(good)
    for app, raw in [("bad", b"{not json"), ("list", b"[1, 2]"), ("types", b'{"appset": 1}'),
                     ("moved", b'{"appset": "web", "application": "elsewhere", "document": "{}", '
                               b'"deleted_at": 1, "expires_at": 2, "reason": ""}')]:
        rclient.set(store.tombstone_key("web", app), raw, ex=3600)
        rclient.zadd(store.index_key, {f"web:{app}": now + 10})
    assert store.tombstones() == [good]
    assert store.tombstones("web") == [good]
    assert store.exhume("web", "bad") is None
    assert store.exhume("web", "good") == good


def test_a_corrupt_record_is_a_state_error(rclient: redis.Redis[bytes]) -> None:
    store = RedisAppSets(rclient)
    rclient.hset(store.record_key("web"), mapping={"version": "many", "text": "x"})
    with pytest.raises(StateError, match="corrupt"):
        store.load("web")
    with pytest.raises(StateError, match="corrupt"):
        store.save("web", "y", 0)
    assert rclient.hget(store.record_key("web"), "text") == b"x"
    rclient.hset(store.record_key("half"), "version", "3")
    with pytest.raises(StateError, match="corrupt"):
        store.load("half")


def test_redis_errors_are_temporary_state_errors() -> None:
    client: redis.Redis[bytes] = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    store = RedisAppSets(client)
    calls: list[Callable[[], object]] = [
        lambda: store.load("web"), lambda: store.save("web", "x", 0), lambda: store.drop("web"),
        store.names, store.changes, store.tombstones, lambda: store.exhume("web", "app"),
        lambda: store.bury(Tombstone("web", "app", "{}", 1.0, 2e10, "r")),
    ]
    for call in calls:
        with pytest.raises(StateError) as info:
            call()
        assert info.value.temporary


def test_hostile_names_never_reach_a_dead_redis() -> None:
    client: redis.Redis[bytes] = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    store = RedisAppSets(client)
    with pytest.raises(InputError):  # refused before any connection is tried
        store.save("a:b", "x", 0)


def test_open_appsets_uses_the_url(redis_server: RedisServer, rclient: redis.Redis[bytes]) -> None:
    store = open_appsets(redis_server.url)
    assert store.save("web", "text", 0) is not None
    assert RedisAppSets.from_url(redis_server.url).names() == ["web"]
    assert rclient.exists(store.record_key("web")) == 1
