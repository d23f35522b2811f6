"""The workers' Prometheus figures in a real Redis: recorded per operation, exposed by the collector,
read back through prometheus_client's own text format and parser (what a Prometheus server sees)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gitops.state import Operation, RedisStore, TargetStatus
from gitops.state.model import DriftRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from workers import metrics
from workers.metrics import MetricsRecorder, RedisMetrics


def op(id: str = "o1", *, app: str = "web", cluster: str = "prod", trigger: Trigger = Trigger.WEBHOOK,
       phase: OperationPhase = OperationPhase.SUCCEEDED, revision: str | None = "a" * 40,
       started: float = 1_000.0, duration: float = 0.3, commit_time: float | None = 940.0,
       dry_run: bool = False) -> Operation:
    return Operation(id, app, cluster, trigger, phase, revision=revision, started=started,
                     finished=started + duration, commit_time=commit_time, dry_run=dry_run)


def status(operation: Operation, sync: SyncStatus = SyncStatus.SYNCED,
           health: HealthStatus = HealthStatus.HEALTHY, drift: int = 0) -> TargetStatus:
    records = tuple(DriftRecord("apps/v1/Deployment/web", ".spec.replicas", "5", "2") for _ in range(drift))
    return TargetStatus(operation.application, operation.cluster, operation.revision, sync, health,
                        drift_count=drift, drift=records, operation=operation.id,
                        reconciled_at=operation.finished or 0.0,
                        error="boom" if operation.phase is OperationPhase.FAILED else None)


def scrape(collector: RedisMetrics) -> dict[str, list[Sample]]:
    """The collector's families as Prometheus reads them: text exposition, parsed back."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


@pytest.fixture
def recorder(rclient: redis.Redis) -> MetricsRecorder:
    return MetricsRecorder(rclient)


def test_durations_results_and_lead_time_are_exposed(rclient: redis.Redis, recorder: MetricsRecorder) -> None:
    first = op("o1", duration=0.3)
    assert recorder.record(first, status(first))  # the target reached a revision: a lead time
    again = op("o2", started=2_000.0, duration=7.0, trigger=Trigger.POLL)
    assert not recorder.record(again, status(again))  # the same revision again: no lead time
    failed = op("o3", phase=OperationPhase.FAILED, revision="b" * 40, duration=0.04)
    assert not recorder.record(failed, status(failed, SyncStatus.OUT_OF_SYNC))
    found = scrape(RedisMetrics(rclient))
    duration = found["gitops_reconcile_duration_seconds"]
    ok = {"result": "succeeded", "trigger": "webhook"}
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", **ok, le="0.25") == 0
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", **ok, le="0.5") == 1
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", **ok, le="+Inf") == 1
    assert value(duration, "gitops_reconcile_duration_seconds_sum", **ok) == pytest.approx(0.3)
    poll = {"result": "succeeded", "trigger": "poll"}
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", **poll, le="5.0") == 0
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", **poll, le="10.0") == 1
    bad = {"result": "failed", "trigger": "webhook"}
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", **bad, le="0.05") == 1  # cumulative
    assert value(duration, "gitops_reconcile_duration_seconds_count", **bad) == 1
    results = found["gitops_sync_results"]
    assert value(results, "gitops_sync_results_total", sync="Synced", phase="Succeeded") == 2
    assert value(results, "gitops_sync_results_total", sync="OutOfSync", phase="Failed") == 1
    lead = found["gitops_commit_to_applied_seconds"]
    where = {"application": "web", "cluster": "prod"}
    assert value(lead, "gitops_commit_to_applied_seconds_count", **where) == 1
    assert value(lead, "gitops_commit_to_applied_seconds_sum", **where) == pytest.approx(60.3)
    assert value(lead, "gitops_commit_to_applied_seconds_bucket", **where, le="60.0") == 0
    assert value(lead, "gitops_commit_to_applied_seconds_bucket", **where, le="120.0") == 1


def test_lead_time_counts_each_new_revision_once_per_target(rclient: redis.Redis,
                                                           recorder: MetricsRecorder) -> None:
    dry = op("o1", dry_run=True)
    assert not recorder.record(dry, status(dry))  # a dry run applies nothing
    out = op("o2", revision="b" * 40)
    assert not recorder.record(out, status(out, SyncStatus.OUT_OF_SYNC))  # not there yet
    for n, (app, cluster) in enumerate([("web", "prod"), ("web", "dev"), ("api", "prod")]):
        arrived = op(f"p{n}", app=app, cluster=cluster, revision="c" * 40, commit_time=900.0, duration=1.0)
        assert recorder.record(arrived, status(arrived))
        assert not recorder.record(arrived, status(arrived))
    unknown_commit = op("o3", revision="d" * 40, commit_time=None)
    assert recorder.record(unknown_commit, status(unknown_commit))  # arrived, but no time to measure
    back = op("o4", revision="c" * 40, started=5_000.0, commit_time=900.0)
    assert recorder.record(back, status(back))  # back to an earlier revision: arriving again
    future = op("o5", app="api", revision="e" * 40, commit_time=10_000.0)  # a committer clock ahead
    assert recorder.record(future, status(future))
    lead = scrape(RedisMetrics(rclient))["gitops_commit_to_applied_seconds"]
    assert value(lead, "gitops_commit_to_applied_seconds_count", application="web", cluster="prod") == 2
    assert value(lead, "gitops_commit_to_applied_seconds_count", application="web", cluster="dev") == 1
    assert value(lead, "gitops_commit_to_applied_seconds_count", application="api", cluster="prod") == 2
    assert value(lead, "gitops_commit_to_applied_seconds_bucket", application="api", cluster="prod",
                 le="1.0") == 1  # the future commit counts as 0 s, never negative


