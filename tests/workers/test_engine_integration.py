"""Real engine in real worker processes against sandbox clusters with injected faults.

The demo world (Git repo, three sandboxes, config) runs in this test process; workers are
``celery -A workers.app worker`` subprocesses using the production runtime (workers/engine_port.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from worker_kit import FAST, wait_for

from gitops.state import RedisStore
from gitops.vocabulary import OperationPhase, SyncStatus, Target, Trigger
from kubesandbox import FaultRule
from workers.app import app, configure
from workers.demo import Demo, start_demo
from workers.redis_server import RedisServer
from workers.settings import Settings

pytestmark = pytest.mark.timeout(120)
PROD, DEV = Target("hello-prod", "prod"), Target("hello-dev", "dev")


@pytest.fixture
def world(tmp_path: Path, rclient: redis.Redis,
          redis_server: RedisServer) -> Iterator[tuple[Demo, RedisStore]]:
    demo = start_demo(tmp_path)
    fast_retry = f"    retry: {{limit: {FAST['GITOPS_RETRY_LIMIT']}, backoff: 200ms, maxBackoff: 800ms}}\n"
    demo.config.write_text(demo.config.read_text().replace("    selfHeal: true\n",
                                                           "    selfHeal: true\n" + fast_retry))
    os.environ.update(FAST)
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    yield demo, RedisStore(rclient)
    demo.stop()


def real_worker(start_worker: Callable[..., Any], demo: Demo, name: str = "w1") -> Any:
    return start_worker(name, GITOPS_RUNTIME="", GITOPS_CONFIG=str(demo.config),
                        GITOPS_DATA_DIR=str(demo.root), GITOPS_LOCK_TTL="3")


def trigger(store: RedisStore, target: Target) -> None:
    from workers import tasks

    assert store.trigger(target, 60)
    tasks.reconcile.apply_async((target.application, target.cluster, str(Trigger.WEBHOOK)))


def finished(store: RedisStore, target: Target) -> Callable[[], bool]:
    return lambda: store.redis.get(store.keys.schedule(target)) is None and bool(store.history(target))


def test_cluster_500s_retry_then_fail_while_other_clusters_sync(world: tuple[Demo, RedisStore],
                                                                start_worker: Callable[..., Any]) -> None:
    demo, store = world
    demo.sandboxes["prod"].faults.add(FaultRule(path_regex="demo-prod", status=500, times=None))
    real_worker(start_worker, demo)
    trigger(store, PROD)
    trigger(store, DEV)
    wait_for(finished(store, DEV), timeout=60)
    dev = store.status(DEV)
    assert dev is not None and dev.sync is SyncStatus.SYNCED and dev.error is None
    wait_for(finished(store, PROD), timeout=90)
    prod = store.status(PROD)
    assert prod is not None and prod.error and "500" in prod.error and prod.temporary
    [op] = store.history(PROD)
    assert op.phase is OperationPhase.FAILED and op.attempt == int(FAST["GITOPS_RETRY_LIMIT"]) + 1
    dev_op = store.history(DEV)[0]
    assert dev_op.finished is not None and op.finished is not None and dev_op.finished < op.finished


def test_kill_9_during_a_slow_sync_converges_with_one_operation(world: tuple[Demo, RedisStore],
                                                                 start_worker: Callable[..., Any]) -> None:
    demo, store = world
    sandbox = demo.sandboxes["prod"]
    slow = FaultRule(verb="patch", path_regex="deployments", delay=6.0, times=1)
    sandbox.faults.add(slow)
    first = real_worker(start_worker, demo, "w1")
    trigger(store, PROD)
    wait_for(lambda: slow.hits > 0, timeout=60, every=0.05)
    os.killpg(first.pid, signal.SIGKILL)  # dies while the API server is still answering its apply
    first.wait()
    real_worker(start_worker, demo, "w2")
    wait_for(finished(store, PROD), timeout=90)
    status = store.status(PROD)
    assert status is not None and status.sync is SyncStatus.SYNCED and status.error is None, status
    [op] = store.history(PROD)
    assert op.phase is OperationPhase.SUCCEEDED and op.fence >= 2 and op.redeliveries == 1
    [deployment] = sandbox.objects("deployments", "apps", "demo-prod")
    assert deployment["spec"]["replicas"] == 3


def test_git_server_gone_keeps_the_last_good_revision_applied(world: tuple[Demo, RedisStore],
                                                              start_worker: Callable[..., Any]) -> None:
    from workers import tasks

    demo, store = world
    real_worker(start_worker, demo)
    trigger(store, PROD)
    wait_for(finished(store, PROD), timeout=60)
    before = store.status(PROD)
    assert before is not None and before.sync is SyncStatus.SYNCED and before.revision == demo.head
    demo.repo.rename(demo.root / "repo-gone")  # the Git server goes away
    tasks.poll.apply_async(("demo",))
    wait_for(lambda: (s := store.status(PROD)) is not None and bool(s.error), timeout=60)
    wait_for(finished(store, PROD), timeout=60)
    after = store.status(PROD)
    assert after is not None and after.error is not None and "repo" in after.error
    assert after.revision == demo.head  # the last good revision, still applied
    [deployment] = demo.sandboxes["prod"].objects("deployments", "apps", "demo-prod")
    assert deployment["spec"]["replicas"] == 3
    assert store.history(PROD)[0].phase is OperationPhase.FAILED


def test_a_failed_sync_is_retried_on_the_next_resync_without_self_heal(
        world: tuple[Demo, RedisStore], start_worker: Callable[..., Any]) -> None:
    demo, store = world
    text = demo.config.read_text()
    prod_app = text.index("name: hello-prod")
    demo.config.write_text(text[:prod_app] + text[prod_app:].replace("selfHeal: true", "selfHeal: false", 1))
    sandbox = demo.sandboxes["prod"]
    sandbox.faults.add(FaultRule(path_regex="demo-prod", status=500, times=None))
    real_worker(start_worker, demo)
    trigger(store, PROD)
    wait_for(finished(store, PROD), timeout=60)
    failed = store.status(PROD)
    assert failed is not None and failed.error and failed.revision == demo.head
    sandbox.faults.clear()  # the cluster is back; same revision in Git
    trigger(store, PROD)  # what the beat's resync does
    wait_for(lambda: (s := store.status(PROD)) is not None and s.error is None, timeout=60)
    healed = store.status(PROD)
    assert healed is not None and healed.sync is SyncStatus.SYNCED, healed
    assert len(sandbox.objects("deployments", "apps", "demo-prod")) == 1


def test_gitops_sync_cli_enqueues_on_the_workers(world: tuple[Demo, RedisStore], redis_server: RedisServer,
                                                 start_worker: Callable[..., Any]) -> None:
    demo, store = world
    real_worker(start_worker, demo)
    env = {**os.environ, "GITOPS_REDIS_URL": redis_server.url}
    done = subprocess.run([sys.executable, "-m", "gitops", "sync", "-c", str(demo.config), "hello-prod",
                           "--prune"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    task_id = done.stdout.strip().rsplit(" ", 1)[-1]
    wait_for(lambda: (op := store.operation(PROD, task_id)) is not None
             and op.phase is OperationPhase.SUCCEEDED, timeout=60)
    op = store.operation(PROD, task_id)
    assert op is not None and op.trigger is Trigger.MANUAL and op.prune
    assert len(demo.sandboxes["prod"].objects("deployments", "apps", "demo-prod")) == 1
