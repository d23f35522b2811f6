"""Dependencies and sync windows end to end: real Celery worker processes with the production runtime
(workers/engine_port.py) over a local Git repository and a sandbox cluster.

A chain a <- b <- c of automated applications triggered at once converges in order, each dependant
enqueued by its dependency's success (the trigger details say so), with no beat and no resync. A deny
window holds an automated sync, says so in the status with its end, and the wake-up the beat claims
once the injected clock passed that end lets the sync through. The worker's clock is the system clock
shifted by an offset the test keeps in Redis (:class:`RedisClock`, installed by :func:`runtime`, the
factory the worker loads through ``GITOPS_RUNTIME``), so the test moves time for the worker and the
beat alike without waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import worker_fakes as fakes
from worker_kit import FAST, RedisClock, shift_time, wait_for

from gitops.state import RedisStore
from gitops.state.wakes import RedisWakes
from gitops.vocabulary import OperationPhase, SyncStatus, Target, Trigger
from kubesandbox import Sandbox
from workers.app import app, configure
from workers.beat import RESYNC_LOCK, Beat, celery_dispatch
from workers.engine_port import runtime_from_config
from workers.ports import Runtime, TargetInfo
from workers.redis_server import RedisServer
from workers.settings import Settings

pytestmark = pytest.mark.timeout(120)
A, B, C = Target("a", "dev"), Target("b", "dev"), Target("c", "dev")
NIGHT = datetime(2026, 12, 6, 1, 0, tzinfo=UTC).timestamp()  # in the 22:00 + 8h deny window
MORNING = datetime(2026, 12, 6, 6, 0, tzinfo=UTC).timestamp()


def runtime() -> Runtime:
    """The production runtime on the offset clock (``GITOPS_RUNTIME=test_gates_workers:runtime``)."""
    settings = Settings.from_env()
    rt = runtime_from_config(settings)
    rt.clock = RedisClock(redis.Redis.from_url(settings.redis_url))
    return rt


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def application(name: str, *deps: str) -> str:
    depends = "\n  dependsOn:\n" + "".join(f"    - name: {d}\n" for d in deps) if deps else "\n"
    return f"""---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata:
  name: {name}
  labels: {{tier: {name}}}
spec:
  source: {{repository: repo, path: {name}}}
  destination: {{cluster: dev, namespace: default}}
  syncPolicy: {{automated: true}}{depends}"""


FREEZE = """---
apiVersion: gitops.dev/v1alpha1
kind: SyncWindow
metadata:
  name: freeze
spec:
  kind: deny
  schedule: "0 22 * * *"
  duration: 8h
  timeZone: UTC
  applications: {matchLabels: {tier: a}}
"""


@dataclass
class World:
    root: Path
    sandbox: Sandbox
    store: RedisStore
    redis_url: str

    def write_config(self, extra: str = "") -> Path:
        repo = self.root / "repo"
        text = f"""apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: repo}}
