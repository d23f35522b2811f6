"""Benchmark: the target index (gitops.state.index) on a real redis-server with 10,000 targets.

Run from the repository root:  python bench/index.py [--apps 1000] [--clusters 10] [--repeat 30]

Starts a private redis-server (workers.redis_server.RedisServer, in a temp dir), writes one status per
target (1,000 applications x 10 clusters by default, with a few drift records each, through the fenced
write that keeps the index), then times, as the HTTP API calls them (client wall time: the Redis round
trips and the decoding of the page's statuses), the median and the 95th percentile of: a first page
without filters, other sorts, a page deep in the list (through its cursor), filtered pages (health,
sync + cluster, text, revision, a dense filter), counts, at_revision, and a full rebuild (reindex).
For scale it also times what the index replaces: reading every status (``statuses()``) and filtering
in Python. Prints the figures and the memory the index keys use next to the statuses'.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops.state import Operation, RedisStore, SortKey, TargetQuery, TargetStatus
from gitops.state.model import DriftRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from workers.redis_server import RedisServer

HEALTHS = [HealthStatus.HEALTHY] * 14 + [HealthStatus.PROGRESSING, HealthStatus.DEGRADED,
                                         HealthStatus.MISSING, HealthStatus.SUSPENDED, HealthStatus.UNKNOWN]
SYNCS = [SyncStatus.SYNCED] * 8 + [SyncStatus.OUT_OF_SYNC, SyncStatus.UNKNOWN]


def status(i: int, app: str, cluster: str) -> TargetStatus:
    drift = tuple(DriftRecord(f"apps/v1/Deployment/default/{app}", f"spec.replicas{j}", str(j), str(j + 1),
                              "kubectl-edit") for j in range(i % 4))
    return TargetStatus(app, cluster, revision=hashlib.sha1(str(i // 7).encode()).hexdigest(),
                        sync=SYNCS[i % len(SYNCS)], health=HEALTHS[i % len(HEALTHS)], drift_count=len(drift),
                        drift=drift, error="render failed" if i % 97 == 0 else None, operation=f"op{i}",
                        reconciled_at=1.7e9 + (i * 7919) % 86400)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(len(runs) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer.start(Path(tmp) / "redis") as server:
        store = RedisStore(server.client())
        started = time.perf_counter()
        i = 0
        for a in range(args.apps):
            for c in range(args.clusters):
                app, cluster = f"app-{a:04d}", f"cluster-{c:02d}"
                operation = Operation(f"op{i}", app, cluster, Trigger.POLL, OperationPhase.SUCCEEDED)
                store.record(status(i, app, cluster), operation)
                i += 1
        fill = time.perf_counter() - started
        print(f"{i} targets written through the fenced write in {fill:.1f} s "
              f"({fill / i * 1e6:.0f} us per write, index included)")
        store.query(TargetQuery())  # the once-per-store index version check
        first = store.query(TargetQuery(limit=50))
        deep = first.next_cursor
        for _ in range(99):
            page = store.query(TargetQuery(limit=50, cursor=deep))
            deep = page.next_cursor
        revision = (first.items[0].revision or "")[:7]
        q, degraded = store.query, frozenset({HealthStatus.DEGRADED})
        three = frozenset({"cluster-01", "cluster-02", "cluster-03"})
        cases: list[tuple[str, Callable[[], object]]] = [
            ("first page, no filter (name, 50)", lambda: q(TargetQuery(limit=50))),
            ("first page, health worst first", lambda: q(TargetQuery(sort=SortKey.HEALTH, limit=50))),
            ("first page, newest reconcile first",
             lambda: q(TargetQuery(sort=SortKey.RECONCILED, descending=True, limit=50))),
            ("page 101 (through its cursor)", lambda: q(TargetQuery(limit=50, cursor=deep))),
            ("filter health=Degraded", lambda: q(TargetQuery(health=degraded))),
            ("filter sync=OutOfSync, 3 clusters, by health",
             lambda: q(TargetQuery(sync=frozenset({SyncStatus.OUT_OF_SYNC}), sort=SortKey.HEALTH,
                                   clusters=three))),
            ("filter health=Healthy (dense, by cluster)",
             lambda: q(TargetQuery(health=frozenset({HealthStatus.HEALTHY}), sort=SortKey.CLUSTER))),
            ("filter text 'app-09'", lambda: q(TargetQuery(text="app-09"))),
            ("filter drifted, not failed", lambda: q(TargetQuery(drifted=True, failed=False))),
            (f"filter revision {revision}", lambda: q(TargetQuery(revision=revision))),
            ("counts, no filter", lambda: store.counts()),
            ("counts, health=Degraded", lambda: store.counts(TargetQuery(health=degraded))),
            ("counts, text 'app-0'", lambda: store.counts(TargetQuery(text="app-0"))),
            (f"at_revision {revision}", lambda: store.at_revision(revision)),
            ("(for scale) every status read + Python filter",
             lambda: [s for s in store.statuses() if s.health is HealthStatus.DEGRADED][:50]),
        ]
        print(f"\n{'request':52} {'median ms':>10} {'p95 ms':>8}")
        for name, fn in cases:
            median, p95 = timed(fn, args.repeat if not name.startswith("(") else max(3, args.repeat // 10))
            print(f"{name:52} {median:10.2f} {p95:8.2f}")
        start = time.perf_counter()
        indexed = store.reindex()
        print(f"\nreindex of {indexed} statuses: {time.perf_counter() - start:.2f} s")
        client = server.client()
        def usage(pattern: str) -> float:
            return sum(int(client.memory_usage(k, samples=0) or 0) for k in client.scan_iter(pattern)) / 2**20

        print(f"memory: index keys {usage('gitops:v1:idx:*'):.1f} MiB, status keys "
              f"{usage('gitops:v1:status:*'):.1f} MiB, history {usage('gitops:v1:history:*'):.1f} MiB")


if __name__ == "__main__":
    main()
