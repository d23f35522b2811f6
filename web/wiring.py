"""The production :class:`web.context.WebContext`: configuration, Redis and the workers' dispatcher.

Called by :func:`web.app.create_from_env` once per server process. Each package attaches its own
parts (``web.auth.wiring.attach``: accounts, audit, the authenticator; ``web.webhooks.wiring.attach``:
deliveries and receivers; ``web.ops.attach_metrics``: the workers' figures for /metrics).
"""

from __future__ import annotations

import os
from pathlib import Path

from gitops.appset.fleetview import LiveFleet
from gitops.config import Config, load_config, to_fleet
from gitops.domain import Fleet
from gitops.env import ENV_CONFIG
from gitops.errors import ConfigError, Problem
from gitops.state import open_store, redis_url
from gitops.state.appsets import RedisAppSets
from gitops.state.suspensions import RedisSuspensions
from web.context import WebContext
from web.settings import WebSettings
from workers.dispatch import CeleryDispatcher
from workers.settings import Shards


def load_fleet() -> Fleet:
    return to_fleet(_config())


def _config() -> Config:
    chosen = os.environ.get(ENV_CONFIG)
    if not chosen:
        raise ConfigError([Problem(f"no configuration: set {ENV_CONFIG}", field=ENV_CONFIG)])
    return load_config(Path(chosen))


def production_context() -> WebContext:
    url = redis_url()
    store = open_store(url)
    config = _config()
    # the configured applications plus those ApplicationSets released (reloaded when a set changes)
    appsets = RedisAppSets(store.redis)
    live = LiveFleet(to_fleet(config), appsets, config.application_sets)
    ctx = WebContext(settings=WebSettings.from_env(), state=store, fleet=live.current,
                     actions=CeleryDispatcher(store, shards=Shards.of(config.clusters.values())),
                     appsets=appsets,
                     suspensions=RedisSuspensions(store.redis, prefix=store.keys.prefix))
    from web import ops
    from web.auth import wiring as auth_wiring
    from web.webhooks import wiring as webhook_wiring

    auth_wiring.attach(ctx, url)
    webhook_wiring.attach(ctx, url)
    ops.attach_metrics(ctx, url)
    return ctx
