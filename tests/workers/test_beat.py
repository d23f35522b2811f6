"""The beat: exactly one leader, polls by interval, self-heal resync, failover when the leader dies.

Time is a manual clock shared by the in-memory store (lock TTLs) and the beat (ticks, ``now``).
"""

from __future__ import annotations

import threading

import worker_fakes as fakes
from worker_kit import wait_for

from gitops.clock import ManualClock
from gitops.state import InMemoryStore
from gitops.vocabulary import Target, Trigger
from workers.beat import Beat, Dispatch
from workers.ports import Runtime
from workers.settings import Settings


class Recorder:
    def __init__(self) -> None:
        self.polls: list[str] = []
        self.reconciles: list[tuple[Target, Trigger]] = []

    def dispatch(self) -> Dispatch:
        return Dispatch(poll=self.polls.append, reconcile=lambda t, trig: self.reconciles.append((t, trig)))


def runtime(store: InMemoryStore, **settings: float) -> Runtime:
    s = Settings(beat_lock_ttl=settings.get("ttl", 0.3), resync_seconds=settings.get("resync", 100),
                 beat_tick=0.05)
    catalog = fakes.FakeCatalog.of(["web@prod", "api@prod"], interval=10.0)
    plain = Target("plain", "prod")  # no self-heal: refreshed with trigger poll
    catalog.infos[plain] = fakes.TargetInfo(plain, "repo", "apps/plain", self_heal=False)
    return Runtime(store, catalog, None, None, s, clock=store.clock)  # type: ignore[arg-type]


def test_only_one_beat_acts() -> None:
    store = InMemoryStore(clock=ManualClock())
    a, b = Recorder(), Recorder()
    beat_a = Beat(runtime(store), a.dispatch(), owner="a")
    beat_b = Beat(runtime(store), b.dispatch(), owner="b")
    for now in (1000.0, 1005.0, 1010.0, 1020.0):
        beat_a.tick(now)
        beat_b.tick(now)
    assert a.polls == ["repo", "repo", "repo"] and b.polls == []  # due at 1000, 1010, 1020
    assert beat_a.is_leader and not beat_b.is_leader


def test_standby_takes_over_when_the_leader_stops_renewing() -> None:
    clock = ManualClock()
    store = InMemoryStore(clock=clock)
    a, b = Recorder(), Recorder()
    beat_a = Beat(runtime(store), a.dispatch(), owner="a")
    beat_b = Beat(runtime(store), b.dispatch(), owner="b")
    beat_a.tick(1000.0)
    assert beat_b.tick(1011.0) == []  # a's lock is still valid
    clock.advance(0.35)  # a died: its lock expires
    assert beat_b.tick(1011.0) == ["poll:repo"]
    assert beat_b.is_leader and not beat_a.tick(1030.0)  # and a, back, stands by


def test_resync_triggers_self_heal_once_per_interval_and_coalesces() -> None:
    clock = ManualClock()
    store = InMemoryStore(clock=clock)
    rec = Recorder()
    beat = Beat(runtime(store, resync=0.3), rec.dispatch(), owner="a")
    beat.tick(1000.0)
    assert sorted((t.key, str(trig)) for t, trig in rec.reconciles) == [
        ("api@prod", "self-heal"), ("plain@prod", "poll"), ("web@prod", "self-heal")]
    for target, _ in rec.reconciles:  # those reconciles ran
        store.begin_run(target, 30)
        store.finish_run(target, 30)
    beat.tick(1001.0)
    assert len(rec.reconciles) == 3  # the resync interval has not passed
    clock.advance(0.35)
    beat.tick(1002.0)
    assert len(rec.reconciles) == 6  # due again
    beat.tick(1003.0)
    clock.advance(0.35)
    beat.tick(1004.0)
    assert len(rec.reconciles) == 6  # due again, but every target is still queued: coalesced


def test_resync_forgets_targets_no_longer_configured() -> None:
    from gitops.state import Operation, TargetStatus
    from gitops.vocabulary import OperationPhase

    store = InMemoryStore(clock=ManualClock())
    gone = Target("removed", "prod")
    store.record(TargetStatus("removed", "prod"), Operation("o1", "removed", "prod", Trigger.POLL,
                                                            OperationPhase.SUCCEEDED))
    store.record(TargetStatus("web", "prod"), Operation("o2", "web", "prod", Trigger.POLL,
                                                        OperationPhase.SUCCEEDED))
    sent = Beat(runtime(store), Recorder().dispatch(), owner="a").tick(1000.0)
    assert "forget:removed@prod" in sent
    assert store.status(gone) is None and store.history(gone) == []
    assert store.status(Target("web", "prod")) is not None


def test_run_loop_ticks_on_its_clock_stops_and_releases_the_lock() -> None:
    clock = ManualClock()
    store = InMemoryStore(clock=clock)
    rec = Recorder()
    beat = Beat(runtime(store, ttl=30), rec.dispatch(), owner="a")
    stop = threading.Event()
    thread = threading.Thread(target=beat.run, args=(stop,))
    thread.start()
    wait_for(lambda: rec.polls == ["repo"] and clock.waiting == 1)  # first tick done, waiting for the next
    clock.advance(10)  # a tick is due, and the repository's 10 s poll interval has passed
    wait_for(lambda: rec.polls == ["repo", "repo"] and clock.waiting == 1)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and rec.polls == ["repo", "repo"]
    assert store.acquire_named("beat", "b", ttl=1)  # released on stop, no TTL wait
