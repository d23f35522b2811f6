"""Fixtures for the worker tests: a real redis-server, fake runtimes, real Celery worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from workers.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))  # `import worker_fakes, worker_kit` here and in worker subprocesses



@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture
def receiver() -> Iterator[Any]:
    """An OTLP/HTTP trace collector on 127.0.0.1 (otlp_receiver.Receiver)."""
    from otlp_receiver import serve

    with serve() as state:
        yield state


@pytest.fixture
def rclient(redis_server: RedisServer) -> redis.Redis:
    client = redis_server.client()
    client.flushall()
    return client


def worker_env(url: str, **extra: str) -> dict[str, str]:
    from worker_kit import FAST  # this directory is on sys.path only once this module ran

    env = dict(os.environ)
    env.update(FAST)
    env.update({"GITOPS_REDIS_URL": url, "GITOPS_RUNTIME": "worker_fakes:runtime",
                "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])})
    env.update(extra)
    return env


@pytest.fixture
def start_worker(redis_server: RedisServer,
                 tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real ``celery -A workers.app worker`` processes (solo pool unless ``pool`` says otherwise);
    all are killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str = "w1", pool: str = "solo", **env: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-P", pool, "-c", "1",
                "-Q", "poll,reconcile,sync", "-n", f"{name}@%h", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(tmp_path / f"{name}.log", "wb") as log:  # the worker keeps its own descriptor
            proc = subprocess.Popen(argv, env=worker_env(redis_server.url, **env), stdout=log,
                                    stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    for log in sorted(tmp_path.glob("*.log")):  # shown by pytest only when the test failed
        print(f"--- {log.name} (last lines)")
        print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
