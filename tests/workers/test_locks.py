"""The lease keeper and the leader lock, on the in-memory store and a manual clock (no sleeping)."""

from __future__ import annotations

import pytest
from worker_kit import wait_for

from gitops.clock import ManualClock
from gitops.errors import StateError
from gitops.state import InMemoryStore, Lease
from gitops.vocabulary import Target
from workers.locks import LeaderLock, LeaseKeeper

T = Target("web", "prod")


class Counting(InMemoryStore):
    """Counts renewals; ``fail_next`` renewals raise a temporary StateError (Redis away)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.renewals = 0
        self.fail_next = 0

    def renew(self, lease: Lease, ttl: float) -> bool:
        self.renewals += 1
        if self.fail_next:
            self.fail_next -= 1
            raise StateError("redis: renew: connection refused", temporary=True)
        return super().renew(lease, ttl)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> Counting:
    return Counting(clock)


def step(clock: ManualClock, store: Counting, seconds: float, renewals: int) -> None:
    """Let ``seconds`` pass once the keeper waits, then wait until it has renewed ``renewals`` times."""
    wait_for(lambda: clock.waiting == 1)
    clock.advance(seconds)
    wait_for(lambda: store.renewals == renewals)


def test_keeper_renews_every_third_of_the_ttl_while_work_runs(clock: ManualClock, store: Counting) -> None:
    lease = store.acquire(T, "w1", ttl=3)
    assert lease is not None
    with LeaseKeeper(store, lease, 3, clock=clock) as keeper:
        for n in range(1, 6):
            step(clock, store, 1, n)
        # 5 s after it was taken with a 3 s TTL: still held, thanks to the renewals
        assert store.acquire(T, "w2", ttl=3) is None and not keeper.lost.is_set()
    assert clock.waiting == 0  # the thread is gone: no renewal after the work ended
    clock.advance(10)
    assert store.renewals == 5 and store.acquire(T, "w2", ttl=3) is not None


def test_keeper_waits_a_third_of_the_ttl_before_renewing(clock: ManualClock, store: Counting) -> None:
    lease = store.acquire(T, "w1", ttl=3)
    assert lease is not None
    with LeaseKeeper(store, lease, 3, clock=clock):
        wait_for(lambda: clock.waiting == 1)
        clock.advance(0.9)
        wait_for(lambda: clock.waiting == 1)
        assert store.renewals == 0
        clock.advance(0.1)
        wait_for(lambda: store.renewals == 1)


def test_keeper_reports_a_lost_lease_and_stops(clock: ManualClock, store: Counting) -> None:
    lease = store.acquire(T, "w1", ttl=3)
    assert lease is not None
    with LeaseKeeper(store, lease, 3, clock=clock) as keeper:
        wait_for(lambda: clock.waiting == 1)
        clock.advance(4)  # the worker was paused past its TTL: another one may hold it now
        wait_for(keeper.lost.is_set)
        assert store.renewals == 1 and clock.waiting == 0
    assert store.acquire(T, "w2", ttl=3) is not None


def test_keeper_keeps_renewing_while_the_store_is_away(clock: ManualClock, store: Counting) -> None:
    lease = store.acquire(T, "w1", ttl=3)
    assert lease is not None
    store.fail_next = 1
    with LeaseKeeper(store, lease, 3, clock=clock) as keeper:
        step(clock, store, 1, 1)  # raised: logged, not lost
        step(clock, store, 1, 2)  # renewed: 2 s after the lease was taken, in time
        step(clock, store, 1, 3)
        assert not keeper.lost.is_set() and store.acquire(T, "w2", ttl=3) is None


def test_leader_lock_one_holder_renewed_and_released(clock: ManualClock, store: Counting) -> None:
    a, b = LeaderLock(store, "beat", "a", 5), LeaderLock(store, "beat", "b", 5)
    assert a.hold() and not b.hold()
    clock.advance(4)
    assert a.hold()  # renewed
    clock.advance(4)
    assert not b.hold()
    a.release()
    assert b.hold()


def test_leader_lock_on_a_store_away_is_not_held() -> None:
    class Away(InMemoryStore):
        def acquire_named(self, name: str, owner: str, ttl: float) -> bool:
            raise StateError("redis: acquire_named: connection refused", temporary=True)

        def release_named(self, name: str, owner: str) -> bool:
            raise StateError("redis: release: connection refused", temporary=True)

    lock = LeaderLock(Away(clock=ManualClock()), "beat", "a", 5)
    assert not lock.hold()
    lock.release()  # logged, not raised
