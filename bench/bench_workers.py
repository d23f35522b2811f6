"""Benchmarks of the workers: trigger->applied latency, initial sync of many apps, memory at scale.

Run from the repository root (results go to stdout as text and one JSON line per measurement):

    python bench/bench_workers.py latency  --objects 10 --samples 30
    python bench/bench_workers.py initial  --apps 1000 --clusters 4 --workers 2
    python bench/bench_workers.py memory   --pairs 10000
    python bench/bench_workers.py latency  --backend real      (real API servers instead of sandboxes)

Everything is local: an embedded redis-server, sandbox API servers (``gitops sandbox`` subprocesses)
or, with ``--backend real``, real control planes (etcd + kube-apiserver + kube-controller-manager v1.36.3
from gitops/testing/controlplane.py, built by ``scripts/build-go-tools kube etcd kwok``),
a Git repository of plain manifests, and real ``celery -A workers.app worker`` processes running the
production runtime (config -> Git -> render -> plan -> server-side apply -> state). Key design choice:
the benchmark drives the system only through its public edges (Git commits, the trigger path a
webhook uses, Redis state), so it measures what a user would see.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.state import RedisStore  # noqa: E402
from gitops.vocabulary import SyncStatus, Target  # noqa: E402
from workers.demo import commit, write_files  # noqa: E402
from workers.redis_server import RedisServer  # noqa: E402


def manifests(app: str, objects: int, value: str = "v0") -> str:
    docs = []
    for i in range(objects):
        kind = ("ConfigMap", "Service", "Deployment", "ConfigMap")[i % 4] if objects <= 4 else "ConfigMap"
        if i == 0:
            kind = "ConfigMap"
        name = f"{app}-{i}"
        if kind == "ConfigMap":
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                         "data": {"value": value, "index": str(i)}})
        elif kind == "Service":
            docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                         "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}})
        else:
            pod = {"containers": [{"name": "c", "image": "nginx:1.27"}]}
            docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                                  "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}})
    return yaml.safe_dump_all(docs, sort_keys=False)


def write_config(where: Path, repo: Path, kubeconfigs: list[Path], apps: list[str], interval: str = "1h",
                 qps: float = 500.0) -> Path:
    """A configuration directory: repository and clusters in one file, applications 1000 per file."""
    where.mkdir(parents=True, exist_ok=True)
    docs = [f"apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {{name: bench}}\n"
            f"spec: {{url: '{repo.as_uri()}', allowLocal: true, interval: {interval}}}\n"]
    for i, kc in enumerate(kubeconfigs):
        docs.append(f"apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: c{i}}}\n"
                    f"spec: {{kubeconfig: '{kc}', qps: {qps}}}\n")
    (where / "base.yaml").write_text("---\n".join(docs))
    for start in range(0, len(apps), 1000):
        chunk = []
        for n, app in enumerate(apps[start:start + 1000], start):
            chunk.append(f"apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata: {{name: {app}}}\n"
                         f"spec:\n  source: {{repository: bench, path: apps/{app}, renderer: plain}}\n"
                         f"  destination: {{cluster: c{n % len(kubeconfigs)}, namespace: default}}\n"
                         f"  syncPolicy: {{automated: true, prune: true}}\n")
        (where / f"apps-{start // 1000:03d}.yaml").write_text("---\n".join(chunk))
    return where


@dataclass(frozen=True)
class BenchCluster:
    kubeconfig: Path
    url: str
    http: Callable[[], httpx.Client]  # a client that may read the cluster's objects


@contextmanager
def clusters(count: int, where: Path, backend: str) -> Iterator[list[BenchCluster]]:
    """``count`` API servers: sandboxes, or real control planes (no scheduler or nodes: the benchmarks
    measure applies, not Pods)."""
    if backend == "sandbox":
        with sandboxes(count, where) as found:
            yield [BenchCluster(kc, url, lambda: httpx.Client(timeout=5)) for kc, url in found]
        return
    from gitops.testing.controlplane import Binaries, ControlPlane, Options

    binaries = Binaries.build()
    planes = [ControlPlane(where / f"real{i}", binaries, Options(scheduler=False, nodes=False))
              for i in range(count)]
    try:
        for plane in planes:
            plane.start()
        yield [BenchCluster(p.kubeconfig, p.url, p.client) for p in planes]
    finally:
        for plane in planes:
            plane.stop()


@contextmanager
def sandboxes(count: int, where: Path) -> Iterator[list[tuple[Path, str]]]:
    procs, out = [], []
    for i in range(count):
        kc = where / f"kc{i}.yaml"
        procs.append(subprocess.Popen([sys.executable, "-m", "gitops", "sandbox", "--kubeconfig", str(kc),
                                       "--name", f"c{i}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        out.append(kc)
    try:
        servers = []
        for kc in out:
            wait(lambda kc=kc: kc.exists() and kc.stat().st_size > 0, 30)
            servers.append((kc, yaml.safe_load(kc.read_text())["clusters"][0]["cluster"]["server"]))
        yield servers
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


@contextmanager
def workers(count: int, env: dict[str, str], pool: str = "solo", concurrency: int = 1) -> Iterator[list[int]]:
    from workers.argv import worker_argv

    procs = [subprocess.Popen(worker_argv(concurrency=concurrency, pool=pool, name=f"bench{i}-%h"), env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(count)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def wait(check: Callable[[], object], timeout: float, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise TimeoutError(f"not reached in {timeout}s")


def make_repo(repo: Path, apps: list[str], objects: int) -> None:
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    write_files(repo, {f"apps/{a}/manifests.yaml": manifests(a, objects) for a in apps})
    commit(repo, {}, "bench apps")


def environment(redis_url: str, config: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITOPS_")}
    env.update({"GITOPS_REDIS_URL": redis_url, "GITOPS_CONFIG": str(config), "GITOPS_DATA_DIR": str(data),
                "PYTHONPATH": str(ROOT)})
    return env


def enqueue(store: RedisStore, targets: list[Target]) -> None:
    from workers import tasks

    for t in targets:
        if store.trigger(t, 600):
            tasks.reconcile.apply_async((t.application, t.cluster, "webhook"))


def use_redis(url: str) -> None:
    from dataclasses import replace

    from workers.app import app, configure
    from workers.settings import Settings

    configure(app, replace(Settings.from_env(), redis_url=url))


def report(name: str, **values: object) -> None:
    print(json.dumps({"bench": name, **values}))


def bench_latency(args: argparse.Namespace, tmp: Path) -> None:
    app, target = "lat", Target("lat", "c0")
    repo = tmp / "repo"
    make_repo(repo, [app], args.objects)
    with RedisServer.start(tmp / "redis") as server, clusters(1, tmp, args.backend) as sbx:
        config = write_config(tmp / "config", repo, [sbx[0].kubeconfig], [app])
        use_redis(server.url)
        store = RedisStore(server.client())
        with workers(1, environment(server.url, config, tmp / "data")):
            enqueue(store, [target])
            wait(lambda: (s := store.status(target)) is not None and s.sync is SyncStatus.SYNCED, 120)
            samples = []
            last = args.objects - 1  # objects are applied in order: the last one means all of them
            url = f"{sbx[0].url}/api/v1/namespaces/default/configmaps/{app}-{last}"
            with sbx[0].http() as http:
                for i in range(1, args.samples + 1):
                    files = {f"apps/{app}/manifests.yaml": manifests(app, args.objects, f"v{i}")}
                    commit(repo, files, f"v{i}")
                    wait(lambda: store.redis.get(store.keys.schedule(target)) is None, 60)
                    began = time.perf_counter()
                    enqueue(store, [target])
                    wait(lambda i=i: http.get(url).json()["data"]["value"] == f"v{i}", 60, every=0.005)
                    samples.append(time.perf_counter() - began)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    print(f"trigger -> applied ({args.backend} API server), {args.objects}-object app, "
          f"{len(samples)} samples: "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal p50 <= 1000 ms)")
    report("latency", backend=args.backend, objects=args.objects, samples=len(samples),
           p50_ms=round(p50 * 1000),
           p99_ms=round(p99 * 1000))


def bench_initial(args: argparse.Namespace, tmp: Path) -> None:
    apps = [f"app-{i:04d}" for i in range(args.apps)]
    make_repo(tmp / "repo", apps, 4)
    with RedisServer.start(tmp / "redis") as server, clusters(args.clusters, tmp, args.backend) as sbx:
        config = write_config(tmp / "config", tmp / "repo", [c.kubeconfig for c in sbx], apps,
                              qps=args.qps)
        targets = [Target(a, f"c{n % args.clusters}") for n, a in enumerate(apps)]
        use_redis(server.url)
        store = RedisStore(server.client())
        env = environment(server.url, config, tmp / "data")
        with workers(args.workers, env, args.pool, args.concurrency):
            began = time.perf_counter()
            enqueue(store, targets)

            def done() -> bool:
                statuses = store.statuses()
                return len(statuses) == len(targets) and all(s.sync is SyncStatus.SYNCED for s in statuses)

            wait(done, args.timeout, every=0.5)
            elapsed = time.perf_counter() - began
    print(f"initial sync of {args.apps} apps x 4 objects over {args.clusters} {args.backend} API servers "
          f"with {args.workers} worker(s) ({args.pool} x{args.concurrency}, qps {args.qps:g}): "
          f"{elapsed:.1f} s "
          "(goal <= 60 s; Flux: 253 s on 16 cores)")
    report("initial", backend=args.backend, apps=args.apps, clusters=args.clusters, workers=args.workers,
           pool=args.pool,
           concurrency=args.concurrency, qps=args.qps, seconds=round(elapsed, 1))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: shared (copy-on-write) pages counted once across the processes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def tree(pid: int) -> list[int]:
    kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                          text=True).stdout.split()
    return [pid] + [p for k in kids for p in tree(int(k))]


def bench_memory(args: argparse.Namespace, tmp: Path) -> None:
    clusters = 10
    apps = [f"app-{i:05d}" for i in range(args.pairs)]
    make_repo(tmp / "repo", apps[:1], 1)  # steady state: the head never moves; polls find it unchanged
    with RedisServer.start(tmp / "redis") as server:
        kcs = []
        for i in range(clusters):
            kc = tmp / f"kc{i}.yaml"
            kc.write_text(yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "users": [{"name": "x", "user": {}}]}))
            kcs.append(kc)
        config = write_config(tmp / "config", tmp / "repo", kcs, apps)
        use_redis(server.url)
        store = RedisStore(server.client())
        store.set_repo_head("bench", subprocess.run(["git", "-C", str(tmp / "repo"), "rev-parse", "HEAD"],
                                                    capture_output=True, text=True).stdout.strip())
        from workers import tasks

        with workers(1, environment(server.url, config, tmp / "data"), args.pool, args.concurrency) as pids:
            for _ in range(5):  # a few steady-state polls: each loads the runtime once, then checks the head
                tasks.poll.apply_async(("bench",)).get(timeout=600)
            time.sleep(1)
            procs = tree(pids[0])
            rss, pss = sum(rss_kib(p) for p in procs), sum(pss_kib(p) for p in procs)
    print(f"worker memory with {args.pairs} (application, cluster) pairs in steady state "
          f"({args.pool} x{args.concurrency}, {len(procs)} processes): {pss / 1024:.0f} MiB PSS, "
          f"{rss / 1024:.0f} MiB RSS summed (goal <= 300 MiB)")
    report("memory", pairs=args.pairs, pool=args.pool, concurrency=args.concurrency, processes=len(procs),
           pss_mib=round(pss / 1024), rss_mib=round(rss / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="which", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--objects", type=int, default=10)
    lat.add_argument("--samples", type=int, default=30)
    ini = sub.add_parser("initial")
    ini.add_argument("--apps", type=int, default=1000)
    ini.add_argument("--clusters", type=int, default=4)
    ini.add_argument("--workers", type=int, default=2)
    ini.add_argument("--pool", default="solo", choices=["solo", "threads", "prefork"])
    ini.add_argument("--concurrency", type=int, default=1)
    ini.add_argument("--timeout", type=float, default=900)
    ini.add_argument("--qps", type=float, default=500.0, help="client-side QPS per cluster (config)")
    for each in (lat, ini):
        each.add_argument("--backend", choices=["sandbox", "real"], default="sandbox",
                          help="sandbox API servers, or real control planes built from Go modules")
    mem = sub.add_parser("memory")
    mem.add_argument("--pairs", type=int, default=10_000)
    mem.add_argument("--pool", default="solo", choices=["solo", "threads", "prefork"])
    mem.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    run = {"latency": bench_latency, "initial": bench_initial, "memory": bench_memory}[args.which]
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
