"""The webhook deliveries store: one contract for Redis and memory (replay marks with a TTL, a capped
log, every field clipped, lookup by record key or by delivery id), plus what only Redis shows (keys
under the versioned prefix, no delivery id in a key, a corrupt record skipped, errors translated)."""

from __future__ import annotations

import pytest
import redis

from gitops.clock import ManualClock, poll_until
from gitops.errors import InputError, StateError
from gitops.state.deliveries import (
    LOG_CAP,
    Deliveries,
    Delivery,
    InMemoryDeliveries,
    RedisDeliveries,
    Verdict,
    check_key,
    new_key,
)
from gitops.state.names import DEFAULT_PREFIX
from workers.redis_server import RedisServer


@pytest.fixture
def rclient(redis_server: RedisServer) -> redis.Redis[bytes]:
    client = redis_server.client()
    client.flushdb()
    return client


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, clock: ManualClock) -> InMemoryDeliveries | RedisDeliveries:
    if request.param == "memory":
        return InMemoryDeliveries(cap=5, clock=clock)
    return RedisDeliveries(request.getfixturevalue("rclient"), cap=5)


def _delivery(n: int, **kw: object) -> Delivery:
    fields: dict[str, object] = {"id": f"d-{n}", "provider": "github", "receiver": "main", "event": "push",
                                 "repository": "https://github.com/org/repo.git", "ref": "refs/heads/main",
                                 "commit": "a" * 40, "paths": 3, "verdict": Verdict.ACCEPTED,
                                 "reason": "triggered 1 target", "triggered": (("web@prod", "task-1"),),
                                 "time": 1_700_000_000.0 + n, "remote": "192.0.2.1", "status": 202}
    fields.update(kw)
    return Delivery(**fields)  # type: ignore[arg-type]


def test_the_store_satisfies_the_protocol(store: Deliveries) -> None:
    assert isinstance(store, InMemoryDeliveries | RedisDeliveries)


def test_remember_is_true_once_per_id_and_provider(store: Deliveries) -> None:
    assert store.remember("github", "abc", 60) is True
    assert store.remember("github", "abc", 60) is False
    assert store.remember("gitlab", "abc", 60) is True  # another provider's id space
    assert store.remember("github", "abd", 60) is True


def _lapse(store: Deliveries, clock: ManualClock, seconds: float) -> None:
    """``seconds`` pass for the replay marks: the manual clock for memory; for Redis every mark's TTL
    shrinks by as much, and marks whose TTL runs out are expired by Redis (then awaited)."""
    if not isinstance(store, RedisDeliveries):
        clock.advance(seconds)
        return
    gone = []
    for key in store.client.scan_iter(match=f"{store.prefix}webhooks:seen:*"):
        rest = store.client.pttl(key) - int(seconds * 1000)
        store.client.pexpire(key, max(1, rest))
        if rest <= 0:
            gone.append(key)
    assert poll_until(lambda: not any(store.client.exists(k) for k in gone), timeout=10, every=0.002)


def test_forget_lets_the_id_in_again(store: Deliveries) -> None:
    assert store.remember("github", "abc", 60)
    store.forget("github", "abc")
    store.forget("github", "never-seen")
    assert store.remember("github", "abc", 60) is True
    assert store.remember("github", "abc", 60) is False


def test_a_remembered_id_is_forgotten_after_its_window(store: Deliveries, clock: ManualClock) -> None:
    assert store.remember("github", "abc", 2.0)
    _lapse(store, clock, 1.5)
    assert store.remember("github", "abc", 2.0) is False  # still inside the window
    _lapse(store, clock, 1.0)
    assert store.remember("github", "abc", 2.0) is True


def test_hostile_ids_are_just_ids(store: Deliveries) -> None:
    for hostile in ("*", "a\r\nFLUSHALL", "x" * 100_000, "../../etc", "", "\x00"):
        assert store.remember("github", hostile, 60) is True
        assert store.remember("github", hostile, 60) is False
    with pytest.raises(InputError, match="provider"):
        store.remember("GitHub\r\n", "x", 60)


def test_the_log_is_newest_first_and_capped(store: Deliveries) -> None:
    stored = [store.record(_delivery(n)) for n in range(8)]
    recent = store.recent()
    assert [d.id for d in recent] == ["d-7", "d-6", "d-5", "d-4", "d-3"]
    assert recent[0] == stored[7]
    assert store.recent(limit=2) == recent[:2]
    assert store.get(stored[0].key) is None  # dropped from the log, record and all
    assert store.get(stored[7].key) == stored[7]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_flood_of_rejected_deliveries_holds_only_its_share_of_the_log(
        kind: str, clock: ManualClock, request: pytest.FixtureRequest) -> None:
    store: Deliveries = (InMemoryDeliveries(cap=5, clock=clock, rejected_cap=3) if kind == "memory" else
                         RedisDeliveries(request.getfixturevalue("rclient"), cap=5, rejected_cap=3))
    verified = [store.record(_delivery(n)) for n in range(3)]
    forged = [store.record(_delivery(10 + n, verdict=Verdict.REJECTED, reason="bad signature"))
              for n in range(50)]
    assert all(store.get(d.key) == d for d in verified[1:])  # the cap of 5 keeps 2 of them beside 3 rejected
    assert [d.id for d in store.recent()] == ["d-59", "d-58", "d-57", "d-2", "d-1"]  # newest first, cap 5
    assert store.get(forged[0].key) is None  # the rejected log keeps only its own newest


