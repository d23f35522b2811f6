"""Reliability with real Redis and real Celery worker processes (fake engine, see fakes.py).

Each test starts ``celery -A workers.app worker`` subprocesses with short visibility timeouts and lease
TTLs (conftest.FAST) and drives them through the broker exactly like production does. Tests wait on
conditions (``wait_for``) and hold a fake reconcile in progress with ``fake:hold`` / ``fake:go``; none
sleeps or bounds how long something took.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from worker_kit import FAST, wait_for

from gitops.state import RedisStore
from gitops.vocabulary import OperationPhase, Target, Trigger
from workers.app import app, configure
from workers.redis_server import RedisServer
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


def burst(store: RedisStore, target: Target, prefix: str) -> int:
    """100 triggers, each after a new commit; returns how many enqueued a reconcile."""
    enqueued = 0
    for i in range(100):
        store.redis.set("fake:head:repo", f"{prefix}{i}")
        enqueued += trigger(store, target)
    return enqueued


def release(store: RedisStore, target: Target) -> None:
    """Let the held run of ``target`` finish, and the runs after it go straight through."""
    store.redis.delete(f"fake:hold:{target.application}")
    store.redis.rpush(f"fake:go:{target.key}", "go")


def test_hundred_triggers_run_once_or_twice(store: RedisStore, start_worker: Callable[..., Any]) -> None:
    start_worker()
    busy = Target("api", "prod")
    assert trigger(store, busy)
    wait_for(idle(store, busy))  # a warm worker
    target = Target("web", "prod")

    def runs() -> int:
        return int(store.redis.get("fake:runs:web@prod") or 0)

    # a burst while the reconcile is still queued (the worker is busy elsewhere): one run
    store.redis.set("fake:hold:api", 1)
    assert trigger(store, busy)
    wait_for(lambda: store.redis.get("fake:runs:api@prod") == b"2")
    assert burst(store, target, "c") == 1
    release(store, busy)
    wait_for(idle(store, target), timeout=30)
    assert runs() == 1 and store.redis.get("fake:applied:web@prod") == b"c99"  # the last trigger is not lost

    # the worst case, a burst while a reconcile runs: that run, then exactly one more for the burst
    store.redis.set("fake:hold:web", 1)
    assert trigger(store, target)
    wait_for(lambda: runs() == 2)
    assert burst(store, target, "d") == 0
    release(store, target)
    wait_for(idle(store, target), timeout=30)
    assert runs() == 3 and store.redis.get("fake:applied:web@prod") == b"d99"
    assert store.redis.get("fake:overlap:web@prod") is None


def test_kill_9_mid_sync_is_redelivered_and_converges(store: RedisStore,
                                                      start_worker: Callable[..., Any]) -> None:
    target = Target("slow", "prod")
    store.redis.set("fake:hold:slow", 1)
    first = start_worker("w1")
    assert trigger(store, target)
    wait_for(lambda: store.redis.get("fake:runs:slow@prod") == b"1", timeout=30)
    os.killpg(first.pid, signal.SIGKILL)  # the worker dies in the middle of the sync
    first.wait()
    store.redis.set("fake:active:slow@prod", 0)  # the dead process cannot decrement its counter
    store.redis.delete("fake:hold:slow")
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
    wait_for(idle(store, flaky), timeout=40)
    status = store.status(flaky)
    assert status is not None and "500" in (status.error or "") and status.revision is None
    [op] = store.history(flaky)
    retry_limit = int(FAST["GITOPS_RETRY_LIMIT"])
    assert op.phase is OperationPhase.FAILED and op.attempt == retry_limit + 1
    assert int(store.redis.get("fake:runs:flaky@prod") or 0) == retry_limit + 1
    started = [k.decode() for k in store.redis.lrange("fake:log", 0, -1)]
    last_flaky = len(started) - 1 - started[::-1].index("flaky@prod")
    assert started.index("web@dev") < last_flaky  # the healthy target ran between the retries


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


def render_workers(pid: int) -> dict[int, int]:
    """Render worker processes (``python -m renderers.isolation``) among ``pid``'s descendants, with
    their parents."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child in (c for c, p in parents.items() if p == parent):
            frontier.append(child)
            if b"renderers.isolation" in commands.get(child, b""):
                found[child] = parent
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_a_started_worker_has_its_render_pool_warm(store: RedisStore, start_worker: Callable[..., Any],
                                                   pool: str) -> None:
    proc = start_worker(pool=pool)
    found = wait_for(lambda: render_workers(proc.pid), timeout=60)
    assert isinstance(found, dict) and len(found) == 1
    [parent] = found.values()  # where tasks run: the worker itself (solo), its pool process (prefork)
    assert (parent == proc.pid) is (pool == "solo")
