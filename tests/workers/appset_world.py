"""A real world for the ApplicationSet end-to-end tests: ten sandbox clusters, a Git repository, a
configuration with one ApplicationSet, a private redis-server, real ``celery worker`` subprocesses running
the production runtime, and the beat in this process sending ``gitops.appset`` every half second.

``Sandboxes`` (ten in-process :class:`kubesandbox.Sandbox` clusters labelled by ring) is shared by the tests
of a module; each :class:`World` has its own repository, namespace, Redis and processes, so worlds never
see each other's applications (their objects live in another namespace of the same sandboxes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from worker_kit import FAST, wait_for

from gitops.appset.record import AppSetState
from gitops.state import Operation, RedisStore, TargetStatus
from gitops.state.appsets import RedisAppSets
from gitops.vocabulary import Target, Trigger
from kubesandbox import Sandbox
from workers.app import app, configure
from workers.beat import Beat, celery_dispatch
from workers.demo import BASE as DEMO_BASE
from workers.demo import commit, write_files
from workers.engine_port import runtime_from_config
from workers.redis_server import RedisServer
from workers.settings import Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RINGS: dict[str, str] = {"c0": "canary", "c1": "early", "c2": "early", "c3": "early",
                         **{f"c{i}": "late" for i in range(4, 10)}}
CANARY = tuple(c for c, r in RINGS.items() if r == "canary")
EARLY = tuple(c for c, r in RINGS.items() if r == "early")
LATE = tuple(c for c, r in RINGS.items() if r == "late")
ENV = {**FAST, "GITOPS_APPSET_INTERVAL": "0.5", "GITOPS_BEAT_TICK": "0.1", "GITOPS_BEAT_LOCK_TTL": "3",
       "GITOPS_HEALTH_RECHECK": "0.3", "GITOPS_DEBOUNCE": "0.2", "GITOPS_LOCK_TTL": "3",
       "GITOPS_RESYNC_SECONDS": "3600"}
CONFIGMAP = "hello-config"


@dataclass
class Sandboxes:
    """Ten sandbox clusters c0..c9 (ring: canary, early, late) with a kubeconfig each."""

    sandboxes: dict[str, Sandbox]
    kubeconfigs: dict[str, Path]

    @classmethod
    def start(cls, root: Path) -> Sandboxes:
        fleet = cls({}, {})
        try:
            for name in RINGS:
                path = root / "kubeconfigs" / f"{name}.yaml"
                fleet.sandboxes[name] = Sandbox.start(kubeconfig=path, name=name, controller_delay=0.1)
                fleet.kubeconfigs[name] = path
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def stop(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.faults.clear()
            sandbox.stop()
        self.sandboxes.clear()


def app_files(namespace: str, greeting: str) -> dict[str, str]:
    """The application's plain manifests: its namespace, a ConfigMap and a Deployment."""
    return {
        "namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n",
        "configmap.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {CONFIGMAP}\n"
                          f"data:\n  greeting: {greeting}\n",
        "deployment.yaml": DEMO_BASE["deployment.yaml"],  # the demo's Deployment
    }


def init_repo(repo: Path, files: Mapping[str, str]) -> str:
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, capture_output=True)
    write_files(repo, dict(files))
    return commit(repo, {}, "initial")


def config_text(repo: Path, fleet: Sandboxes, appset: str) -> str:
    """Repository ``demo``, the ten Clusters, and the ApplicationSet document ``appset`` (YAML)."""
    docs = [f"""apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: demo}}
spec: {{url: {repo.resolve().as_uri()}, allowLocal: true, ref: main, interval: 2s}}
"""]
    for name, ring in RINGS.items():
        docs.append(f"""apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}, labels: {{ring: {ring}}}}}
spec: {{kubeconfig: {fleet.kubeconfigs[name].resolve()}}}
""")
    docs.append(appset)
    return "---\n".join(docs)


