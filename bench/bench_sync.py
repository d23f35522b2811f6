"""Benchmark: requests and time of a sync, counted by the sandbox API server.

Run: ``python bench/bench_sync.py [--small 50] [--large 200]``. Measures (1) a no-op re-sync of an
unchanged application of ``--small`` objects (goal: 0 writes, at most one read per kind) and (2) the
first sync and a no-op re-sync of a ``--large`` application: wall time and requests per object.
Everything runs in-process against ``kubesandbox.Sandbox`` on 127.0.0.1 over real HTTP, through
the real Cluster implementation (gitops.cluster.rest); Git and rendering are replaced by fakes so only
the cluster engine is measured. Results are printed as Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from gitops.cluster.rest import ClusterSettings, KubeCluster
from gitops.domain import Application, AppSource, Cluster, Destination, Repository, SyncPolicy
from gitops.engine import Ports, ReconcileRequest, ReconcileResult, reconcile
from gitops.testing import FakeClusters, FakeSource, StaticRenderer
from kubesandbox import Sandbox


def manifests(count: int) -> list[dict[str, Any]]:
    """An application of ``count`` objects: ConfigMaps, Secrets, Services and Deployments."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = ("ConfigMap", "Secret", "Service", "Deployment")[i % 4]
        name = f"obj-{i}"
        if kind == "ConfigMap":
            out.append({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": {"k": str(i)}})
        elif kind == "Secret":
            out.append({"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
                        "stringData": {"token": f"t{i}"}})
        elif kind == "Service":
            out.append({"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
                        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
        else:
            out.append({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": {
                "replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})
    return out


def request(app: str, namespace: str, cluster: str) -> ReconcileRequest:
    """A manual sync of ``app`` built from the engine's typed domain values (as
    ``gitops.config.to_fleet`` makes them; the repository is never contacted: Git is faked)."""
    application = Application(app, AppSource("bench", "app"), Destination(cluster, namespace),
                              SyncPolicy(automated=True, prune=True, prune_max_share=0.5))
    return ReconcileRequest(application, Repository("bench", "https://127.0.0.1/bench.git"), Cluster(cluster),
                            sync=True)


def timed(req: ReconcileRequest, ports: Ports) -> tuple[ReconcileResult, float]:
    start = time.perf_counter()
    result = reconcile(req, ports)
    if result.error:
        raise SystemExit(f"sync failed: {result.error}")
    return result, time.perf_counter() - start


def scenario(sandbox: Sandbox, cluster: KubeCluster, count: int) -> dict[str, Any]:
    namespace = f"bench-{count}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                  field_manager="bench")
    ports = Ports(FakeSource(), StaticRenderer(manifests(count)), FakeClusters({"bench": cluster}))
    req = request(f"bench-{count}", namespace, "bench")
    sandbox.stats.reset()
    _, first = timed(req, ports)
    first_requests = sandbox.stats.count()
    sandbox.stats.reset()
    _, noop = timed(req, ports)
    return {"objects": count, "first_s": first, "first_requests": first_requests, "noop_s": noop,
            "noop_requests": sandbox.stats.count(), "noop_writes": sandbox.stats.count(write=True),
            "noop_by": sandbox.stats.snapshot()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--large", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox.start(kubeconfig=Path(tmp) / "kubeconfig.yaml")
        cluster = KubeCluster(ClusterSettings("bench", kubeconfig=str(sandbox.kubeconfig_path), qps=10_000))
        try:
            rows = [scenario(sandbox, cluster, n) for n in (args.small, args.large)]
        finally:
            cluster.close()
            sandbox.stop()
    print("| objects | first sync | requests (per object) | no-op sync | no-op requests | no-op writes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['objects']} | {r['first_s']:.2f} s | {r['first_requests']} "
              f"({r['first_requests'] / r['objects']:.1f}) | {r['noop_s'] * 1000:.0f} ms | "
              f"{r['noop_requests']} | {r['noop_writes']} |")
    for r in rows:
        print(f"\nno-op requests by verb and kind ({r['objects']} objects): {r['noop_by']}")


if __name__ == "__main__":
    main()
