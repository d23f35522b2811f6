"""The workers' figures for Prometheus, kept in Redis so every worker and web server sees the same ones.

Written by :class:`MetricsRecorder` (an observer of the workers' runtime: told of every finished
operation by workers/service.py), read by :class:`RedisMetrics`, a ``prometheus_client`` collector that
the web server registers for ``/metrics`` (``ctx.metrics``). docs/observability.md lists every metric.

Key design choices:

- Redis, not process memory: a reconcile runs in whichever worker took it and ``/metrics`` is answered
  by whichever web server the load balancer picked, so per-process registries would each see a
  fragment. One operation is one Lua script (atomic, one round trip): its duration into a histogram,
  its result into a counter, and, when it brought the target to a revision it was not synced at
  before, the commit-to-applied lead time into a histogram per application and cluster.
- Histograms are hashes of per-bucket counts (not cumulative), with ``sum`` and ``count``; the
  collector adds them up at scrape time. Label values are JSON lists, so no value can forge another
  label set, and every label has a bounded set of values (result, trigger, sync, phase) except
  application and cluster, which are bounded by the configuration.
- Gauges are read when scraped: targets by sync status and health, drifted and failed targets from the
  state's target index (``counts``), and the depth of every Celery queue (``LLEN`` of the lists kombu
  keeps per queue and priority) plus the messages taken but not yet acknowledged.
- A scrape never fails because Redis is away: the collector then yields ``gitops_metrics_up 0`` only.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gitops.state import Operation, RedisStore, TargetStatus, connect
from gitops.vocabulary import OperationPhase, SyncStatus
from workers.settings import QUEUES

log = logging.getLogger(__name__)

PREFIX = "gitops:metrics:v1:"
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
LEAD_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
# kombu's Redis transport keeps a queue as one list per priority step: "name", "name\x06\x163", ...
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_UNACKED = "unacked"


@dataclass(frozen=True)
class Histogram:
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]

    @property
    def key(self) -> str:
        return f"{PREFIX}h:{self.name}"

    def bucket(self, value: float) -> int:
        """The index of the first bucket ``value`` fits in (len(buckets): only +Inf)."""
        return bisect.bisect_left(self.buckets, value)


@dataclass(frozen=True)
class Counter:
    name: str
    help: str
    labels: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{PREFIX}c:{self.name}"


RECONCILE_DURATION = Histogram(
    "gitops_reconcile_duration_seconds",
    "Time from the start of an operation (reconcile or sync) to its record, by result and trigger.",
    ("result", "trigger"), DURATION_BUCKETS)
SYNC_RESULTS = Counter(
    "gitops_sync_results", "Finished operations by the sync status they left the target in and their phase.",
    ("sync", "phase"))
COMMIT_TO_APPLIED = Histogram(
    "gitops_commit_to_applied_seconds",
    "From a revision's commit time to the end of the operation that brought the target to it (Synced).",
    ("application", "cluster"), LEAD_BUCKETS)
APPLIED_KEY = f"{PREFIX}applied"  # hash: target key -> the revision the target was last Synced at

# KEYS: duration histogram, results counter, lead-time histogram, applied hash
# ARGV: duration labels, bucket, value; results labels; target, revision, lead labels, bucket, value
_OBSERVE = """
local function observe(key, labels, bucket, value)
  redis.call('HINCRBY', key, labels .. '\\n' .. bucket, 1)
  redis.call('HINCRBYFLOAT', key, labels .. '\\nsum', value)
  redis.call('HINCRBY', key, labels .. '\\ncount', 1)