def rolling_set(name: str, steps: str | None, *, path: str = "app", generators: str | None = None,
                app_name: str | None = None, max_concurrent: int = 2, bake: str = "0s",
                sync_policy: str = "{}") -> str:
    """An ApplicationSet ``name`` over every cluster (or ``generators``), RollingSync with ``steps``
    (a YAML flow list; None: AllAtOnce) and the set's ``sync_policy``; its applications deploy ``path``
    into namespace ``name``."""
    gens = generators or "[{clusters: {}}]"
    template_name = app_name or name + "-{{ name }}"
    strategy = "{type: AllAtOnce}" if steps is None else (
        f"{{type: RollingSync, rollingSync: {{steps: {steps}, maxConcurrent: {max_concurrent}, "
        f"bake: {bake}}}}}")
    return f"""apiVersion: gitops.dev/v1alpha1
kind: ApplicationSet
metadata: {{name: {name}}}
spec:
  generators: {gens}
  syncPolicy: {sync_policy}
  strategy: {strategy}
  template:
    metadata: {{name: "{template_name}"}}
    spec:
      source: {{repository: demo, path: "{path}", renderer: plain}}
      destination: {{cluster: "{{{{ name }}}}", namespace: {name}}}
      syncPolicy:
        automated: true
        prune: true
        retry: {{limit: 1, backoff: 200ms, maxBackoff: 400ms}}
"""


