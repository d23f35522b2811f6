#!/usr/bin/env python3
"""Measure the Redis memory the engine's state takes per target, for docs/scaling.md ("Redis sizing").

Run from the repository root:  .venv/bin/python docs/tools/redis_sizing.py [--targets 1000]
    [--operations 50] [--objects 10] [--manifest-kib 16]

Starts a private redis-server (workers.redis_server.RedisServer, in a temp dir, AOF on as `gitops up`
runs it) and writes, through the real RedisStore, what a busy fleet holds at steady state: per target a
status with two drifted fields, ``--operations`` operations (the history keeps the newest 50: the
default fills it), each with ``--objects`` object records and the six spans of a trace, and the last
rendered manifests (``--manifest-kib`` of YAML); the event stream fills up to its cap (10,000 entries)
along the way. Prints Redis's ``used_memory`` growth and ``MEMORY USAGE`` summed by key family, in
bytes per target, and the AOF's size after a rewrite. Figures scale linearly with the target count
(the event stream excepted: it is capped).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gitops.state import Operation, RedisStore, TargetStatus
from gitops.state.index import RenderedManifests
from gitops.state.model import DriftRecord, ObjectRecord, SpanRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger
from workers.redis_server import RedisServer

STAGES = ("resolve", "render", "verify", "plan", "apply", "health")


def family(key: bytes) -> str:
    text = key.decode(errors="replace")
    parts = text.split(":")
    if text.startswith("gitops:v1:idx:"):
        return "gitops:v1:idx:*"
    if text.startswith("gitops:v1:") and len(parts) > 2:
        tail = ":*:ops" if text.endswith(":ops") else (":*" if len(parts) > 3 else "")
        return f"gitops:v1:{parts[2]}{tail}"
    return text if len(parts) < 2 else parts[0] + ":*"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--operations", type=int, default=50)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--manifest-kib", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer.start(Path(tmp) / "redis") as server:
        client = server.client()
        before = int(client.info("memory")["used_memory"])
        store = RedisStore(client)
        manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: " + "v" * 60 + "}\n---\n"
        text = manifest * max(1, args.manifest_kib * 1024 // len(manifest))
        started = time.perf_counter()
        for t in range(args.targets):
            app, cluster = f"app-{t // 10:04d}", f"cluster-{t % 10:02d}"
            for n in range(args.operations):
                revision = f"{(t * 7919 + n):040x}"
                objects = tuple(ObjectRecord(f"apps/v1/Deployment/{app}/obj-{i}", "configured", "")
                                for i in range(args.objects))
                spans = tuple(SpanRecord(name, 1.7e9 + n + i * 0.01, 0.01, None, {"objects": "10"})
                              for i, name in enumerate(STAGES))
                op = Operation(f"op-{t}-{n}", app, cluster, Trigger.POLL, OperationPhase.SUCCEEDED,
                               revision=revision, started=1.7e9 + n, finished=1.7e9 + n + 0.1,
                               objects=objects, spans=spans, manifests_digest="0" * 64,
                               trigger_detail=f"demo at {revision[:12]}", commit_time=1.7e9)
                drift = tuple(DriftRecord(f"apps/v1/Deployment/{app}/obj-0", f"spec.replicas{j}", "3", "2",
                                          "kubectl-edit") for j in range(2))
                status = TargetStatus(app, cluster, revision=revision, sync=SyncStatus.OUT_OF_SYNC,
                                      health=HealthStatus.HEALTHY, drift_count=len(drift), drift=drift,
                                      operation=op.id, reconciled_at=1.7e9 + n)
                store.record(status, op)
            store.keep_manifests(Target(app, cluster), RenderedManifests("0" * 64, f"op-{t}", text))
        elapsed = time.perf_counter() - started
        used = int(client.info("memory")["used_memory"]) - before
        sizes: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for key in client.scan_iter(count=1000):
            name = family(key)
            sizes[name] += int(client.memory_usage(key, samples=0) or 0)
            counts[name] += 1
        # a measurement script, not a test: it waits for Redis's own rewrites (one may be under way)
        for _ in range(2):
            while int(client.info("persistence")["aof_rewrite_in_progress"]):
                time.sleep(0.05)
            try:
                client.bgrewriteaof()
            except redis.ResponseError:
                continue
        while int(client.info("persistence")["aof_rewrite_in_progress"]):
            time.sleep(0.05)
        files = (Path(tmp) / "redis").rglob("*")
        aof = sum(p.stat().st_size for p in files if p.is_file() and "aof" in p.name)
        n = args.targets
        print(f"{n} targets x {args.operations} operations x {args.objects} objects, manifests "
              f"{len(text) // 1024} KiB each, written in {elapsed:.1f} s")
        print(f"used_memory growth: {used / 2**20:.1f} MiB = {used / n / 1024:.1f} KiB per target")
        print(f"{'key family':34} {'keys':>7} {'MiB':>8} {'KiB/target':>11}")
        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"{name:34} {counts[name]:7} {size / 2**20:8.2f} {size / n / 1024:11.2f}")
        print(f"AOF after a rewrite: {aof / 2**20:.1f} MiB = {aof / n / 1024:.1f} KiB per target")


if __name__ == "__main__":
    main()
