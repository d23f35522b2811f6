"""Celery on Redis Sentinel: one ``GITOPS_REDIS_URL`` (``redis+sentinel://``) configures the broker and
the result backend (kombu's ``sentinel://`` URLs, the master's name in the transport options), and a
real worker runs tasks through a real master, replica and three sentinels, also after a failover."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sentinel_kit import MASTER, Sentinels, sentinels
from worker_kit import wait_for

from gitops.errors import InputError
from gitops.state import RedisStore, connect
from gitops.vocabulary import Target
from workers.app import app, celery_redis, configure
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TIMEOUTS = {"socket_timeout": 10}


def test_a_plain_url_is_celerys_own() -> None:
    assert celery_redis("redis://:pw@h:6379/2", TIMEOUTS) == ("redis://:pw@h:6379/2", {})


def test_a_sentinel_url_becomes_komb_sentinel_urls_and_the_master_name() -> None:
    url, options = celery_redis("redis+sentinel://:p%40ss@s1,s2:26380,[::1]/mymaster/3", TIMEOUTS)
    assert url == ("sentinel://:p%40ss@s1:26379/3;sentinel://:p%40ss@s2:26380/3;"
                   "sentinel://:p%40ss@[::1]:26379/3")
    assert options == {"master_name": "mymaster", "sentinel_kwargs": TIMEOUTS}


def test_sentinel_auth_sends_the_credentials_to_the_sentinels() -> None:
    _, options = celery_redis("redis+sentinel://bob:pw@s1/m?sentinel_auth=yes", TIMEOUTS)
    assert options["sentinel_kwargs"] == {**TIMEOUTS, "username": "bob", "password": "pw"}


@pytest.mark.parametrize("url", ["redis+sentinel://s1/a/b/c", "sentinel://s1:26379", "redis+sentinel:///m"])
def test_the_app_refuses_a_bad_url(url: str) -> None:
    with pytest.raises(InputError, match="GITOPS_REDIS_URL"):
        configure(app, replace(Settings(), redis_url=url))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sentinels]:
    with sentinels(tmp_path_factory.mktemp("sentinel")) as running:
        yield running


@pytest.fixture
def worker(deployment: Sentinels, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    from conftest import worker_env

    url = deployment.url(db=0)
    connect(url).flushall()
    configure(app, replace(Settings.from_env(), redis_url=url))
    with open(tmp_path / "worker.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-P", "solo",
                                 "-c", "1", "-Q", "poll,reconcile,sync", "-n", "sentinel@%h", "--loglevel",
                                 "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                                env=worker_env(url, FAKE_TARGETS='["web@prod"]'), stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    yield proc
    proc.kill()
    proc.wait(timeout=10)
    configure(app, Settings.from_env())
    print("\n".join((tmp_path / "worker.log").read_text(errors="replace").splitlines()[-40:]))


def _reconcile(url: str) -> Any:
    from workers import tasks

    return tasks.reconcile.apply_async(("web", "prod", "webhook"))


@pytest.mark.timeout(150)
def test_a_real_worker_on_sentinels_runs_tasks_across_a_failover(deployment: Sentinels,
                                                                  worker: subprocess.Popen[bytes]) -> None:
    url = deployment.url(db=0)
    assert app.conf.broker_transport_options["master_name"] == MASTER
    store = RedisStore(connect(url))
    store.redis.set("fake:head:repo", "c1")
    assert _reconcile(url).get(timeout=60)["status"] == "done"
    assert (status := store.status(Target("web", "prod"))) is not None and status.revision == "c1"

    deployment.failover()
    store.redis.connection_pool.disconnect()  # this client's connections were to the old master
    wait_for(lambda: _set_head(store, "c2"), timeout=30)
    assert _reconcile(url).get(timeout=90)["status"] == "done"
    assert (status := store.status(Target("web", "prod"))) is not None and status.revision == "c2"


def _set_head(store: RedisStore, head: str) -> bool:
    try:
        store.redis.set("fake:head:repo", head)
    except Exception:  # the old master's connection dropped: the next try asks the sentinels again
        return False
    return True
