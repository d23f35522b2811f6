"""Scale-out: ``gitops worker`` x2 and ``gitops beat`` x2 on one Redis; one beat acts, failover works."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from worker_kit import wait_for

from gitops.state import RedisStore
from gitops.vocabulary import Target
from workers.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["web@prod", "web@dev", "api@prod"]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


@pytest.mark.timeout(90)
def test_two_workers_two_beats_one_leader_and_failover(rclient: redis.Redis, redis_server: RedisServer,
                                                       procs: list[subprocess.Popen[bytes]],
                                                       tmp_path: Path) -> None:
    from conftest import worker_env

    env = worker_env(redis_server.url, FAKE_TARGETS=str(TARGETS).replace("'", '"'), GITOPS_BEAT_TICK="0.2",
                     GITOPS_BEAT_LOCK_TTL="1.5", GITOPS_RESYNC_SECONDS="3600", GITOPS_CONFIG=str(tmp_path))
    rclient.set("fake:head:repo", "c1")

    def start(*args: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"{len(procs)}.log", "wb") as log:  # the process keeps its own descriptor
            proc = subprocess.Popen([sys.executable, "-m", "gitops", *args], env=env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    start("worker", "--pool", "solo", "--name", "a-%h")
    start("worker", "--pool", "solo", "--name", "b-%h")
    beats = [start("beat"), start("beat")]
    store = RedisStore(rclient)
    targets = [Target(*t.split("@")) for t in TARGETS]
    wait_for(lambda: all(store.status(t) is not None for t in targets), timeout=40)
    leader = rclient.get(store.keys.named_lock("beat"))
    assert leader is not None
    leader_proc = next(b for b in beats if f":{b.pid}:".encode() in leader)
    leader_proc.send_signal(signal.SIGTERM)  # a clean stop releases the lock at once
    assert leader_proc.wait(timeout=20) == 0
    standby = next(b for b in beats if b is not leader_proc)
    wait_for(lambda: f":{standby.pid}:".encode() in (rclient.get(store.keys.named_lock("beat")) or b""),
             timeout=10)
    rclient.set("fake:changed:c1:c2", '["base/common.yaml"]')  # a shared file: every app follows
    rclient.set("fake:head:repo", "c2")  # the new leader polls: the change is picked up
    wait_for(lambda: all((s := store.status(t)) is not None and s.revision == "c2" for t in targets),
             timeout=40)
    standby.kill()
    assert standby.wait(timeout=10) != 0
    for p in procs[:2]:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0  # warm shutdown of the workers