end
observe(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
if ARGV[5] ~= '' then
  if redis.call('HGET', KEYS[4], ARGV[5]) ~= ARGV[6] then
    redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
    if ARGV[7] ~= '' then observe(KEYS[3], ARGV[7], ARGV[8], ARGV[9]) end
    return 1
  end
end
return 0
"""


def _labels(*values: str) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def reached_revision(operation: Operation, status: TargetStatus) -> bool:
    """Whether the operation left the target Synced at its revision (what "applied" means for the lead
    time: a dry run or a failed operation never counts)."""
    return (operation.phase is OperationPhase.SUCCEEDED and not operation.dry_run
            and status.sync is SyncStatus.SYNCED and operation.revision is not None
            and status.revision == operation.revision)


class MetricsRecorder:
    """Records each finished operation into Redis (a :class:`workers.ports.Observer`)."""

    def __init__(self, client: redis.Redis[bytes]) -> None:
        self.client = client
        self._observe = client.register_script(_OBSERVE)

    @staticmethod
    def from_url(url: str) -> MetricsRecorder:
        return MetricsRecorder(connect(url, socket_timeout=5, socket_connect_timeout=5))

    def finished(self, operation: Operation, status: TargetStatus) -> None:
        self.record(operation, status)

    def record(self, operation: Operation, status: TargetStatus) -> bool:
        """Record ``operation``; True when it was the first to bring its target to its revision."""
        duration = operation.duration or 0.0
        lead: list[str] = ["", "", "", "", ""]
        if reached_revision(operation, status):
            lead[:2] = [operation.target.key, str(operation.revision)]
            if operation.commit_time is not None and operation.finished is not None:
                seconds = max(0.0, operation.finished - operation.commit_time)
                lead[2:] = [_labels(operation.application, operation.cluster),
                            str(COMMIT_TO_APPLIED.bucket(seconds)), repr(seconds)]
        result = self._observe(
            keys=[RECONCILE_DURATION.key, SYNC_RESULTS.key, COMMIT_TO_APPLIED.key, APPLIED_KEY],
            args=[_labels(operation.phase.value.lower(), str(operation.trigger)),
                  str(RECONCILE_DURATION.bucket(duration)), repr(duration),
                  _labels(str(status.sync), operation.phase.value), *lead])
        return bool(result)


def _parse_labels(raw: bytes, count: int) -> tuple[str, ...] | None:
    try:
        values = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != count or not all(isinstance(v, str) for v in values):
        return None
    return tuple(values)


def histogram_family(spec: Histogram, fields: dict[bytes, bytes]) -> HistogramMetricFamily:
    """The family of one stored histogram (per-bucket counts added up into Prometheus' cumulative ones)."""
    series: dict[tuple[str, ...], dict[str, float]] = {}
    for field, value in fields.items():
        raw_labels, _, part = field.rpartition(b"\n")
        labels = _parse_labels(raw_labels, len(spec.labels))
        if labels is None:
            continue
        try:
            series.setdefault(labels, {})[part.decode()] = float(value)
        except (UnicodeDecodeError, ValueError):
            continue
    family = HistogramMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    for labels, parts in sorted(series.items()):
        running, buckets = 0.0, []
        for index, bound in enumerate((*spec.buckets, float("inf"))):
            running += parts.get(str(index), 0.0)
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        family.add_metric(list(labels), buckets, parts.get("sum", 0.0))
    return family


class RedisMetrics(Collector):
    """The workers' figures as Prometheus metric families, read from Redis at every scrape.

    ``client`` is the state's Redis (where :class:`MetricsRecorder` writes and the target index lives);
    ``broker`` the Celery broker's (the same one by default, as ``gitops up`` runs them)."""

    def __init__(self, client: redis.Redis[bytes], broker: redis.Redis[bytes] | None = None,
                 queues: Iterable[str] = QUEUES) -> None:
        self.client = client
        self.broker = broker or client
        self.queues = tuple(queues)
        self.store = RedisStore(client)

    @staticmethod
    def from_url(url: str, broker_url: str | None = None, queues: Iterable[str] = QUEUES) -> RedisMetrics:
        """``queues``: those whose depth is reported (the plain ones and the configured shards' queues)."""
        def client(u: str) -> redis.Redis[bytes]:
            return connect(u, socket_timeout=5, socket_connect_timeout=5)

        return RedisMetrics(client(url), client(broker_url) if broker_url else None, queues)

    def describe(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily | GaugeMetricFamily]:
        """The families without samples (registering the collector reads nothing from Redis)."""
        yield from self._families({}, {}, {})

    def collect(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily | GaugeMetricFamily]:
        try:
            stored = self._read()
        except redis.RedisError as exc:
            log.warning("metrics: Redis unavailable: %s", exc)
            yield GaugeMetricFamily("gitops_metrics_up", "1 when the figures could be read from Redis.", 0)
            return
        yield GaugeMetricFamily("gitops_metrics_up", "1 when the figures could be read from Redis.", 1)
        yield from self._families(*stored)

    def _read(self) -> tuple[dict[str, dict[bytes, bytes]], dict[str, float], dict[str, object]]:
        pipe = self.client.pipeline(transaction=False)
        for key in (RECONCILE_DURATION.key, SYNC_RESULTS.key, COMMIT_TO_APPLIED.key):
            pipe.hgetall(key)
        hashes = dict(zip(("duration", "results", "lead"), pipe.execute(), strict=True))
        broker = self.broker.pipeline(transaction=False)
        for queue in self.queues:
            for step in KOMBU_PRIORITY_STEPS:
                broker.llen(f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}" if step else queue)
        broker.hlen(KOMBU_UNACKED)
        lengths = broker.execute()
        per = len(KOMBU_PRIORITY_STEPS)
        depth = {q: float(sum(lengths[i * per:(i + 1) * per])) for i, q in enumerate(self.queues)}
        depth["\0unacked"] = float(lengths[-1])
        counts = self.store.counts()
        targets: dict[str, object] = {"sync": counts.sync, "health": counts.health, "drifted": counts.drifted,
                                      "failed": counts.failed, "total": counts.total}
        return hashes, depth, targets

    def _families(self, hashes: dict[str, dict[bytes, bytes]], depth: dict[str, float],
                  targets: dict[str, object]
                  ) -> Iterator[HistogramMetricFamily | CounterMetricFamily | GaugeMetricFamily]:
        yield histogram_family(RECONCILE_DURATION, hashes.get("duration", {}))
        results = CounterMetricFamily(SYNC_RESULTS.name, SYNC_RESULTS.help, labels=list(SYNC_RESULTS.labels))
        for raw, value in sorted(hashes.get("results", {}).items()):
            labels = _parse_labels(raw, len(SYNC_RESULTS.labels))
            if labels is not None:
                results.add_metric(list(labels), float(value))
        yield results
        yield histogram_family(COMMIT_TO_APPLIED, hashes.get("lead", {}))
        queue = GaugeMetricFamily("gitops_queue_depth", "Messages waiting in each Celery queue.",
                                  labels=["queue"])
        for name in self.queues:
            if name in depth:
                queue.add_metric([name], depth[name])
        yield queue
        yield GaugeMetricFamily("gitops_queue_unacked",
                                "Messages taken by a worker and not yet acknowledged (all queues).",
                                depth.get("\0unacked"))
        yield from _target_families(targets)


def _target_families(targets: dict[str, object]) -> Iterator[GaugeMetricFamily]:
    by_sync = GaugeMetricFamily("gitops_targets", "Targets (application x cluster) by sync status.",
                                labels=["sync"])
    by_health = GaugeMetricFamily("gitops_targets_by_health", "Targets by health.", labels=["health"])
    for family, counts in ((by_sync, targets.get("sync")), (by_health, targets.get("health"))):
        if isinstance(counts, dict):
            for name, value in sorted(counts.items()):
                family.add_metric([str(name)], float(value))
        yield family
    for name, key, text in (("gitops_drifted_targets", "drifted", "Targets with at least one drifted field."),
                            ("gitops_failed_targets", "failed", "Targets whose last operation failed.")):
        value = targets.get(key)
        yield GaugeMetricFamily(name, text, float(value) if isinstance(value, int) else None)
