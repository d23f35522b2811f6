"""Sync hooks in real worker processes: ``gitops sync`` enqueued on a real Celery worker (the production
runtime: Git, the sandbox over HTTP, Redis state). A PreSync Job that fails blocks the sync (nothing of
the application applied, the SyncFail hook ran) and ``gitops status`` says why; once Git fixes the hook,
the next sync runs it and applies the application; ``gitops delete`` runs the PreDelete hook, deletes the
application and forgets its state."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from worker_kit import FAST, wait_for

from gitops.cluster.rest import ClusterSettings, KubeCluster
from gitops.state import RedisStore
from gitops.vocabulary import Action, ObjectRef, OperationPhase, Target
from kubesandbox import Sandbox
from tests.configkit import local_app
from workers.app import app, configure
from workers.redis_server import RedisServer
from workers.settings import Settings

pytestmark = pytest.mark.timeout(120)
WEB = Target("web", "dev")
MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-settings}}
data: {{color: blue}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {{argocd.argoproj.io/hook: PreSync}}
spec:
  backoffLimit: 0
  template:
    spec:
      containers: [{{name: migrate, image: "{image}"}}]
      restartPolicy: Never
---
apiVersion: batch/v1
kind: Job
metadata:
  name: page-oncall
  annotations: {{gitops.dev/hook: SyncFail, gitops.dev/hook-delete-policy: HookSucceeded}}
spec:
  template:
    spec:
      containers: [{{name: page, image: busybox}}]
      restartPolicy: Never
---
apiVersion: batch/v1
kind: Job
metadata:
  name: backup
  annotations: {{helm.sh/hook: pre-delete}}
spec:
  template:
    spec:
      containers: [{{name: backup, image: busybox}}]
      restartPolicy: Never
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


def commit(repo: Path, image: str) -> None:
    (repo / "app").mkdir(parents=True, exist_ok=True)
    (repo / "app" / "all.yaml").write_text(MANIFESTS.format(image=image))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"migrate with {image}")


def sync(config: Path, redis_url: str, store: RedisStore) -> str:
    env = {**os.environ, "GITOPS_REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-m", "gitops", "sync", "-c", str(config), "web"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    task_id = done.stdout.strip().rsplit(" ", 1)[-1]
    wait_for(lambda: (op := store.operation(WEB, task_id)) is not None and op.phase in (
        OperationPhase.SUCCEEDED, OperationPhase.FAILED), timeout=60)
    return task_id


def status_output(redis_url: str) -> str:
    env = {**os.environ, "GITOPS_REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-m", "gitops", "status"], env=env, capture_output=True, text=True,
                          timeout=60)
    return done.stdout + done.stderr


def test_a_failing_presync_job_blocks_the_sync_on_the_workers_and_status_says_why(
        tmp_path: Path, rclient: redis.Redis, redis_server: RedisServer,
        start_worker: Callable[..., Any]) -> None:
    sandbox = Sandbox.start(kubeconfig=tmp_path / "kubeconfig.yaml", name="dev", controller_delay=0.2)
    cluster = KubeCluster(ClusterSettings("dev", kubeconfig=str(tmp_path / "kubeconfig.yaml")))
    try:
        os.environ.update(FAST)
        configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        commit(repo, "registry.example/migrate-fail:1")
        config = tmp_path / "config.yaml"
        config.write_text(local_app(repo, tmp_path / "kubeconfig.yaml", app="web"))
        start_worker("w1", GITOPS_RUNTIME="", GITOPS_CONFIG=str(config),
                     GITOPS_DATA_DIR=str(tmp_path / "data"), GITOPS_LOCK_TTL="3")
        store = RedisStore(rclient)
        settings = ObjectRef("", "ConfigMap", "default", "web-settings", "v1")

        first = sync(config, redis_server.url, store)
        status = store.status(WEB)
        assert status is not None and status.operation == first and status.failure is not None
        assert "PreSync hook Job.batch/default/migrate failed" in status.failure.message
        assert not status.failure.temporary
        assert cluster.get(settings) is None  # nothing of the application applied
        operation = store.operation(WEB, first)
        assert operation is not None and operation.phase is OperationPhase.FAILED
        hooks = {o.object: (o.action, o.message) for o in operation.objects if o.object.startswith("Job")}
        assert hooks["Job.batch/default/migrate"][0] == str(Action.FAILED)
        assert hooks["Job.batch/default/page-oncall"] == (
            str(Action.CREATED), "SyncFail hook succeeded: job completed; deleted (HookSucceeded)")
        table = status_output(redis_server.url)
        assert "web" in table and "Job.batch/default/migrate: PreSync hook" in table

        commit(repo, "registry.example/migrate:2")
        second = sync(config, redis_server.url, store)
        status = store.status(WEB)
        assert status is not None and status.operation == second and status.failure is None
        assert cluster.get(settings) is not None
        assert cluster.get(ObjectRef("batch", "Job", "default", "page-oncall", "v1")) is None
        backup = ObjectRef("batch", "Job", "default", "backup", "v1")
        assert cluster.get(backup) is None  # a PreDelete hook: not run by a sync

        env = {**os.environ, "GITOPS_REDIS_URL": redis_server.url}
        done = subprocess.run([sys.executable, "-m", "gitops", "delete", "-c", str(config), "web", "--yes",
                               "--cache-dir", str(tmp_path / "cli-cache")], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PreDelete hook succeeded" in done.stdout
        assert "forgot the status and history of web@dev" in done.stdout
        assert cluster.get(settings) is None and cluster.get(backup) is not None
        assert store.status(WEB) is None  # gitops status no longer lists it
    finally:
        cluster.close()
        sandbox.stop()
