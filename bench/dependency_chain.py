"""Benchmark of dependsOn: how long a chain of applications takes to converge, hop by hop.

Run from the repository root (results go to stdout as text and one JSON line):

    python bench/dependency_chain.py --length 10 --concurrency 2

A chain a0 <- a1 <- ... <- a(N-1) of automated applications (each a ConfigMap; a(i) dependsOn
a(i-1)) on one sandbox API server, a real ``celery -A workers.app worker`` process running the
production runtime, an embedded redis-server, and a local Git repository. Every application is
triggered at once, as a push touching all of them would; each dependant is held until its dependency
is Synced and Healthy, and the dependency's success enqueues it (workers/gates.py). Per hop it reports
the gap between the dependency's operation finishing and the dependant's syncing operation starting:
what Flux spends waiting for its requeue (``--requeue-dependency``, 30 s by default) and what Argo CD
has no equivalent for. No peer runs in this benchmark: Flux's controllers are not built here, and its
interval is a setting, not a measurement.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_workers import (  # noqa: E402
    enqueue,
    environment,
    report,
    sandboxes,
    use_redis,
    wait,
    workers,
)
from gitops.state import RedisStore  # noqa: E402
from gitops.vocabulary import SyncStatus, Target  # noqa: E402
from workers.demo import commit, write_files  # noqa: E402
from workers.redis_server import RedisServer  # noqa: E402


def chain_config(where: Path, repo: Path, kubeconfig: Path, length: int) -> Path:
    docs = [f"apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {{name: bench}}\n"
            f"spec: {{url: '{repo.as_uri()}', allowLocal: true, interval: 1h}}\n",
            f"apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: c0}}\n"
            f"spec: {{kubeconfig: '{kubeconfig}', qps: 500}}\n"]
    for i in range(length):
        depends = f"  dependsOn: [{{name: a{i - 1}}}]\n" if i else ""
        docs.append(f"apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata: {{name: a{i}}}\n"
                    f"spec:\n  source: {{repository: bench, path: apps/a{i}}}\n"
                    f"  destination: {{cluster: c0, namespace: default}}\n"
                    f"  syncPolicy: {{automated: true}}\n{depends}")
    where.mkdir(parents=True)
    path = where / "config.yaml"
    path.write_text("---\n".join(docs))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=10, help="applications in the chain (default 10)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        repo = tmp / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        files = {f"apps/a{i}/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a{i}}}\n"
                 f"data: {{n: '{i}'}}\n" for i in range(args.length)}
        write_files(repo, files)
        commit(repo, {}, "a chain")
        targets = [Target(f"a{i}", "c0") for i in range(args.length)]
        with RedisServer.start(tmp / "redis") as server, sandboxes(1, tmp) as sbx:
            config = chain_config(tmp / "config", repo, sbx[0][0], args.length)
            use_redis(server.url)
            store = RedisStore(server.client())
            env = environment(server.url, config, tmp / "data")
            with workers(1, env, pool="prefork", concurrency=args.concurrency):
                began = time.time()
                enqueue(store, list(reversed(targets)))  # the worst order: dependants first
                last = targets[-1]
                wait(lambda: (s := store.status(last)) is not None and s.sync is SyncStatus.SYNCED
                     and s.hold is None, 600)
                total = time.time() - began
            final = [max((op for op in store.history(t) if op.applied), key=lambda op: op.started)
                     for t in targets]
    gaps = [final[i].started - (final[i - 1].finished or final[i - 1].started) for i in range(1, len(final))]
    details = [op.trigger_detail for op in final[1:]]
    woken = sum(1 for d in details if d and d.endswith("is ready"))
    print(f"dependsOn chain of {args.length} on one sandbox, 1 worker x {args.concurrency}: converged in "
          f"{total:.2f} s; per hop (dependency finished -> dependant's sync started): "
          f"p50 {statistics.median(gaps) * 1000:.0f} ms, max {max(gaps) * 1000:.0f} ms; "
          f"{woken} of {len(details)} dependants enqueued by their dependency's success")
    report("dependency-chain", length=args.length, concurrency=args.concurrency, total_s=round(total, 3),
           hop_p50_ms=round(statistics.median(gaps) * 1000), hop_max_ms=round(max(gaps) * 1000),
           woken=woken)


if __name__ == "__main__":
    main()
