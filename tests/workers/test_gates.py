"""The gates through the service (in-memory store, the fake reconciler, a manual clock): dependencies
hold automated reconciles and the dependency's success names its dependants; windows hold and schedule
the wake-up the beat claims; suspensions; manual syncs and dry runs; the Redis wakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
import worker_fakes as fakes

from gitops.clock import ManualClock
from gitops.domain import (
    Application,
    AppSource,
    Cluster,
    Dependency,
    Destination,
    Fleet,
    Repository,
    Selector,
    SyncPolicy,
    SyncWindow,
)
from gitops.errors import InputError, StateError
from gitops.state import InMemoryStore
from gitops.state.suspensions import Suspension
from gitops.state.wakes import InMemoryWakes, RedisWakes, Wake
from gitops.vocabulary import Target, Trigger
from workers import gates, service
from workers.beat import Beat, Dispatch
from workers.ports import Runtime, StaticPermits
from workers.settings import Settings

SETTINGS = Settings(lock_ttl=5, sched_ttl=30, retry_base=0.1, retry_max=0.4, retry_limit=2, beat_lock_ttl=5,
                    resync_seconds=10_000)
HEAD = "c0ffee" + "0" * 34
A, B, C = Target("a", "prod"), Target("b", "prod"), Target("c", "prod")
NIGHT = datetime(2026, 12, 6, 1, 0, tzinfo=UTC).timestamp()  # in the 22:00 + 8h window
MORNING = datetime(2026, 12, 6, 6, 0, tzinfo=UTC).timestamp()


def app(name: str, *deps: str, automated: bool = True, labels: dict[str, str] | None = None) -> Application:
    return Application(name, AppSource("repo", f"apps/{name}"), Destination("prod"),
                       SyncPolicy(automated=automated), labels=labels or {},
                       depends_on=tuple(Dependency(d) for d in deps))


def fleet(*apps: Application, windows: tuple[SyncWindow, ...] = ()) -> Fleet:
    return Fleet({"repo": Repository("repo", "https://example.com/r.git")}, {"prod": Cluster("prod")},
                 {a.name: a for a in apps}, sync_windows={w.name: w for w in windows})


FREEZE = SyncWindow("freeze", "deny", "0 22 * * *", 8 * 3600, "UTC")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NIGHT)


def runtime(rclient: redis.Redis, clock: ManualClock, f: Fleet) -> Runtime:
    rclient.set("fake:head:repo", HEAD)
    keys = [f"{name}@prod" for name in f.applications]
    return Runtime(store=InMemoryStore(clock=clock), catalog=fakes.FakeCatalog.of(keys),
                   poller=fakes.FakeGit(rclient), reconciler=fakes.FakeReconciler(rclient), settings=SETTINGS,
                   clock=clock, permits=StaticPermits(f), wakes=InMemoryWakes())


def run(rt: Runtime, target: Target, task: str, **kw: object) -> service.Outcome:
    return service.reconcile(rt, service.Call(task), target.application, target.cluster,
                             trigger=kw.pop("trigger", "poll"), **kw)  # type: ignore[arg-type]


def synced(rclient: redis.Redis, target: Target) -> list[str]:
    """The ``sync`` argument of each reconcile the fake engine ran ("False": only compare)."""
    return [s.decode() for s in rclient.lrange(f"fake:sync:{target.key}", 0, -1)]


def test_a_chain_waits_on_its_dependencies_and_each_success_names_the_next(rclient: redis.Redis,
                                                                           clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a"), app("b", "a"), app("c", "b")))
    out = run(rt, C, "c1")
    status = rt.store.status(C)
    assert status is not None and status.hold is not None and out.follow == ()
    assert (status.hold.reason, status.hold.on, status.hold.since) == ("dependency", ("b@prod",), NIGHT)
    assert status.hold.message == "waiting for its dependencies: b@prod has never been reconciled"
    assert synced(rclient, C) == ["False"]
    run(rt, B, "b1")
    assert rt.store.status(B).hold.on == ("a@prod",)  # type: ignore[union-attr]
    clock.advance(60)
    out = run(rt, A, "a1")
    assert out.follow == (B,) and out.follow_detail == "a@prod is ready" and synced(rclient, A) == ["None"]
    out = run(rt, B, "b2", detail=out.follow_detail)
    assert out.follow == (C,) and rt.store.status(B).hold is None  # type: ignore[union-attr]
    assert synced(rclient, B) == ["False", "None"]
    assert run(rt, A, "a2").follow == ()  # ready before, same revision, nobody waiting on it
    out = run(rt, C, "c2")
    assert rt.store.status(C).hold is None and synced(rclient, C) == ["False", "None"]  # type: ignore[union-attr]


def test_a_dependency_behind_git_holds_and_its_sync_to_the_head_releases(rclient: redis.Redis,
                                                                          clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a"), app("b", "a")))
    run(rt, A, "a1")
    newer = "beef" + "0" * 36
    rt.store.set_repo_head("repo", newer)
    run(rt, B, "b1")
    hold = rt.store.status(B).hold  # type: ignore[union-attr]
    assert hold is not None and hold.message.endswith(f"a@prod is at {HEAD[:12]}, Git is at {newer[:12]}")
    # no poll asked for a (the commit did not touch its path): the beat's next tick reconciles it
    assert rt.wakes.pending(A) == Wake(A, NIGHT, f"b@prod waits for it (a@prod is at {HEAD[:12]}, Git is at "
                                                  f"{newer[:12]})")
    rclient.set("fake:head:repo", newer)
    assert run(rt, A, "a2").follow == (B,)  # it moved to the head: ready again


def test_manual_syncs_and_dry_runs_go_through_dependencies(rclient: redis.Redis, clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a"), app("b", "a")))
    assert gates.hold_for(rt, B, manual=True, dry_run=False) is None
    assert gates.hold_for(rt, B, manual=False, dry_run=True) is None
    assert gates.hold_for(rt, B, manual=False, dry_run=False) is not None
    run(rt, B, "b1", coalesced=False)  # a manual sync
    assert rt.store.status(B).hold is None and synced(rclient, B) == ["True"]  # type: ignore[union-attr]


def test_an_application_that_would_not_write_is_not_held(rclient: redis.Redis, clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a"), app("b", "a", automated=False), windows=(FREEZE,)))
    assert gates.hold_for(rt, B, manual=False, dry_run=False) is None


def test_a_suspension_holds_automated_reconciles_only(rclient: redis.Redis, clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a")))
    rt.suspensions.suspend(Suspension(A, "rolled back by alice", 123.0, HEAD))
    hold = gates.hold_for(rt, A, manual=False, dry_run=False)
    assert hold is not None and hold.reason == "suspended" and hold.since == 123.0
    assert hold.message == f"automated sync suspended: rolled back by alice (rollback to {HEAD[:12]})"
    assert gates.hold_for(rt, A, manual=True, dry_run=False) is None
    rt.suspensions.suspend(Suspension(A, f"rollback to {HEAD[:12]}", 124.0, HEAD))  # as gitops rollback
    hold = gates.hold_for(rt, A, manual=False, dry_run=False)
    assert hold is not None and hold.message == f"automated sync suspended: rollback to {HEAD[:12]}"


def test_a_deny_window_holds_until_it_closes_and_the_beat_wakes_the_target(rclient: redis.Redis,
                                                                          clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a"), windows=(FREEZE,)))
    run(rt, A, "a1", trigger=Trigger.SELF_HEAL)
    hold = rt.store.status(A).hold  # type: ignore[union-attr]
    assert hold is not None and (hold.reason, hold.on, hold.until) == ("window", ("freeze",), MORNING)
    assert hold.message == "deny window freeze is open; automated syncs resume at 2026-12-06 06:00 UTC"
    assert synced(rclient, A) == ["False"]
    assert rt.wakes.pending(A) == Wake(A, MORNING, "sync window freeze closed")
    woken: list[tuple[Target, str]] = []
    beat = Beat(rt, Dispatch(poll=lambda r: None, reconcile=lambda t, trig: None,
                             wake=lambda t, detail: woken.append((t, detail))), owner="b")
    assert "wake:a@prod" not in beat.tick(MORNING - 1)
    clock.advance(MORNING - NIGHT)
    assert "wake:a@prod" in beat.tick() and woken == [(A, "sync window freeze closed")]
    assert "wake:a@prod" not in beat.tick()  # claimed once
    run(rt, A, "a2", detail="sync window freeze closed")
    assert rt.store.status(A).hold is None and synced(rclient, A) == ["False", "None"]  # type: ignore[union-attr]


def test_manual_syncs_in_a_deny_window_follow_manual_sync(rclient: redis.Redis, clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a"), windows=(FREEZE,)))
    hold = gates.hold_for(rt, A, manual=True, dry_run=False)
    assert hold is not None and hold.reason == "window" and hold.until == MORNING
    assert rt.wakes.pending(A) is None  # a held manual sync is the user's to ask again
    assert gates.hold_for(rt, A, manual=True, dry_run=True) is None
    open_to_manual = SyncWindow("freeze", "deny", "0 22 * * *", 8 * 3600, "UTC", manual_sync=True)
    rt.permits = StaticPermits(fleet(app("a"), windows=(open_to_manual,)))
    assert gates.hold_for(rt, A, manual=True, dry_run=False) is None
    assert gates.hold_for(rt, A, manual=False, dry_run=False) is not None


def test_windows_select_by_application_labels(rclient: redis.Redis, clock: ManualClock) -> None:
    data_only = SyncWindow("freeze", "deny", "0 22 * * *", 8 * 3600, "UTC",
                           applications=Selector(match_labels={"tier": "data"}))
    rt = runtime(rclient, clock, fleet(app("a", labels={"tier": "data"}), app("b"), windows=(data_only,)))
    assert gates.hold_for(rt, A, manual=False, dry_run=False) is not None
    assert gates.hold_for(rt, B, manual=False, dry_run=False) is None


def test_a_window_that_cannot_be_evaluated_holds(rclient: redis.Redis, clock: ManualClock) -> None:
    broken = SyncWindow("bad", "allow", "not a cron", 3600, "UTC")
    rt = runtime(rclient, clock, fleet(app("a"), windows=(broken,)))
    hold = gates.hold_for(rt, A, manual=False, dry_run=False)
    assert hold is not None and hold.reason == "window" and "cannot be evaluated" in hold.message


def test_a_wake_of_a_target_no_longer_configured_is_dropped(rclient: redis.Redis, clock: ManualClock) -> None:
    rt = runtime(rclient, clock, fleet(app("a")))
    rt.wakes.schedule(Wake(Target("gone", "prod"), NIGHT - 1, "sync window x closed"))
    beat = Beat(rt, Dispatch(poll=lambda r: None, reconcile=lambda t, trig: None), owner="b")
    sent = beat.tick()
    assert not [s for s in sent if s.startswith("wake:")] and rt.wakes.pending(Target("gone", "prod")) is None


def test_redis_wakes(rclient: redis.Redis) -> None:
    wakes = RedisWakes(rclient)
    wakes.schedule(Wake(A, 200.0, "sync window x closed"))
    wakes.schedule(Wake(A, 100.0, "sync window y closed"))  # the latest decision wins
    wakes.schedule(Wake(B, 150.0, "z" * 10_000))
    assert wakes.pending(A) == Wake(A, 100.0, "sync window y closed")
    assert wakes.claim_due(99.0) == []
    due = wakes.claim_due(1000.0, limit=1)
    assert due == [Wake(A, 100.0, "sync window y closed")]
    [b] = wakes.claim_due(1000.0)
    assert b.target == B and len(b.reason) <= 200 and wakes.claim_due(1000.0) == []
    rclient.zadd(wakes.key, {"evil\nkey@x": 1.0, "no-at-sign": 1.0})  # forged members are skipped
    assert wakes.claim_due(1000.0) == [] and rclient.zcard(wakes.key) == 0
    with pytest.raises(InputError):
        wakes.schedule(Wake(Target("../x", "prod"), 1.0, "x"))
    with pytest.raises(StateError):
        wakes.schedule(Wake(A, float("nan"), "x"))