def test_every_worker_and_web_server_sees_the_same_figures(redis_server, rclient: redis.Redis) -> None:
    workers = [MetricsRecorder.from_url(redis_server.url) for _ in range(3)]
    for n, recorder in enumerate(workers):
        operation = op(f"o{n}", cluster=f"c{n}")
        recorder.record(operation, status(operation))
    for web in (RedisMetrics.from_url(redis_server.url), RedisMetrics(rclient)):
        found = scrape(web)
        assert value(found["gitops_sync_results"], "gitops_sync_results_total", sync="Synced",
                     phase="Succeeded") == 3
        assert value(found["gitops_reconcile_duration_seconds"], "gitops_reconcile_duration_seconds_count",
                     result="succeeded", trigger="webhook") == 3


def test_queue_depth_per_celery_queue_and_unacked(rclient: redis.Redis) -> None:
    rclient.rpush("reconcile", "m1", "m2")
    rclient.rpush("reconcile" + metrics.KOMBU_PRIORITY_SEPARATOR + "6", "m3")  # a prioritised message
    rclient.rpush("sync", "m4")
    rclient.hset("unacked", mapping={"tag1": "x", "tag2": "y"})
    found = scrape(RedisMetrics(rclient))
    depth = found["gitops_queue_depth"]
    assert {s.labels["queue"]: s.value for s in depth} == {"poll": 0, "reconcile": 3, "sync": 1}
    assert value(found["gitops_queue_unacked"], "gitops_queue_unacked") == 2
    assert value(found["gitops_metrics_up"], "gitops_metrics_up") == 1


def test_the_queues_of_a_real_celery_broker_are_counted(redis_server, rclient: redis.Redis) -> None:
    from dataclasses import replace

    from workers.app import app, configure
    from workers.settings import Settings

    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    from workers import tasks

    tasks.reconcile.apply_async(("web", "prod", "poll"))
    tasks.sync.apply_async(("web", "prod", False, False))
    tasks.sync.apply_async(("web", "dev", False, False), priority=6)
    depth = scrape(RedisMetrics(rclient))["gitops_queue_depth"]
    assert {s.labels["queue"]: s.value for s in depth} == {"poll": 0, "reconcile": 1, "sync": 2}


def test_target_gauges_come_from_the_state_index(rclient: redis.Redis) -> None:
    store = RedisStore(rclient)
    for n, (sync, health, drift, phase) in enumerate([
            (SyncStatus.SYNCED, HealthStatus.HEALTHY, 0, OperationPhase.SUCCEEDED),
            (SyncStatus.OUT_OF_SYNC, HealthStatus.HEALTHY, 2, OperationPhase.SUCCEEDED),
            (SyncStatus.OUT_OF_SYNC, HealthStatus.DEGRADED, 1, OperationPhase.FAILED)]):
        operation = op(f"o{n}", cluster=f"c{n}", phase=phase)
        store.record(status(operation, sync, health, drift), operation)
    found = scrape(RedisMetrics(rclient))
    assert value(found["gitops_targets"], "gitops_targets", sync="Synced") == 1
    assert value(found["gitops_targets"], "gitops_targets", sync="OutOfSync") == 2
    assert value(found["gitops_targets_by_health"], "gitops_targets_by_health", health="Degraded") == 1
    assert value(found["gitops_drifted_targets"], "gitops_drifted_targets") == 2
    assert value(found["gitops_failed_targets"], "gitops_failed_targets") == 1


def test_forged_or_broken_stored_fields_are_skipped_and_label_values_stay_inert(
        rclient: redis.Redis, recorder: MetricsRecorder) -> None:
    operation = op("o1")
    recorder.record(operation, status(operation))
    key = metrics.RECONCILE_DURATION.key
    rclient.hset(key, mapping={
        "not json\n0": 5, '["only-one"]\n0': 5, '[1,2]\n0': 5, '["a","b"]\nnot-a-bucket': 5,
        '["a","b"]\n0': "NaN-ish", b'["\xff","b"]\n0': 1, "no separator": 1})
    rclient.hset(key, '["x\\"} evil{le=\\"1\\"","poll\\nnext"]\n0', 1)  # quotes and a newline in labels
    rclient.hset(metrics.SYNC_RESULTS.key, mapping={"garbage": 1, '["Synced"]': 1})
    found = scrape(RedisMetrics(rclient))
    duration = found["gitops_reconcile_duration_seconds"]
    labels = {(s.labels.get("result"), s.labels.get("trigger")) for s in duration}
    assert labels == {("succeeded", "webhook"), ('x"} evil{le="1"', "poll\nnext"), ("a", "b")}
    assert value(duration, "gitops_reconcile_duration_seconds_bucket", result='x"} evil{le="1"',
                 trigger="poll\nnext", le="+Inf") == 1  # escaped in the text format, read back intact
    assert value(duration, "gitops_reconcile_duration_seconds_count", result="a", trigger="b") == 0
    assert [s.labels for s in found["gitops_sync_results"]] == [{"sync": "Synced", "phase": "Succeeded"}]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dead_redis() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1, socket_timeout=1)
    yield client
    client.close()


def test_registering_reads_nothing_and_a_scrape_without_redis_says_so(dead_redis: redis.Redis) -> None:
    collector = RedisMetrics(dead_redis)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)  # describe(): names only, no Redis
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert list(families) == ["gitops_metrics_up"]
    assert families["gitops_metrics_up"].samples[0].value == 0