@dataclass
class World:
    """One ApplicationSet ``name`` over the :class:`Sandboxes`: repository, configuration, Redis, workers,
    beat."""

    root: Path
    fleet: Sandboxes
    name: str
    repo: Path
    config: Path
    head: str
    redis: RedisServer
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    beat_stop: threading.Event | None = None
    beat_thread: threading.Thread | None = None
    _stores: tuple[RedisStore, RedisAppSets] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, root: Path, fleet: Sandboxes, name: str, appset: str,
               files: Mapping[str, str] | None = None) -> World:
        root.mkdir(parents=True, exist_ok=True)
        repo = root / "repo"
        head = init_repo(repo, files if files is not None
                         else {f"app/{k}": v for k, v in app_files(name, "v1").items()})
        config = root / "config.yaml"
        config.write_text(config_text(repo, fleet, appset))
        return cls(root, fleet, name, repo, config, head, RedisServer.start(root / "redis"))

    # - processes

    def settings(self) -> Settings:
        """The beat's settings (the workers get the same through ``ENV``)."""
        def seconds(name: str) -> float:
            return float(ENV[f"GITOPS_{name}"])
        return replace(Settings.from_env(), redis_url=self.redis.url, config_path=str(self.config),
                       data_dir=str(self.root / "beat-data"), appset_interval=seconds("APPSET_INTERVAL"),
                       beat_tick=seconds("BEAT_TICK"), beat_lock_ttl=seconds("BEAT_LOCK_TTL"),
                       resync_seconds=seconds("RESYNC_SECONDS"), sched_ttl=seconds("SCHED_TTL"),
                       lock_ttl=seconds("LOCK_TTL"))

    def start(self, workers: int = 2) -> None:
        """Start ``workers`` Celery workers (solo pool, production runtime) and the beat."""
        env = dict(os.environ)
        env.update(ENV)
        env.update({"GITOPS_REDIS_URL": self.redis.url, "GITOPS_RUNTIME": "",
                    "GITOPS_CONFIG": str(self.config), "GITOPS_DATA_DIR": str(self.root / "data"),
                    "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])})
        for _ in range(workers):
            name = f"w{len(self.workers) + 1}"
            argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-P", "solo", "-c", "1",
                    "-Q", "poll,reconcile,sync", "-n", f"{self.name}-{name}@%h", "--loglevel", "INFO",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]
            with open(self.root / f"{name}.log", "wb") as log:
                self.workers.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                     cwd=ROOT, start_new_session=True))
        settings = self.settings()
        configure(app, settings)  # the beat publishes through this process's Celery app
        beat = Beat(runtime_from_config(settings), celery_dispatch(), owner=f"{self.name}-beat")
        self.beat_stop = threading.Event()
        self.beat_thread = threading.Thread(target=beat.run, args=(self.beat_stop,), daemon=True,
                                            name=f"beat-{self.name}")
        self.beat_thread.start()

    def stop_processes(self) -> None:
        """Stop the beat, then the workers (warm shutdown: SIGTERM, kill if they linger)."""
        if self.beat_stop is not None and self.beat_thread is not None:
            self.beat_stop.set()
            self.beat_thread.join(timeout=10)
            self.beat_stop = self.beat_thread = None
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.workers.clear()

    def close(self) -> None:
        self.stop_processes()
        if self._stores is not None:
            self._stores[0].redis.close()
            self._stores = None
        self.redis.stop(save=False)

    def logs(self) -> str:
        """The last lines of every worker log (printed by the fixtures; pytest shows them on failure)."""
        out = []
        for log in sorted(self.root.glob("w*.log")):
            out.append(f"--- {log.name} (last lines)")
            out += log.read_text(errors="replace").splitlines()[-30:]
        return "\n".join(out)

    # - Git

    def commit(self, files: Mapping[str, str], message: str) -> str:
        self.head = commit(self.repo, dict(files), message)
        return self.head

    # - state

    def stores(self) -> tuple[RedisStore, RedisAppSets]:
        """The state store and the ApplicationSet store on this world's Redis (one client, kept)."""
        if self._stores is None:
            client = self.redis.client()
            self._stores = RedisStore(client), RedisAppSets(client)
        return self._stores

    def restart_redis(self) -> None:
        """Stop Redis (SHUTDOWN SAVE) and start it again on the same port and data directory."""
        if self._stores is not None:
            self._stores[0].redis.close()
            self._stores = None
        self.redis.restart()

    def record(self) -> AppSetState | None:
        found = self.stores()[1].load(self.name)
        return None if found is None else AppSetState.from_json(self.name, found.text)

    def must_record(self) -> AppSetState:
        state = self.record()
        assert state is not None, f"no record of ApplicationSet {self.name}"
        return state

    def target(self, cluster: str) -> Target:
        return Target(f"{self.name}-{cluster}", cluster)

    def status(self, cluster: str) -> TargetStatus | None:
        return self.stores()[0].status(self.target(cluster))

    def history(self, cluster: str) -> list[Operation]:
        return list(self.stores()[0].history(self.target(cluster)))

    def quiet(self, cluster: str) -> bool:
        """The cluster's application has a status and no reconcile queued or running."""
        store = self.stores()[0]
        target = self.target(cluster)
        return store.status(target) is not None and store.redis.get(store.keys.schedule(target)) is None

    def syncs(self, cluster: str) -> int:
        """How many manual syncs (what a rollout step asks for) the cluster's application had."""
        return sum(1 for op in self.history(cluster) if op.trigger is Trigger.MANUAL)

    def wait_phase(self, phase: str, timeout: float = 60.0) -> AppSetState:
        def reached() -> AppSetState | None:
            state = self.record()
            return state if state is not None and state.rollout is not None \
                and state.rollout.phase == phase else None
        found = wait_for(_named(reached, lambda: f"{self.name} rollout phase {phase} ({self.describe()})"),
                         timeout)
        assert isinstance(found, AppSetState)
        return found

    def wait_passes(self, count: int, timeout: float = 30.0) -> AppSetState:
        """Wait until the controller ran ``count`` more passes over the set (its last_run.at moved on)."""
        seen: list[float] = [self.must_record().last_run.at]

        def moved() -> bool:
            at = self.must_record().last_run.at
            if at > seen[-1]:
                seen.append(at)
            return len(seen) > count
        wait_for(_named(moved, lambda: f"{count} more passes of {self.name} ({self.describe()})"), timeout)
        return self.must_record()

    def describe(self) -> str:
        state = self.record()
        if state is None:
            return "no record"
        r = state.rollout
        last = state.last_run
        return (f"{len(state.desired)} desired, {len(state.released)} released, rollout "
                + ("none" if r is None else f"{r.phase} step {r.step}: {r.message}")
                + f"; last run errors {list(last.errors)[:2]} failures {list(last.failures)[:2]}")

    # - clusters

    def configmap(self, cluster: str) -> dict[str, Any] | None:
        found = [o for o in self.fleet.sandboxes[cluster].objects("configmaps", "", self.name)
                 if o["metadata"]["name"] == CONFIGMAP]
        return found[0] if found else None

    def greeting(self, cluster: str) -> str | None:
        """The live ConfigMap's greeting on the cluster (None: no ConfigMap)."""
        cm = self.configmap(cluster)
        return None if cm is None else cm.get("data", {}).get("greeting")


def _named(check: Callable[[], object], text: Callable[[], str]) -> Callable[[], object]:
    """``check`` with a readable repr (wait_for names the condition when it times out)."""
    class Named:
        def __call__(self) -> object:
            return check()

        def __repr__(self) -> str:
            return text()
    return Named()
