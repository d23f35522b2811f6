"""The Celery app follows its configuration: reconfigured to another Redis, it publishes there only."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import redis

from workers.app import app, configure
from workers.redis_server import RedisServer
from workers.settings import Settings


def test_a_reconfigured_app_publishes_to_the_new_broker_only(redis_server: RedisServer, rclient: redis.Redis,
                                                            tmp_path: Path) -> None:
    from workers import tasks

    other = RedisServer.start(tmp_path / "other")
    try:
        configure(app, replace(Settings.from_env(), redis_url=other.url))
        first = tasks.sync.apply_async(("web", "prod", False, True)).id
        assert json.loads(other.client().lindex("sync", 0) or b"{}")["headers"]["id"] == first
        configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
        second = tasks.sync.apply_async(("web", "prod", False, True)).id
        assert other.client().llen("sync") == 1  # the old broker got nothing more
        assert json.loads(rclient.lindex("sync", 0) or b"{}")["headers"]["id"] == second
    finally:
        configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
        other.stop(save=False)


def test_a_forced_sync_carries_force_and_an_unforced_one_leaves_it_out(redis_server: RedisServer,
                                                                       rclient: redis.Redis) -> None:
    import base64

    from workers.dispatch import CeleryDispatcher

    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    dispatcher = CeleryDispatcher()
    dispatcher.enqueue_sync("web", "prod", prune=False, dry_run=False, detail="alice via api", force=True)
    dispatcher.enqueue_sync("web", "prod", prune=False, dry_run=False)
    bodies = [json.loads(base64.b64decode(json.loads(raw)["body"])) for raw in rclient.lrange("sync", 0, -1)]
    kwargs = sorted((b[1] for b in bodies), key=len)
    assert kwargs == [{}, {"detail": "alice via api", "force": True}]  # older workers take the plain one
