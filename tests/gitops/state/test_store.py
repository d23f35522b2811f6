"""The Store contract, run against InMemoryStore and RedisStore (a real redis-server)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from gitops.errors import InputError, StateError
from gitops.state import Event, InMemoryStore, Operation, RedisStore, TargetStatus
from gitops.status import HealthStatus, OperationPhase, SyncStatus, Target, Trigger

Store = InMemoryStore | RedisStore
T = Target("web", "prod")


def op(op_id: str, started: float = 1.0, phase: OperationPhase = OperationPhase.SUCCEEDED,
       target: Target = T, **kw: object) -> Operation:
    return Operation(id=op_id, application=target.application, cluster=target.cluster,
                     trigger=Trigger.POLL, phase=phase, revision="abc", started=started,
                     finished=started + 1, **kw)  # type: ignore[arg-type]


def status(revision: str = "abc", target: Target = T) -> TargetStatus:
    return TargetStatus(target.application, target.cluster, revision=revision, sync=SyncStatus.SYNCED,
                        health=HealthStatus.HEALTHY, operation="o1", reconciled_at=5.0)


def test_record_then_read_round_trips(store: Store) -> None:
    store.record(status(), op("o1"))
    assert store.status(T) == status()
    assert store.statuses() == [status()]
    assert [o.id for o in store.history(T)] == ["o1"]
    assert store.operation(T, "o1") == op("o1")
    assert store.status(Target("web", "other")) is None


def test_history_is_newest_first_and_capped(store: Store) -> None:
    for i in range(8):
        store.record(status(), op(f"o{i}", started=float(i)))
    assert [o.id for o in store.history(T)] == ["o7", "o6", "o5", "o4", "o3"]
    assert store.operation(T, "o0") is None  # dropped from storage, not just hidden
    assert [o.id for o in store.history(T, limit=2)] == ["o7", "o6"]


def test_redelivered_operation_is_upserted_not_duplicated(store: Store) -> None:
    store.begin(op("task-1", phase=OperationPhase.RUNNING))
    store.begin(op("task-1", phase=OperationPhase.RUNNING, attempt=2))
    store.record(status(), op("task-1", attempt=2))
    history = store.history(T)
    assert len(history) == 1
    assert history[0].phase is OperationPhase.SUCCEEDED and history[0].attempt == 2


def test_forget_drops_status_and_history_but_keeps_fencing(store: Store) -> None:
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


def test_lock_is_exclusive_and_tokens_increase(store: Store) -> None:
    first = store.acquire(T, "w1", ttl=10)
    assert first is not None
    assert store.acquire(T, "w2", ttl=10) is None
    assert store.acquire(Target("web", "dev"), "w2", ttl=10) is not None  # other targets independent
    assert store.release(first)
    second = store.acquire(T, "w2", ttl=10)
    assert second is not None and second.token > first.token


def test_lock_expires_and_lost_lease_cannot_renew_or_release(store: Store) -> None:
    first = store.acquire(T, "w1", ttl=0.2)
    assert first is not None and store.renew(first, 0.2)
    time.sleep(0.35)
    second = store.acquire(T, "w2", ttl=10)
    assert second is not None
    assert not store.renew(first, 10)
    assert not store.release(first)
    assert store.acquire(T, "w3", ttl=10) is None  # w1's release did not free w2's lock


def test_stale_fencing_token_write_is_refused_and_writes_nothing(store: Store) -> None:
    old = store.acquire(T, "w1", ttl=0.1)
    time.sleep(0.2)
    new = store.acquire(T, "w2", ttl=10)
    assert old is not None and new is not None
    store.record(status("new"), op("o-new", started=2.0), lease=new)
    with pytest.raises(StateError, match="stale lease") as info:
        store.record(status("old"), op("o-old", started=3.0), lease=old)
    assert not info.value.temporary
    assert store.status(T) is not None and store.status(T).revision == "new"  # type: ignore[union-attr]
    assert [o.id for o in store.history(T)] == ["o-new"]
    store.record(status("new2"), op("o-new2", started=4.0), lease=new)  # the holder keeps writing


def test_lease_for_another_target_is_refused(store: Store) -> None:
    lease = store.acquire(Target("api", "prod"), "w1", ttl=10)
    with pytest.raises(StateError):
        store.record(status(), op("o1"), lease=lease)


def test_hundred_triggers_enqueue_once_then_dirty_gives_one_more(store: Store) -> None:
    assert sum(store.trigger(T, ttl=30) for _ in range(100)) == 1
    store.begin_run(T, ttl=30)
    assert sum(store.trigger(T, ttl=30) for _ in range(100)) == 0
    assert store.finish_run(T, ttl=30)  # dirty: exactly one more run
    assert not store.trigger(T, ttl=30)  # that run is queued again
    store.begin_run(T, ttl=30)
    assert not store.finish_run(T, ttl=30)  # clean: done
    assert store.trigger(T, ttl=30)


def test_coalescing_state_expires(store: Store) -> None:
    assert store.trigger(T, ttl=0.1)
    time.sleep(0.2)
    assert store.trigger(T, ttl=10)  # a lost queued task does not block the target forever


def test_named_lock_only_one_owner_renewable(store: Store) -> None:
    assert store.acquire_named("beat", "b1", ttl=10)
    assert not store.acquire_named("beat", "b2", ttl=10)
    assert store.acquire_named("beat", "b1", ttl=10)  # renew
    assert not store.release_named("beat", "b2")
    assert store.release_named("beat", "b1")
    assert store.acquire_named("beat", "b2", ttl=0.1)
    time.sleep(0.2)
    assert store.acquire_named("beat", "b3", ttl=10)


def test_claim_due_by_interval(store: Store) -> None:
    intervals = {"repo-a": 10.0, "repo-b": 100.0}
    assert store.claim_due(intervals, now=1000.0) == ["repo-a", "repo-b"]
    assert store.claim_due(intervals, now=1005.0) == []
    assert store.claim_due(intervals, now=1010.0) == ["repo-a"]
    assert store.claim_due(intervals, now=1101.0) == ["repo-a", "repo-b"]


def test_repo_heads(store: Store) -> None:
    assert store.repo_head("repo-a") is None
    store.set_repo_head("repo-a", "f" * 40)
    assert store.repo_head("repo-a") == "f" * 40


def test_events_follow_writes(store: Store) -> None:
    store.record(status(), op("o1"))
    store.publish(Event("notice", "web", "prod", "hello", data={"x": "1"}))
    events = store.events()
    assert [e.kind for e in events] == ["status", "notice"]
    assert events[0].application == "web" and events[0].cluster == "prod"
    assert events[1].data["x"] == "1"
    assert store.events(after=events[0].id) == events[1:]
    assert store.events(after=events[1].id) == []


@pytest.mark.parametrize("bad", ["", "A", "a:b", "a*", "a\nb", "../x", "a b", "x" * 300, 7, None, ["a"]])
def test_forged_names_never_reach_storage(store: Store, bad: object) -> None:
    forged = Target(bad, "prod")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        store.record(None, replace(op("o1"), application=bad))  # type: ignore[arg-type]
    with pytest.raises(InputError):
        store.acquire(forged, "w", ttl=1)
    with pytest.raises(InputError):
        store.trigger(forged, ttl=1)
    if not isinstance(bad, list):
        with pytest.raises(InputError):
            store.claim_due({bad: 1.0})  # type: ignore[dict-item]
    assert store.statuses() == []


@pytest.mark.parametrize("bad_id", ["", "a:b", "a b", "x" * 200, "*"])
def test_forged_operation_ids_rejected(store: Store, bad_id: str) -> None:
    with pytest.raises(InputError):
        store.record(status(), op(bad_id))
    assert store.status(T) is None
