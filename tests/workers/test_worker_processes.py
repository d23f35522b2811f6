"""Reliability with real Redis and real Celery worker processes (fake engine, see fakes.py).

Each test starts ``celery -A workers.app worker`` subprocesses with short visibility timeouts and lease
TTLs (conftest.FAST) and drives them through the broker exactly like production does.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from worker_kit import FAST, wait_for

from gitops.redis_server import RedisServer
from gitops.state import RedisStore
from gitops.status import OperationPhase, Target, Trigger
from workers.app import app, configure
from workers.settings import Settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def store(rclient: redis.Redis, redis_server: RedisServer) -> Iterator[RedisStore]:
    os.environ.update(FAST)
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    rclient.set("fake:head:repo", "c1")
    yield RedisStore(rclient)


def trigger(store: RedisStore, target: Target, how: Trigger = Trigger.WEBHOOK) -> bool:
    from workers import tasks

    if store.trigger(target, 30):
        tasks.reconcile.apply_async((target.application, target.cluster, str(how)))
        return True
    return False


def succeeded(store: RedisStore, target: Target, n: int = 1) -> Callable[[], bool]:
    def check() -> bool:
        ops = store.history(target)
        return len(ops) >= n and all(o.phase is not OperationPhase.RUNNING for o in ops)
    return check


def idle(store: RedisStore, target: Target) -> Callable[[], bool]:
    return lambda: store.redis.get(store.keys.schedule(target)) is None


def test_reconcile_through_a_real_worker(store: RedisStore, start_worker: Callable[..., Any]) -> None:
    start_worker()
    target = Target("web", "prod")
    assert trigger(store, target)
    wait_for(succeeded(store, target))
    status = store.status(target)
    assert status is not None and status.revision == "c1" and status.error is None
    assert store.redis.get("fake:applied:web@prod") == b"c1"
    [op] = store.history(target)
    assert op.trigger is Trigger.WEBHOOK and op.phase is OperationPhase.SUCCEEDED


def test_hundred_triggers_in_a_second_run_once_or_twice(store: RedisStore,
                                                        start_worker: Callable[..., Any]) -> None:
    start_worker()
    warm = Target("api", "prod")  # the worst case: a warm worker starts the first run at once
    assert trigger(store, warm)
    wait_for(succeeded(store, warm))
    target = Target("web", "prod")
    store.redis.set("fake:delay:web", 0.3)
    began = time.monotonic()
    enqueued = 0
    for i in range(100):
        store.redis.set("fake:head:repo", f"c{i}")
        enqueued += trigger(store, target)
        time.sleep(0.006)
    assert time.monotonic() - began < 1.5
    wait_for(idle(store, target), timeout=30)
    runs = int(store.redis.get("fake:runs:web@prod") or 0)
    assert 1 <= runs <= 2 and enqueued == 1, (runs, enqueued)
    assert store.redis.get("fake:applied:web@prod") == b"c99"  # the last trigger is not lost
    assert store.redis.get("fake:overlap:web@prod") is None


def test_kill_9_mid_sync_is_redelivered_and_converges(store: RedisStore,
                                                      start_worker: Callable[..., Any]) -> None:
    target = Target("slow", "prod")
    store.redis.set("fake:delay:slow", 2.5)
    first = start_worker("w1")
    assert trigger(store, target)
    wait_for(lambda: store.redis.get("fake:runs:slow@prod") == b"1", timeout=30)
    os.killpg(first.pid, signal.SIGKILL)  # the worker dies in the middle of the sync
    first.wait()
    store.redis.set("fake:active:slow@prod", 0)  # the dead process cannot decrement its counter
    store.redis.set("fake:delay:slow", 0.2)
    start_worker("w2")
    wait_for(lambda: store.redis.get("fake:runs:slow@prod") == b"2", timeout=40)
    wait_for(succeeded(store, target), timeout=20)
    [op] = store.history(target)  # one operation: the redelivered task reused its id
    assert op.phase is OperationPhase.SUCCEEDED and op.fence >= 2 and op.redeliveries == 1
    assert store.redis.get("fake:applied:slow@prod") == b"c1"
    assert store.redis.get("fake:overlap:slow@prod") is None


def test_redis_restart_keeps_state_and_workers_reconnect(store: RedisStore, redis_server: RedisServer,
                                                         start_worker: Callable[..., Any]) -> None:
    worker = start_worker()
    target = Target("api", "prod")
    assert trigger(store, target)
    wait_for(succeeded(store, target))
    wait_for(idle(store, target))
    before = (store.status(target), store.history(target))
    redis_server.restart()
    again = RedisStore(redis_server.client())
    assert (again.status(target), again.history(target)) == before
    again.redis.set("fake:head:repo", "c2")
    wait_for(lambda: trigger(again, target), timeout=20, every=0.5)
    wait_for(lambda: (s := again.status(target)) is not None and s.revision == "c2", timeout=40)
    assert worker.poll() is None
    assert len(again.history(target)) == 2


def test_forged_messages_do_not_crash_the_worker(store: RedisStore, start_worker: Callable[..., Any]) -> None:
    worker = start_worker()
    bad: list[tuple[Any, ...]] = [({"$gt": ""}, 5), ("../../etc", "prod"), ("nope", "prod"), ("web",),
                                  ("web", "prod", "self-destruct"), ("a" * 100_000, "prod")]
    for args in bad:
        app.send_task("gitops.reconcile", args=args)
    app.send_task("gitops.poll", args=[["repo"]])
    app.send_task("gitops.reconcile", args=("web", "prod", "poll"), serializer="pickle")  # not accepted
    target = Target("web", "dev")
    assert trigger(store, target)
    wait_for(succeeded(store, target), timeout=30)
    assert worker.poll() is None
    assert [s.target for s in store.statuses()] == [target]
    assert store.redis.get("fake:runs:web@prod") is None


def test_cluster_500s_retry_then_fail_without_delaying_others(store: RedisStore,
                                                              start_worker: Callable[..., Any]) -> None:
    start_worker()
    flaky, other = Target("flaky", "prod"), Target("web", "dev")
    store.redis.set("fake:fail:flaky", 100)
    assert trigger(store, flaky)
    assert trigger(store, other)
    wait_for(succeeded(store, other), timeout=20)
    other_done = time.time()
    wait_for(idle(store, flaky), timeout=40)
    status = store.status(flaky)
    assert status is not None and "500" in (status.error or "") and status.revision is None
    [op] = store.history(flaky)
    retry_limit = int(FAST["GITOPS_RETRY_LIMIT"])
    assert op.phase is OperationPhase.FAILED and op.attempt == retry_limit + 1
    assert int(store.redis.get("fake:runs:flaky@prod") or 0) == retry_limit + 1
    assert op.finished is not None and other_done < op.finished  # the healthy target was not held up


def test_git_server_gone_shows_source_error_and_keeps_revision(store: RedisStore,
                                                                start_worker: Callable[..., Any]) -> None:
    from workers import tasks

    start_worker()
    target = Target("web", "prod")
    assert trigger(store, target)
    wait_for(succeeded(store, target))
    store.redis.set("fake:head:repo", "down")
    tasks.poll.apply_async(("repo",))
    wait_for(lambda: (s := store.status(target)) is not None and bool(s.error), timeout=40)
    wait_for(idle(store, target), timeout=40)
    status = store.status(target)
    assert status is not None and "unreachable" in (status.error or "") and status.revision == "c1"
    assert store.redis.get("fake:applied:web@prod") == b"c1"