spec: {{url: {repo.resolve().as_uri()}, allowLocal: true, ref: main}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: dev}}
spec: {{kubeconfig: {self.root / 'kubeconfig.yaml'}}}
""" + application("a") + application("b", "a") + application("c", "b") + extra
        path = self.root / "config.yaml"
        path.write_text(text)
        return path

    def deployed(self, name: str) -> bool:
        found = httpx.get(f"{self.sandbox.url}/api/v1/namespaces/default/configmaps/{name}")
        return found.status_code == 200

    def trigger(self, *targets: Target) -> None:
        from workers import tasks

        for target in targets:
            assert self.store.trigger(target, 60)
            tasks.reconcile.apply_async((target.application, target.cluster, str(Trigger.WEBHOOK)))

    def status_cli(self) -> str:
        env = {**os.environ, "GITOPS_REDIS_URL": self.redis_url}
        done = subprocess.run([sys.executable, "-m", "gitops", "status"], env=env, capture_output=True,
                              text=True, timeout=60)
        return done.stdout + done.stderr


@pytest.fixture
def world(tmp_path: Path, rclient: redis.Redis, redis_server: RedisServer) -> Iterator[World]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name in ("a", "b", "c"):
        (repo / name).mkdir()
        (repo / name / "configmap.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  app: {name}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "three applications")
    sandbox = Sandbox.start(kubeconfig=tmp_path / "kubeconfig.yaml", name="dev")
    os.environ.update(FAST)
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    try:
        yield World(tmp_path, sandbox, RedisStore(rclient), redis_server.url)
    finally:
        sandbox.stop()


def start(start_worker: Callable[..., Any], w: World, config: Path) -> None:
    start_worker("w1", GITOPS_RUNTIME="test_gates_workers:runtime", GITOPS_CONFIG=str(config),
                 GITOPS_DATA_DIR=str(w.root / "data"), GITOPS_LOCK_TTL="3")


def settled(store: RedisStore, target: Target) -> Callable[[], bool]:
    def check() -> bool:
        ops = store.history(target)
        return (store.redis.get(store.keys.schedule(target)) is None and bool(ops)
                and all(op.phase is not OperationPhase.RUNNING for op in ops))
    return check


def test_a_chain_converges_in_order_each_dependant_enqueued_by_its_dependency(
        world: World, start_worker: Callable[..., Any]) -> None:
    w = world
    start(start_worker, w, w.write_config())
    w.trigger(C)  # c alone first: it waits, and the status says on what
    wait_for(settled(w.store, C), timeout=60)
    held = w.store.status(C)
    assert held is not None and held.hold is not None and held.hold.reason == "dependency"
    assert held.hold.on == ("b@dev",) and "b@dev has never been reconciled" in held.hold.message
    assert "waiting: b@dev" in w.status_cli()
    assert not w.deployed("c")

    w.trigger(C, B, A)  # one trigger of all three; one worker takes them in this order
    wait_for(lambda: (s := w.store.status(C)) is not None and s.hold is None
             and s.sync is SyncStatus.SYNCED, timeout=90)
    assert w.deployed("a") and w.deployed("b") and w.deployed("c")
    a_ops, b_ops, c_ops = (w.store.history(t) for t in (A, B, C))
    details = {t.key: [(op.trigger, op.trigger_detail) for op in sorted(ops, key=lambda o: o.started)]
               for t, ops in ((A, a_ops), (B, b_ops), (C, c_ops))}
    assert details["a@dev"] == [(Trigger.WEBHOOK, None)]
    assert details["b@dev"] == [(Trigger.WEBHOOK, None), (Trigger.POLL, "a@dev is ready")], details
    assert details["c@dev"] == [(Trigger.WEBHOOK, None), (Trigger.WEBHOOK, None),
                                (Trigger.POLL, "b@dev is ready")], details
    # in order: b synced after a finished, c after b
    last = {t: max(ops, key=lambda o: o.started) for t, ops in ((A, a_ops), (B, b_ops), (C, c_ops))}
    assert last[A].finished is not None and last[A].finished <= last[B].started
    assert last[B].finished is not None and last[B].finished <= last[C].started
    # no beat ran: no self-heal trigger, no resync lock taken, no repository head recorded by a poll
    assert all(op.trigger is not Trigger.SELF_HEAL for ops in (a_ops, b_ops, c_ops) for op in ops)
    assert w.store.redis.keys(f"{w.store.keys.prefix}*{RESYNC_LOCK}*") == []
    assert w.store.repo_head("repo") is None


def test_a_deny_window_holds_an_automated_sync_and_its_end_lets_it_through(
        world: World, start_worker: Callable[..., Any], rclient: redis.Redis) -> None:
    w = world
    shift_time(rclient, NIGHT)
    start(start_worker, w, w.write_config(FREEZE))
    w.trigger(A)
    wait_for(settled(w.store, A), timeout=60)
    status = w.store.status(A)
    assert status is not None and status.hold is not None and status.error is None
    assert (status.hold.reason, status.hold.on, status.hold.until) == ("window", ("freeze",), MORNING)
    assert status.hold.message == "deny window freeze is open; automated syncs resume at 2026-12-06 06:00 UTC"
    assert not w.deployed("a")  # only compared (the engine's server-side dry run)
    assert "window freeze until" in w.status_cli()
    wake = RedisWakes(rclient).pending(A)
    assert wake is not None and (wake.at, wake.reason) == (MORNING, "sync window freeze closed")

    # the beat of this test: only the wake-ups (no repository to poll; the resync lock is held)
    assert w.store.acquire_named(RESYNC_LOCK, "test", 3600)
    beat_rt = Runtime(store=w.store, catalog=fakes.FakeCatalog({A: TargetInfo(A, "repo", "a")}, {}),
                      poller=None, reconciler=None, settings=Settings.from_env(),  # type: ignore[arg-type]
                      clock=RedisClock(rclient), wakes=RedisWakes(rclient))
    beat = Beat(beat_rt, celery_dispatch(), owner="test-beat")
    assert beat.tick() == []  # still night
    shift_time(rclient, MORNING + 1)
    assert beat.tick() == ["wake:a@dev"]
    wait_for(lambda: w.deployed("a"), timeout=60)
    wait_for(settled(w.store, A), timeout=60)
    status = w.store.status(A)
    assert status is not None and status.hold is None and status.sync is SyncStatus.SYNCED
    newest = max(w.store.history(A), key=lambda o: o.started)
    assert newest.trigger_detail == "sync window freeze closed"
