"""Benchmark: webhook -> applied through the whole stack, against the engine's own polling path.

Run from the repository root:

    python bench/web_latency.py [--samples 30] [--poll-samples 3] [--objects 10]

It starts the engine as a user does, ``gitops up -c CONFIG`` (embedded Redis, a Celery worker with
the default concurrency, beat, the web server) with a ``gitops sandbox`` API server as the cluster
and a local Git repository holding one application of ``--objects`` objects (a Namespace, a
Deployment, a Service and ConfigMaps, rendered by the plain renderer). The configuration is the
default one: no interval, ``qps`` or timeout set, ``syncPolicy: {automated: true}``, and a GitHub
``WebhookReceiver`` with its secret in a file. Each sample is a new commit that changes every object
(a label) followed by a GitHub push delivery signed like GitHub signs it, POSTed to
``/api/v1/webhooks/github``; the time runs from the POST until the HTTP API shows the target Synced
at the new revision, read as the dashboard reads it: the server-sent event stream
(``/api/v1/events``) says the target's status changed, then one GET of the application confirms the
revision. Printed: p50 and p99 against the targets (p50 <= 300 ms, p99 <= 1 s), the delivery's own
answer time, and the peer measured in the same run: the same commits without a webhook, picked up
by the engine's own poll at the default interval (3 minutes), a short sample of it (each sample waits
for the next poll), as a ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # the repository (a clone run without installing), web_kit

from web_kit import Child, gitops, gitops_env, machine, median, percentile, wait  # noqa: E402

from gitops.state import RedisStore  # noqa: E402
from gitops.vocabulary import Target  # noqa: E402
from workers.redis_server import free_port  # noqa: E402

APP, CLUSTER = "lat", "c0"
TARGET = Target(APP, CLUSTER)
P50_GOAL, P99_GOAL = 0.300, 1.0


def manifests(objects: int, label: str) -> str:
    """``objects`` objects of the application, each labelled ``bench/rev: <label>``."""
    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "labels": {"bench/rev": label}}

    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta("bench")}]
    if objects > 1:
        pod = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
        docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
                     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                              "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod}}})
    if objects > 2:
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
                     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    for i in range(max(0, objects - 3)):
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(f"settings-{i}"),
                     "data": {"index": str(i)}})
    return yaml.safe_dump_all(docs[:objects], sort_keys=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost",
                           "-c", "commit.gpgsign=false", "-C", str(repo), *args],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def commit(repo: Path, objects: int, label: str) -> tuple[str, str]:
    before = git(repo, "rev-parse", "HEAD")
    (repo / "apps" / APP / "manifests.yaml").write_text(manifests(objects, label))
    git(repo, "commit", "-qam", f"bench {label}")
    return before, git(repo, "rev-parse", "HEAD")


def write_config(where: Path, repo: Path, kubeconfig: Path, secret: Path) -> Path:
    """The default configuration: nothing tuned (interval, qps, timeouts at their defaults)."""
    config = where / "config.yaml"
    config.write_text(f"""apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: bench}}