def test_a_record_round_trips_and_gets_a_time_ordered_key(store: Deliveries) -> None:
    original = _delivery(1, paths=None, triggered=(("web@prod", "t1"), ("api@prod", "coalesced")))
    stored = store.record(original)
    assert check_key(stored.key) == stored.key
    assert stored.key.startswith(f"{int(original.time * 1000):011x}")
    assert stored == Delivery(**{**original.__dict__, "key": stored.key})
    assert store.get(stored.key) == stored
    assert stored.to_dict()["triggered"] == [{"target": "web@prod", "task": "t1"},
                                             {"target": "api@prod", "task": "coalesced"}]


def test_filter_by_provider(store: Deliveries) -> None:
    for n in range(4):
        store.record(_delivery(n, provider="github" if n % 2 else "gitlab"))
    assert [d.id for d in store.recent(provider="github")] == ["d-3", "d-1"]
    assert [d.id for d in store.recent(provider="gitlab", limit=1)] == ["d-2"]
    assert store.recent(provider="gitea") == []


def test_get_by_delivery_id_finds_the_newest_record_of_it(store: Deliveries) -> None:
    first = store.record(_delivery(1, id="same-id"))
    replay = store.record(_delivery(2, id="same-id", verdict=Verdict.REJECTED, reason="replayed delivery"))
    assert store.get("same-id") == replay != first
    assert store.get("unknown") is None
    assert store.get("0" * 19) is None


def test_every_field_is_clipped(store: Deliveries) -> None:
    huge = "x" * 100_000
    stored = store.record(_delivery(1, id=huge, receiver=huge, event=huge, repository=huge, ref=huge,
                                    commit=huge, reason=huge, remote=huge, provider=huge,
                                    triggered=tuple((f"t{i}@c", huge) for i in range(1000))))
    assert len(stored.id) <= 200 and len(stored.repository) <= 500 and len(stored.reason) <= 2000
    assert max(len(stored.receiver), len(stored.event), len(stored.ref), len(stored.commit),
               len(stored.remote), len(stored.provider)) <= 300
    assert len(stored.triggered) == 200 and all(len(task) <= 200 for _, task in stored.triggered)
    assert "800 more triggered targets not kept" in stored.reason
    assert store.get(stored.key) == stored


def test_control_characters_are_replaced(store: Deliveries) -> None:
    stored = store.record(_delivery(1, event="push\r\n<script>", ref="refs/heads/\x1b[31mred"))
    assert stored.event == "push\ufffd\ufffd<script>"
    assert "\x1b" not in stored.ref


def test_a_negative_path_count_means_unknown(store: Deliveries) -> None:
    assert store.record(_delivery(1, paths=-5)).paths is None


def test_check_key_refuses_anything_but_a_key() -> None:
    assert check_key(new_key(1.5)) and len(new_key(1.5)) == 19
    for bad in ("", "XYZ", "../x", "a" * 41, 5, None):
        with pytest.raises(InputError):
            check_key(bad)


def test_redis_keys_live_under_the_prefix_and_never_hold_the_id(rclient: redis.Redis[bytes]) -> None:
    store = RedisDeliveries(rclient)
    store.remember("github", "secret-looking-id-123", 60)
    store.record(_delivery(1))
    keys = sorted(k.decode() for k in rclient.keys("*"))
    assert all(k.startswith(DEFAULT_PREFIX + "webhooks:") for k in keys), keys
    assert not any("secret-looking" in k for k in keys)
    seen = [k for k in keys if ":seen:" in k]
    assert len(seen) == 1 and 0 < rclient.pttl(seen[0]) <= 60_000
    assert store.cap == LOG_CAP


def test_redis_skips_a_corrupt_record(rclient: redis.Redis[bytes]) -> None:
    store = RedisDeliveries(rclient, cap=5)
    good = store.record(_delivery(1))
    rclient.lpush(store.log_key, "0000000000000000")
    rclient.hset(store.records_key, "0000000000000000", b"{not json")
    assert store.recent() == [good]
    assert store.get("0000000000000000") is None


def test_redis_errors_are_temporary_state_errors() -> None:
    client: redis.Redis[bytes] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    store = RedisDeliveries(client)
    with pytest.raises(StateError) as info:
        store.remember("github", "x", 60)
    assert info.value.temporary
    with pytest.raises(StateError):
        store.record(_delivery(1))
    with pytest.raises(StateError):
        store.recent()
