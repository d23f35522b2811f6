"""The Store contract, role by role, run against InMemoryStore and RedisStore (a real redis-server).

Every test here runs on both stores, so the in-memory fake cannot drift from Redis; time passes with
``lapse`` (a manual clock for the fake, shortened TTLs for Redis), never by sleeping.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace

import pytest

from gitops.clock import ManualClock
from gitops.errors import InputError, StateError
from gitops.state import (
    Coalescing,
    Event,
    InMemoryStore,
    Lease,
    Leases,
    Operation,
    RecordReader,
    Records,
    RedisStore,
    Schedule,
    Store,
    TargetStatus,
)
from gitops.state.base import bounded_event
from gitops.state.model import clip
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger

AnyStore = InMemoryStore | RedisStore
Lapse = Callable[[float], None]  # the ``lapse`` fixture: let seconds pass for the store's TTLs
T = Target("web", "prod")
ROLES = [RecordReader, Records, Leases, Coalescing, Schedule, Store]


def op(op_id: str, started: float = 1.0, phase: OperationPhase = OperationPhase.SUCCEEDED,
       target: Target = T, **kw: object) -> Operation:
    return Operation(id=op_id, application=target.application, cluster=target.cluster,
                     trigger=Trigger.POLL, phase=phase, revision="abc", started=started,
                     finished=started + 1, **kw)  # type: ignore[arg-type]


def status(revision: str = "abc", target: Target = T) -> TargetStatus:
    return TargetStatus(target.application, target.cluster, revision=revision, sync=SyncStatus.SYNCED,
                        health=HealthStatus.HEALTHY, operation="o1", reconciled_at=5.0)


# -- the roles: both stores implement each with the Protocol's signatures -------------------------------

def role_methods(role: type) -> list[str]:
    own = [c for c in role.__mro__ if c.__module__ == "gitops.state.base"]
    return sorted({name for c in own for name, value in vars(c).items()
                   if callable(value) and not name.startswith("_")})


@pytest.mark.parametrize("impl", [InMemoryStore, RedisStore])
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.__name__)
def test_each_store_implements_every_role_with_its_signatures(impl: type, role: type) -> None:
    assert role_methods(role)
    for name in role_methods(role):
        want = inspect.signature(getattr(role, name)).parameters.values()
        got = inspect.signature(getattr(impl, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in got] == [(p.name, p.kind, p.default) for p in want], name


def test_roles_partition_the_store() -> None:
    parts = [role_methods(r) for r in (Records, Leases, Coalescing, Schedule)]
    assert sum(len(p) for p in parts) == len({m for p in parts for m in p})  # no method in two roles
    assert set(role_methods(Store)) == {m for p in parts for m in p} | {"ping"}
    assert set(role_methods(RecordReader)) < set(role_methods(Records))


# -- Records ----------------------------------------------------------------------------------------

def test_record_then_read_round_trips(store: Records) -> None:
    store.record(status(), op("o1"))
    assert store.status(T) == status()
    assert store.statuses() == [status()]
    assert [o.id for o in store.history(T)] == ["o1"]
    assert store.operation(T, "o1") == op("o1")
    assert store.status(Target("web", "other")) is None


def test_history_is_newest_first_and_capped(store: Records) -> None:
    for i in range(8):
        store.record(status(), op(f"o{i}", started=float(i)))
    assert [o.id for o in store.history(T)] == ["o7", "o6", "o5", "o4", "o3"]
    assert store.operation(T, "o0") is None  # dropped from storage, not just hidden
    assert [o.id for o in store.history(T, limit=2)] == ["o7", "o6"]
    assert store.history(T, limit=0) == []


def test_history_orders_equal_start_times_by_id(store: Records) -> None:
    for op_id in ("c", "a", "f", "b", "e", "d"):
        store.record(status(), op(op_id, started=3.0))
    assert [o.id for o in store.history(T)] == ["f", "e", "d", "c", "b"]  # "a" was the one dropped


def test_redelivered_operation_is_upserted_not_duplicated(store: Records) -> None:
    store.begin(op("task-1", phase=OperationPhase.RUNNING))
    store.begin(op("task-1", phase=OperationPhase.RUNNING, attempt=2))
    store.record(status(), op("task-1", attempt=2))
    history = store.history(T)
    assert len(history) == 1
    assert history[0].phase is OperationPhase.SUCCEEDED and history[0].attempt == 2


def test_forget_drops_status_and_history_but_keeps_fencing(store: AnyStore) -> None:
    lease = store.acquire(T, "w1", ttl=10)
    assert lease is not None
    store.record(status(), op("o1"), lease=lease)
    other = Target("web", "dev")
    store.record(status(target=other), op("o2", target=other))
    assert store.forget(T)
    assert store.status(T) is None and store.history(T) == [] and store.operation(T, "o1") is None
    assert [s.target for s in store.statuses()] == [other]
    assert not store.forget(T)
    store.release(lease)
    stale = type(lease)(T, "old", lease.token - 1)
    with pytest.raises(StateError, match="stale"):
        store.record(status(), op("o3"), lease=stale)


def test_stale_fencing_token_write_is_refused_and_writes_nothing(store: AnyStore, lapse: Lapse) -> None:
    old = store.acquire(T, "w1", ttl=5)
    lapse(6)
    new = store.acquire(T, "w2", ttl=10)
    assert old is not None and new is not None
    store.record(status("new"), op("o-new", started=2.0), lease=new)
    with pytest.raises(StateError, match="stale lease") as info:
        store.record(status("old"), op("o-old", started=3.0), lease=old)
    assert not info.value.temporary
    assert store.status(T) is not None and store.status(T).revision == "new"  # type: ignore[union-attr]
    assert [o.id for o in store.history(T)] == ["o-new"]
    store.record(status("new2"), op("o-new2", started=4.0), lease=new)  # the holder keeps writing


def test_lease_for_another_target_is_refused(store: AnyStore) -> None:
    lease = store.acquire(Target("api", "prod"), "w1", ttl=10)
    with pytest.raises(StateError):
        store.record(status(), op("o1"), lease=lease)


def test_events_follow_writes(store: Records) -> None:
    store.record(status(), op("o1"))
    store.publish(Event("notice", "web", "prod", "hello", data={"x": "1"}))
    events = store.events()
    assert [e.kind for e in events] == ["status", "notice"]
    assert events[0].application == "web" and events[0].cluster == "prod"
    assert events[1].data["x"] == "1"
    assert store.events(after=events[0].id) == events[1:]
    assert store.events(after=events[1].id) == []
    assert store.events(after="$") == []


def test_a_reader_starting_at_the_newest_id_misses_nothing_written_later(store: Records) -> None:
    assert store.last_event_id() == "0"
    store.record(status(), op("o1"))
    start = store.last_event_id()
    assert start == store.events()[-1].id
    store.publish(Event("notice", "web", "prod", "after the reader started"))
    assert [e.message for e in store.events(after=start)] == ["after the reader started"]


def test_write_events_carry_the_operation_start_phase_and_id(store: Records) -> None:
    store.begin(op("o1", started=7.5, phase=OperationPhase.RUNNING))
    store.record(status(), replace(op("o1", started=7.5), error="x" * 2000))
    begun, recorded = store.events()
    assert (begun.kind, begun.message, begun.time) == ("operation", "poll started", 7.5)
    assert begun.data == {"phase": "Running", "operation": "o1"}
    assert (recorded.kind, recorded.message, recorded.time) == ("status", clip("x" * 2000, 512), 7.5)
    assert recorded.data == {"phase": "Succeeded", "operation": "o1"}


def test_published_events_are_bounded_alike(store: Records) -> None:
    data = {"kind": "shadow", **{f"k{i}": "v" * 600 for i in range(20)}, "time": "0"}
    event = Event("k" * 100, "web", "prod", "m" * 1000, time=3.25, data=data)
    store.publish(event)
    [got] = store.events()
    assert replace(got, id="") == bounded_event(event)
    assert len(got.kind) <= 64 and len(got.message) <= 512 and len(got.data) == 15
    assert "kind" not in got.data and all(len(v) <= 512 for v in got.data.values())


# -- Leases -----------------------------------------------------------------------------------------

def test_lock_is_exclusive_and_tokens_increase(store: Leases) -> None:
    first = store.acquire(T, "w1", ttl=10)
    assert first is not None
    assert store.acquire(T, "w2", ttl=10) is None
    assert store.acquire(Target("web", "dev"), "w2", ttl=10) is not None  # other targets independent
    assert store.release(first)
    second = store.acquire(T, "w2", ttl=10)
    assert second is not None and second.token > first.token


def test_lock_expires_and_lost_lease_cannot_renew_or_release(store: Leases, lapse: Lapse) -> None:
    first = store.acquire(T, "w1", ttl=5)
    assert first is not None and store.renew(first, 5)
    lapse(6)
    second = store.acquire(T, "w2", ttl=10)
    assert second is not None
    assert not store.renew(first, 10)
    assert not store.release(first)
    assert store.acquire(T, "w3", ttl=10) is None  # w1's release did not free w2's lock


def test_renew_extends_the_lease(store: Leases, lapse: Lapse) -> None:
    lease = store.acquire(T, "w1", ttl=5)
    assert lease is not None
    lapse(4)
    assert store.renew(lease, 5)
    lapse(4)  # 8 s after acquiring: held only thanks to the renewal
    assert store.acquire(T, "w2", ttl=5) is None
    lapse(2)
    assert store.acquire(T, "w2", ttl=5) is not None


def test_named_lock_only_one_owner_renewable(store: Leases, lapse: Lapse) -> None:
    assert store.acquire_named("beat", "b1", ttl=10)
    assert not store.acquire_named("beat", "b2", ttl=10)
    assert store.acquire_named("beat", "b1", ttl=10)  # renew
    assert not store.release_named("beat", "b2")
    assert store.release_named("beat", "b1")
    assert store.acquire_named("beat", "b2", ttl=5)
    lapse(6)
    assert store.acquire_named("beat", "b3", ttl=10)


def test_named_lock_renewal_extends_it(store: Leases, lapse: Lapse) -> None:
    assert store.acquire_named("beat", "b1", ttl=5)
    lapse(4)
    assert store.acquire_named("beat", "b1", ttl=5)
    lapse(4)
    assert not store.acquire_named("beat", "b2", ttl=5)
    lapse(2)
    assert store.acquire_named("beat", "b2", ttl=5)
    assert not store.release_named("beat", "b1")


def test_long_owners_are_stored_cut_and_still_match(store: Leases) -> None:
    long_owner = "o" * 300
    assert store.acquire_named("beat", long_owner, ttl=5)
    assert store.acquire_named("beat", long_owner, ttl=5)
    assert not store.acquire_named("beat", "o" * 299, ttl=5)
    assert store.release_named("beat", long_owner)
    lease = store.acquire(T, long_owner, ttl=5)
    assert lease is not None and lease.owner == long_owner and store.renew(lease, 5) and store.release(lease)


# -- Coalescing -------------------------------------------------------------------------------------

def test_hundred_triggers_enqueue_once_then_dirty_gives_one_more(store: Coalescing) -> None:
    assert sum(store.trigger(T, ttl=30) for _ in range(100)) == 1
    store.begin_run(T, ttl=30)
    assert sum(store.trigger(T, ttl=30) for _ in range(100)) == 0
    assert store.finish_run(T, ttl=30)  # dirty: exactly one more run
    assert not store.trigger(T, ttl=30)  # that run is queued again
    store.begin_run(T, ttl=30)
    assert not store.finish_run(T, ttl=30)  # clean: done
    assert store.trigger(T, ttl=30)


def test_coalescing_state_expires(store: Coalescing, lapse: Lapse) -> None:
    assert store.trigger(T, ttl=5)
    lapse(6)
    assert store.trigger(T, ttl=10)  # a lost queued task does not block the target forever


def test_dirty_keeps_the_running_mark_expiry(store: Coalescing, lapse: Lapse) -> None:
    assert store.trigger(T, ttl=30)
    store.begin_run(T, ttl=5)
    lapse(3)
    assert not store.trigger(T, ttl=30)  # dirty, with the 2 s the running mark had left
    lapse(3)
    assert store.trigger(T, ttl=30)  # a run that died never finishing blocks no longer than its mark
    assert not store.finish_run(T, ttl=30)  # the queued mark is not dirty: nothing more to enqueue


# -- Schedule ---------------------------------------------------------------------------------------

def test_claim_due_by_interval(store: Schedule) -> None:
    intervals = {"repo-a": 10.0, "repo-b": 100.0}
    assert store.claim_due(intervals, now=1000.0) == ["repo-a", "repo-b"]
    assert store.claim_due(intervals, now=1005.0) == []
    assert store.claim_due(intervals, now=1010.0) == ["repo-a"]
    assert store.claim_due(intervals, now=1101.0) == ["repo-a", "repo-b"]


def test_claim_due_defaults_to_the_store_clock(store: Schedule, clock: ManualClock) -> None:
    intervals = {"repo-a": 10.0}
    assert store.claim_due(intervals) == ["repo-a"]
    clock.advance(9)
    assert store.claim_due(intervals) == []
    clock.advance(1)
    assert store.claim_due(intervals) == ["repo-a"]
    assert store.claim_due(intervals, now=clock.now() + 10) == ["repo-a"]


def test_a_forged_name_claims_nothing(store: Schedule) -> None:
    with pytest.raises(InputError):
        store.claim_due({"repo-a": 10.0, "zz:bad": 10.0}, now=1000.0)
    assert store.claim_due({"repo-a": 10.0}, now=1000.0) == ["repo-a"]


def test_repo_heads(store: Schedule) -> None:
    assert store.repo_head("repo-a") is None
    store.set_repo_head("repo-a", "f" * 40)
    assert store.repo_head("repo-a") == "f" * 40
    store.set_repo_head("repo-a", "g" * 300)
    assert store.repo_head("repo-a") == clip("g" * 300, 128)


# -- validation, every role -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["", "A", "a:b", "a*", "a\nb", "../x", "a b", "x" * 300, 7, None, ["a"]])
def test_forged_names_never_reach_storage(store: AnyStore, bad: object) -> None:
    forged = Target(bad, "prod")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        store.record(None, replace(op("o1"), application=bad))  # type: ignore[arg-type]
    for call in (lambda: store.acquire(forged, "w", ttl=1), lambda: store.trigger(forged, ttl=1),
                 lambda: store.begin_run(forged, ttl=1), lambda: store.finish_run(forged, ttl=1),
                 lambda: store.status(forged), lambda: store.history(forged), lambda: store.forget(forged),
                 lambda: store.renew(Lease(forged, "w", 1), 1), lambda: store.release(Lease(forged, "w", 1)),
                 lambda: store.repo_head(bad), lambda: store.acquire_named(bad, "w", 1)):  # type: ignore[arg-type]
        with pytest.raises(InputError):
            call()
    if not isinstance(bad, list):
        with pytest.raises(InputError):
            store.claim_due({bad: 1.0})  # type: ignore[dict-item]
    assert store.statuses() == []


@pytest.mark.parametrize("bad_id", ["", "a:b", "a b", "x" * 200, "*"])
def test_forged_operation_ids_rejected(store: Records, bad_id: str) -> None:
    with pytest.raises(InputError):
        store.record(status(), op(bad_id))
    with pytest.raises(InputError):
        store.operation(T, bad_id)
    assert store.status(T) is None
