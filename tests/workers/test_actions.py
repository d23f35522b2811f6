"""The web's actions through the whole worker stack: ``CeleryDispatcher`` (web.context.Actions) publishes,
a real Celery worker process runs the task (fake engine, worker_fakes), and what the web then reads is
there: the trigger detail on the operation, its trace, the kept manifests, the figures of /metrics, and
the trace exported over OTLP/HTTP to a receiver on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from otlp_receiver import Receiver, attributes
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from worker_kit import FAST, wait_for

from gitops.env import ENV_OTEL_ENDPOINT
from gitops.state import Operation, RedisStore
from gitops.vocabulary import OperationPhase, Target, Trigger
from workers.app import app, configure
from workers.dispatch import CeleryDispatcher
from workers.metrics import RedisMetrics
from workers.redis_server import RedisServer
from workers.settings import Settings

pytestmark = pytest.mark.timeout(120)
T = Target("web", "prod")


@pytest.fixture
def store(rclient: redis.Redis, redis_server: RedisServer) -> Iterator[RedisStore]:
    os.environ.update(FAST)
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    rclient.set("fake:head:repo", "c1")
    rclient.set("fake:committed:c1", "1700000000")
    yield RedisStore(rclient)


def finished(store: RedisStore, task_id: str) -> Callable[[], Operation | None]:
    def check() -> Operation | None:
        found = store.operation(T, task_id)
        return found if found is not None and found.phase is not OperationPhase.RUNNING else None
    return check


def test_a_webhook_reconcile_records_detail_trace_manifests_metrics_and_exports_the_trace(
        store: RedisStore, start_worker: Callable[..., Any], receiver: Receiver) -> None:
    start_worker(**{ENV_OTEL_ENDPOINT: receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50"})
    actions = CeleryDispatcher(store)
    task = actions.request_reconcile("web", "prod", Trigger.WEBHOOK, detail="github delivery 72d3162e")
    assert task is not None
    assert actions.request_reconcile("web", "prod", Trigger.WEBHOOK, detail="another delivery") is None
    op = wait_for(finished(store, task))
    assert isinstance(op, Operation) and op.phase is OperationPhase.SUCCEEDED
    assert op.trigger is Trigger.WEBHOOK and op.trigger_detail == "github delivery 72d3162e"
    assert [s.name for s in op.spans] == ["resolve", "render", "apply"] and op.commit_time == 1_700_000_000.0
    kept = store.manifests(T)
    assert kept is not None and kept.operation == task and kept.digest == op.manifests_digest
    registry = CollectorRegistry()
    registry.register(RedisMetrics(store.redis))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(generate_latest(registry).decode()) for s in f.samples}
    assert samples[("gitops_reconcile_duration_seconds_count",
                    (("result", "succeeded"), ("trigger", "webhook")))] == 1
    where = (("application", "web"), ("cluster", "prod"))
    assert samples[("gitops_commit_to_applied_seconds_count", where)] == 1
    wait_for(lambda: any(not s.parent_span_id for s, _ in receiver.spans()))
    [root] = [s for s, _ in receiver.spans() if not s.parent_span_id]
    assert root.name == "reconcile web@prod"
    assert attributes(root.attributes)["gitops.trigger_detail"] == "github delivery 72d3162e"
    assert attributes(root.attributes)["gitops.operation"] == task
    wait_for(lambda: len(receiver.spans()) == 4)  # the root and its three stages
    assert {s.name for s, _ in receiver.spans() if s.parent_span_id == root.span_id} == {
        "resolve", "render", "apply"}


def test_sync_and_hard_refresh_carry_who_asked(store: RedisStore, start_worker: Callable[..., Any]) -> None:
    start_worker()
    actions = CeleryDispatcher(store)
    sync = actions.enqueue_sync("web", "prod", prune=True, dry_run=False, detail="alice via dashboard")
    op = wait_for(finished(store, sync))
    assert isinstance(op, Operation) and op.trigger is Trigger.MANUAL and op.prune
    assert op.trigger_detail == "alice via dashboard"
    hard = actions.hard_refresh("web", "prod", detail="bob via API\nX-Injected: 1")
    op = wait_for(finished(store, hard))
    assert isinstance(op, Operation) and op.phase is OperationPhase.SUCCEEDED
    assert op.trigger_detail == "bob via API X-Injected: 1; hard refresh: dropped the fake snapshot"
    assert store.redis.get("fake:hard:web@prod") == b"1"
    assert store.redis.lrange("fake:sync:web@prod", 0, -1) == [b"True", b"None"]  # sync forced, refresh not


def test_a_message_from_before_the_detail_still_runs(store: RedisStore,
                                                     start_worker: Callable[..., Any]) -> None:
    from workers import tasks

    start_worker()
    old_sync = tasks.sync.apply_async(("web", "prod", False, False)).id  # no detail keyword at all
    op = wait_for(finished(store, old_sync))
    assert isinstance(op, Operation) and op.phase is OperationPhase.SUCCEEDED and op.trigger_detail is None
    forged = tasks.hard_refresh.apply_async(("web", "prod"), {"detail": {"$where": "1"}})
    assert forged.get(timeout=60)["status"] == "rejected"
    assert store.operation(T, forged.id) is None and store.redis.get("fake:hard:web@prod") is None


@pytest.mark.parametrize("app_name", ["web;rm -rf /", "../x", "x" * 300])
def test_the_dispatcher_refuses_bad_names_before_publishing(store: RedisStore, app_name: str) -> None:
    from gitops.errors import InputError

    actions = CeleryDispatcher(store)
    for call in (lambda: actions.hard_refresh(app_name, "prod"),
                 lambda: actions.request_reconcile(app_name, "prod"),
                 lambda: actions.enqueue_sync(app_name, "prod", prune=False, dry_run=False)):
        with pytest.raises(InputError):
            call()
    assert store.redis.llen("reconcile") == 0 and store.redis.llen("sync") == 0