spec: {{url: '{repo.as_uri()}', allowLocal: true, ref: main}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: {CLUSTER}}}
spec: {{kubeconfig: '{kubeconfig}'}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: {APP}}}
spec:
  source: {{repository: bench, path: apps/{APP}, renderer: plain}}
  destination: {{cluster: {CLUSTER}, namespace: bench}}
  syncPolicy: {{automated: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: WebhookReceiver
metadata: {{name: github}}
spec: {{provider: github, secretRef: {{file: '{secret}'}}}}
""")
    return config


class Events:
    """The server-sent event stream read by a thread; each event queued with the time it arrived."""

    def __init__(self, url: str, token: str) -> None:
        self.queue: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self.open = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        with httpx.Client(timeout=httpx.Timeout(10, read=None)) as http, \
                http.stream("GET", f"{url}/api/v1/events", headers=headers) as stream:
            self.open.set()
            kind, data = "", ""
            for line in stream.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif not line and data:
                    self.queue.put((time.perf_counter(), kind, json.loads(data)))
                    kind, data = "", ""

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    def close(self) -> None:
        self._stop.set()


def status_of(api: httpx.Client) -> dict[str, Any] | None:
    answer = api.get(f"/api/v1/applications/{APP}")
    answer.raise_for_status()
    target = next(t for t in answer.json()["targets"] if t["cluster"] == CLUSTER)
    found: dict[str, Any] | None = target["status"]
    return found


def applied(api: httpx.Client, events: Events, revision: str, started: float, timeout: float) -> float:
    """Seconds from ``started`` until the API shows the target Synced at ``revision``: each status
    event of the target is followed by one GET that checks it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, kind, event = events.queue.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if kind != "status" or event.get("application") != APP or event.get("cluster") != CLUSTER:
            continue
        status = status_of(api)
        if status is not None and status["revision"] == revision and status["sync"] == "Synced":
            return time.perf_counter() - started
    raise TimeoutError(f"{TARGET} not Synced at {revision[:12]} within {timeout:g}s")


def push(url: str, secret: bytes, repo: Path, before: str, after: str, paths: list[str]) -> httpx.Response:
    repository = {"name": "repo", "full_name": "bench/repo", "default_branch": "main",
                  "clone_url": repo.as_uri(), "html_url": repo.as_uri()}
    payload = {"ref": "refs/heads/main", "before": before, "after": after, "created": False, "deleted": False,
               "forced": False, "repository": repository,
               "commits": [{"id": after, "message": "bench", "added": [], "removed": [], "modified": paths}],
               "head_commit": {"id": after, "message": "bench", "modified": paths}}
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return httpx.post(f"{url}/api/v1/webhooks/github", content=body, timeout=30, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature})


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    repo, work, home = tmp / "repo", tmp / "work", tmp / "home"
    for where in (repo / "apps" / APP, work, home):
        where.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "apps" / APP / "manifests.yaml").write_text(manifests(args.objects, "v0"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bench v0")
    secret = tmp / "webhook-secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    env = gitops_env(HOME=str(home))
    kubeconfig = tmp / "kubeconfig.yaml"
    children: list[Child] = []
    try:
        sandbox = Child([sys.executable, "-m", "gitops", "sandbox", "--port", str(free_port()), "--name",
                         CLUSTER, "--kubeconfig", str(kubeconfig)], env=env, cwd=work,
                        log=tmp / "sandbox.log")
        children.append(sandbox)
        wait(lambda: kubeconfig.is_file() and kubeconfig.stat().st_size > 0, 60,
             what="the sandbox's kubeconfig")
        config = write_config(tmp, repo, kubeconfig, secret)
        up = Child([sys.executable, "-m", "gitops", "up", "-c", str(config), "--port", str(free_port()),
                    "--data-dir", str(tmp / "data")], env=env, cwd=work, log=tmp / "gitops-up.log")
        children.insert(0, up)
        url = up.line(r"^web: (http://127\.0\.0\.1:\d+)", 180).group(1)
        redis_url = up.line(r"^redis: (\S+)", 5).group(1)
        token = gitops("token", "create", "--user", "admin", "--role", "viewer", "--name", "bench",
                       env=env, cwd=work).strip().splitlines()[-1]
        store = RedisStore.from_url(redis_url)
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        head = git(repo, "rev-parse", "HEAD")
        wait(lambda: (s := status_of(api)) is not None and s["revision"] == head and s["sync"] == "Synced",
             180, every=0.2, what="the first sync")
        events = Events(url, token)
        events.open.wait(30)
        key = secret.read_bytes().rstrip(b"\n")
        paths = [f"apps/{APP}/manifests.yaml"]

        def idle() -> bool:
            return store.redis.get(store.keys.schedule(TARGET)) is None

        answered: list[float] = []
        latencies: list[float] = []
        coalesced = 0
        for i in range(1, args.samples + 1):
            wait(idle, 60, every=0.01, what="the previous reconcile done")
            time.sleep(args.gap)  # pushes apart, as they come: the cluster's request budget refilled
            before, after = commit(repo, args.objects, f"w{i}")
            events.drain()
            started = time.perf_counter()
            answer = push(url, key, repo, before, after, paths)
            answered.append(time.perf_counter() - started)
            if answer.status_code != 202 or [t["target"] for t in answer.json()["triggered"]] != [TARGET.key]:
                raise RuntimeError(f"delivery {i}: {answer.status_code} {answer.text[:300]}")
            coalesced += answer.json()["triggered"][0]["task"] == "coalesced"
            latencies.append(applied(api, events, after, started, 60))
        polled: list[float] = []
        for i in range(1, args.poll_samples + 1):
            wait(idle, 60, every=0.01, what="the previous reconcile done")
            _, after = commit(repo, args.objects, f"p{i}")
            events.drain()
            started = time.perf_counter()
            polled.append(applied(api, events, after, started, args.poll_timeout))
            print(f"  poll sample {i}: {polled[-1]:.1f} s", flush=True)
        events.close()
        api.close()
        store.redis.close()
    finally:
        for child in children:
            child.stop()
    if args.keep:
        print(f"kept: {tmp}")
    return {"latencies": latencies, "answered": answered, "polled": polled, "coalesced": coalesced}


def verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30, help="webhook samples (default 30)")
    parser.add_argument("--poll-samples", type=int, default=3,
                        help="samples of the polling path, each waiting for the next poll (default 3)")
    parser.add_argument("--poll-timeout", type=float, default=400.0, help="bound of one poll sample (s)")
    parser.add_argument("--objects", type=int, default=10, help="objects of the application (default 10)")
    parser.add_argument("--gap", type=float, default=2.5,
                        help="seconds between a reconcile and the next push (default 2.5: what the default "
                             "client-side rate limit, qps 20 with a burst of 40, needs to refill)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) for a look")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    if args.keep:
        found = run(args, Path(tempfile.mkdtemp(prefix="bench-web-latency-")))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-web-latency-") as tmp:
            found = run(args, Path(tmp))
    lat, polled = found["latencies"], found["polled"]
    p50, p99 = median(lat), percentile(lat, 0.99)
    print(f"webhook -> applied (Synced at the new revision, seen through the API), {args.objects}-object "
          f"application, default configuration, {len(lat)} samples:")
    print(f"  p50 {p50 * 1000:.0f} ms (goal <= {P50_GOAL * 1000:.0f} ms: {verdict(p50, P50_GOAL)}), "
          f"p99 {p99 * 1000:.0f} ms (goal <= {P99_GOAL * 1000:.0f} ms: {verdict(p99, P99_GOAL)}), "
          f"min {min(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms")
    print("  each, in order (ms): " + " ".join(f"{x * 1000:.0f}" for x in lat))
    answer = median(found["answered"])
    print(f"  the delivery's own answer (202 naming the target): p50 {answer * 1000:.0f} ms; coalesced with "
          f"a poll: {found['coalesced']}")
    if polled:
        mean = sum(polled) / len(polled)
        print(f"peer, the engine's own poll (default interval 180 s), {len(polled)} samples: "
              + ", ".join(f"{s:.1f} s" for s in polled) + f"; mean {mean:.1f} s")
        print(f"  webhook p50 is {mean / p50:.0f}x faster than the polling path's mean "
              f"({mean * 1000:.0f} ms / {p50 * 1000:.0f} ms)")
    print(json.dumps({"bench": "web_latency", "objects": args.objects, "samples": len(lat),
                      "p50_ms": round(p50 * 1000), "p99_ms": round(p99 * 1000),
                      "answer_p50_ms": round(median(found["answered"]) * 1000),
                      "poll_s": [round(s, 1) for s in polled]}))


if __name__ == "__main__":
    main()
