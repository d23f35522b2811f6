"""Image verification end to end in real worker processes: a configuration with a VerificationPolicy,
``gitops sync`` enqueueing on a real Celery worker (the production runtime), Debian's docker-registry
and a sandbox cluster. An unsigned image is not applied and the target's status says why, per image
(``gitops status --images``); once it is signed, the next sync applies it and the status names the key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from worker_kit import FAST, wait_for

from gitops.state import RedisStore
from gitops.verify.keys import fingerprint
from gitops.vocabulary import OperationPhase, Target
from kubesandbox import Sandbox
from workers.app import app, configure
from workers.redis_server import RedisServer
from workers.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gitops" / "verify"))

from enforcement_world import World  # found through the path set just above
from registry_kit import Registry

pytestmark = pytest.mark.timeout(120)
WEB = Target("web", "dev")


@pytest.fixture
def world(tmp_path: Path, registry: Registry, rclient: redis.Redis,
          redis_server: RedisServer) -> Iterator[tuple[World, RedisStore]]:
    sandbox = Sandbox.start(kubeconfig=tmp_path / "kubeconfig.yaml", name="dev")
    os.environ.update(FAST)
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    built = World(tmp_path, registry, sandbox)
    try:
        yield built, RedisStore(rclient)
    finally:
        built.pusher.close()
        sandbox.stop()


def sync(world: World, redis_url: str, store: RedisStore) -> str:
    """``gitops sync web`` on the workers; waits until that operation finished and returns its id."""
    env = {**os.environ, "GITOPS_REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-m", "gitops", "sync", "-c", str(world.root / "config.yaml"),
                           "web"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    task_id = done.stdout.strip().rsplit(" ", 1)[-1]
    wait_for(lambda: (op := store.operation(WEB, task_id)) is not None and op.phase in (
        OperationPhase.SUCCEEDED, OperationPhase.FAILED), timeout=60)
    return task_id


def status_output(redis_url: str, *args: str) -> str:
    env = {**os.environ, "GITOPS_REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-m", "gitops", "status", *args], env=env, capture_output=True,
                          text=True, timeout=60)
    return done.stdout + done.stderr


def test_an_unsigned_image_is_refused_with_its_reason_in_status_and_applied_once_signed(
        world: tuple[World, RedisStore], redis_server: RedisServer, start_worker: Callable[..., Any]) -> None:
    w, store = world
    config = w.config()
    start_worker("w1", GITOPS_RUNTIME="", GITOPS_CONFIG=str(config), GITOPS_DATA_DIR=str(w.root / "data"),
                 GITOPS_LOCK_TTL="3", GITOPS_REGISTRY_PLAIN_HTTP=w.registry.host,
                 GITOPS_VERIFY_REFUSED_TTL="0")
    image = f"{w.registry.host}/team/web:v1"

    first = sync(w, redis_server.url, store)
    status = store.status(WEB)
    assert status is not None and status.operation == first
    assert status.failure is not None and status.failure.kind == "VerificationFailed"
    assert not status.failure.temporary and "refused by the policy" in status.failure.message
    assert status.verification is not None
    [check] = status.verification
    assert (check.image, check.digest, check.status) == (image, w.image.digest, "refused")
    assert "no cosign signature" in check.reasons[0]
    assert not w.deployed() and w.sandbox.stats.count(write=True) == 0  # nothing applied at all
    table = status_output(redis_server.url)
    assert "1/1 refused" in table and "VerificationFailed" not in table.splitlines()[0]
    images = status_output(redis_server.url, "--images")
    assert image in images and "refused" in images and "no cosign signature" in images

    w.sign()
    second = sync(w, redis_server.url, store)
    status = store.status(WEB)
    assert status is not None and status.operation == second and status.failure is None
    assert status.verification is not None
    [check] = status.verification
    assert (check.status, check.digest) == ("verified", w.image.digest)
    assert check.signers == (fingerprint(w.key.public_key()),)
    assert w.deployed()
    assert "1/1 verified" in status_output(redis_server.url)
