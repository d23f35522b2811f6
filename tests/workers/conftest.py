"""Fixtures for the worker tests: a real redis-server, fake runtimes, real Celery worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from gitops.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))  # `import fakes` here and in worker subprocesses

FAST = {
    "GITOPS_VISIBILITY_TIMEOUT": "4",
    "GITOPS_RESTORE_INTERVAL": "1",
    "GITOPS_LOCK_TTL": "2",
    "GITOPS_SCHED_TTL": "30",
    "GITOPS_RETRY_BASE": "0.2",
    "GITOPS_RETRY_MAX": "0.8",
    "GITOPS_RETRY_LIMIT": "3",
    "GITOPS_SOFT_TIME_LIMIT": "20",
    "GITOPS_HARD_TIME_LIMIT": "25",
}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture
def rclient(redis_server: RedisServer) -> redis.Redis:
    client = redis_server.client()
    client.flushall()
    return client


def worker_env(url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FAST)
    env.update({"GITOPS_REDIS_URL": url, "GITOPS_RUNTIME": "fakes:runtime",
                "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])})
    env.update(extra)
    return env


@pytest.fixture
def start_worker(redis_server: RedisServer,
                 tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real ``celery -A workers.app worker`` processes (solo pool); all are killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str = "w1", **env: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-P", "solo", "-c", "1",
                "-Q", "poll,reconcile,sync", "-n", f"{name}@%h", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        proc = subprocess.Popen(argv, env=worker_env(redis_server.url, **env), stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def wait_for(check: Callable[[], object], timeout: float = 20.0, every: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s: {check}")
