"""Sharding workers by cluster: the one routing decision (pure), the shard label in the configuration,
the queues ``gitops worker --queues`` accepts and ``gitops up`` consumes, and real workers: a worker on
``reconcile.eu`` runs the reconcile of a target on the ``eu`` cluster while a worker on ``reconcile``
never gets it; a forged cluster goes to the plain queue and is rejected there."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from worker_kit import FAST, wait_for

from gitops.config import load_config
from gitops.domain import Cluster
from gitops.errors import ConfigError, InputError
from gitops.keys import SHARD
from gitops.state import RedisStore
from gitops.vocabulary import Target
from workers.app import ROUTES, app, configure, route_by, router
from workers.cli import check_queues
from workers.dispatch import CeleryDispatcher
from workers.redis_server import RedisServer
from workers.settings import QUEUES, Settings, Shards
from workers.up import Up

ROOT = Path(__file__).resolve().parents[2]
EU = Shards.of([Cluster("eu-1", labels={SHARD: "eu"}), Cluster("eu-2", labels={SHARD: "eu"}),
                Cluster("us-1", labels={"region": "us"})])
PER_TARGET = ("gitops.reconcile", "gitops.refresh", "gitops.hard_refresh", "gitops.sync", "gitops.prune")


# -- the routing decision ------------------------------------------------------------------------------
@pytest.mark.parametrize("task", PER_TARGET)
def test_a_per_target_task_of_a_sharded_cluster_goes_to_its_shard_queue(task: str) -> None:
    route = router(EU)
    base = ROUTES[task]["queue"]
    assert route(task, ["web", "eu-1", "poll"], {}, {})["queue"].name == f"{base}.eu"
    assert route(task, ["web"], {"cluster": "eu-2"}, {})["queue"].name == f"{base}.eu"
    assert route(task, ["web", "us-1"], {}, {})["queue"].name == base  # unlabelled: the plain queue


@pytest.mark.parametrize("task", ["gitops.poll", "gitops.appset", "gitops.beat_tick", "gitops.notify"])
def test_tasks_without_a_target_keep_their_queue(task: str) -> None:
    assert router(EU)(task, ["eu-1", "eu-1"], {"cluster": "eu-1"}, {})["queue"].name == ROUTES[task]["queue"]


@pytest.mark.parametrize(("args", "kwargs"), [
    (["web", "nowhere"], {}),                 # a cluster that is not configured
    (["web", ["eu-1"]], {}),                  # not a string
    (["web", {"eu-1": 1}], {}),               # unhashable
    (["web", "eu-1\nreconcile.eu"], {}),      # injection
    (["web", "EU-1"], {}),
    (["web"], {"cluster": 7}),
    ([], {}),
    (None, None),
    ("web,eu-1", "eu-1"),                     # forged shapes
])
def test_forged_arguments_keep_the_plain_queue(args: Any, kwargs: Any) -> None:
    assert router(EU)("gitops.reconcile", args, kwargs, {})["queue"].name == "reconcile"


def test_unknown_tasks_are_left_to_celery() -> None:
    assert router(EU)("celery.chord_unlock", ["web", "eu-1"], {}, {}) is None


def test_celery_routes_through_the_installed_router_on_the_default_exchange() -> None:
    try:
        route_by(app, EU)
        routed = app.amqp.router.route({}, "gitops.sync", ("web", "eu-1", False, False), {})
        assert routed["queue"].name == "sync.eu"
        assert routed["queue"].exchange.name == ""  # delivered by name: no binding needed in Redis
        assert routed["queue"].routing_key == "sync.eu"
        assert app.amqp.router.route({}, "gitops.sync", ("web", "us-1"), {})["queue"].name == "sync"
    finally:
        route_by(app, Shards())
    assert app.amqp.router.route({}, "gitops.sync", ("web", "eu-1"), {})["queue"].name == "sync"


def test_shards_value() -> None:
    assert EU.queues() == ("reconcile.eu", "sync.eu")
    assert Shards().queues() == ()
    assert EU.queue("poll", "eu-1") == "poll"
    with pytest.raises(TypeError):
        EU.by_cluster["us-1"] = "us"  # type: ignore[index]


# -- the configuration ---------------------------------------------------------------------------------
def _cluster(tmp_path: Path, shard: str) -> Path:
    path = tmp_path / "clusters.yaml"
    path.write_text(f"""apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata:
  name: eu-1
  labels:
    {SHARD}: {shard}
spec:
  server: https://eu-1.example:6443
  insecureSkipTlsVerify: true
""")
    return path


def test_the_shard_label_is_loaded(tmp_path: Path) -> None:
    config = load_config(_cluster(tmp_path, "eu"))
    assert Shards.of(config.clusters.values()).by_cluster == {"eu-1": "eu"}


@pytest.mark.parametrize("shard", ["EU", "eu_1", "eu.west", "-eu", "'a--'", "x" * 64])
def test_a_shard_must_be_a_dns_label_located(tmp_path: Path, shard: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_cluster(tmp_path, shard))
    [problem] = caught.value.problems  # at the labels (a DNS label) or the value (not a label value)
    assert problem.line in (5, 6) and (problem.field or "").startswith("metadata.labels")
    assert problem.file is not None and problem.file.endswith("clusters.yaml")


# -- the queues a worker consumes ----------------------------------------------------------------------
@pytest.mark.parametrize("queues", ["reconcile.eu,sync.eu", "poll,reconcile,sync", "sync.eu-west-1"])
def test_worker_queues(queues: str) -> None:
    assert check_queues(queues) == queues


@pytest.mark.parametrize("queues", ["reconcile.EU", "poll.eu", "celery", "", "reconcile,", "sync.eu.x",
                                    "reconcile.eu;rm", ",".join(["sync.a"] * 300)])
def test_hostile_worker_queues(queues: str) -> None:
    with pytest.raises(InputError, match="--queues"):
        check_queues(queues)


def test_up_consumes_the_shard_queues_of_the_configured_clusters(tmp_path: Path) -> None:
    up = Up(data_dir=tmp_path, config=str(_cluster(tmp_path, "eu")), demo=False, port=1, concurrency=1,
            web_argv=None)
    with ExitStack() as stack:
        up._configuration(stack, "redis://127.0.0.1:1/0")
    assert up.queues == (*QUEUES, "reconcile.eu", "sync.eu")


# -- real workers ----------------------------------------------------------------------------------------
@pytest.fixture
def routed(rclient: redis.Redis, redis_server: RedisServer) -> Iterator[RedisStore]:
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url), EU)
    rclient.set("fake:head:repo", "c1")
    yield RedisStore(rclient)
    route_by(app, Shards())


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[Any]:
    from conftest import worker_env

    procs: list[subprocess.Popen[bytes]] = []
    env = worker_env(redis_server.url, FAKE_TARGETS='["web@eu-1", "web@us-1"]', GITOPS_CONFIG=str(tmp_path),
                     **FAST)

    def start(name: str, queues: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"{name}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "gitops", "worker", "--queues", queues, "--pool",
                                     "solo", "--name", f"{name}@%h"], env=env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    for log in sorted(tmp_path.glob("*.log")):
        print(f"--- {log.name}")
        print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))


@pytest.mark.timeout(120)
def test_only_the_shard_worker_runs_the_shard_targets(routed: RedisStore, workers: Any) -> None:
    from workers import tasks

    workers("plain", "poll,reconcile,sync")
    eu = tasks.reconcile.apply_async(("web", "eu-1", "webhook"))
    assert routed.redis.llen("reconcile.eu") == 1
    us = tasks.reconcile.apply_async(("web", "us-1", "webhook"))
    assert us.get(timeout=60)["status"] == "done"  # the plain worker works...
    forged = tasks.reconcile.apply_async(("web", "nowhere", "webhook"))
    assert forged.get(timeout=60)["status"] == "rejected"  # ...rejects a forged cluster on the plain queue...
    assert routed.redis.llen("reconcile.eu") == 1  # ...and never took the shard's message
    assert routed.status(Target("web", "eu-1")) is None

    workers("eu", "reconcile.eu,sync.eu")
    assert eu.get(timeout=60)["status"] == "done"
    assert routed.status(Target("web", "eu-1")) is not None
    sync = CeleryDispatcher(routed, shards=EU).enqueue_sync("web", "eu-1", prune=False, dry_run=False)
    assert app.AsyncResult(sync).get(timeout=60)["status"] == "done"
    wait_for(lambda: routed.redis.llen("reconcile.eu") == 0 and routed.redis.llen("sync.eu") == 0)
    assert routed.redis.lrange("fake:log", 0, -1).count(b"web@eu-1") == 2


def test_the_depth_of_shard_queues_is_measured(routed: RedisStore, redis_server: RedisServer) -> None:
    from workers import tasks
    from workers.metrics import RedisMetrics

    tasks.sync.apply_async(("web", "eu-1", False, False))
    metrics = RedisMetrics.from_url(redis_server.url, queues=QUEUES + EU.queues())
    [depth] = [f for f in metrics.collect() if f.name == "gitops_queue_depth"]
    assert {s.labels["queue"]: s.value for s in depth.samples} == {
        "poll": 0, "reconcile": 0, "sync": 0, "reconcile.eu": 0, "sync.eu": 1}


@pytest.mark.timeout(120)
def test_gitops_sync_enqueues_on_the_shard_of_its_configuration(routed: RedisStore, redis_server: RedisServer,
                                                                 tmp_path: Path) -> None:
    from conftest import worker_env

    config = _cluster(tmp_path, "eu")
    (tmp_path / "app.yaml").write_text("""apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: demo}
spec: {url: "https://git.example/demo.git"}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repository: demo, path: apps/web}
  destination: {cluster: eu-1, namespace: web}
""")
    env = worker_env(redis_server.url)
    env.pop("GITOPS_CONFIG", None)  # only -c names the configuration
    env.pop("GITOPS_RUNTIME", None)
    done = subprocess.run([sys.executable, "-m", "gitops", "sync", "-c", str(config.parent), "web",
                           "--cluster", "eu-1"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    assert "enqueued sync of web" in done.stdout
    assert routed.redis.llen("sync.eu") == 1 and routed.redis.llen("sync") == 0
