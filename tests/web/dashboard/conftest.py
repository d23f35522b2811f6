"""Fixtures of the dashboard tests: ``dashboard``, the real app over real Redis state.

The app is :func:`web.app.create_app` over a :class:`WebContext` whose state, webhook deliveries and
audit log are the Redis implementations on the session's ``redis_server`` (flushed before each test),
with the recording ``actions`` of tests/web/conftest.py and the cookie sessions of dashboard_kit.py
(importable because this directory is put on ``sys.path`` here, as tests/web/api does).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.clock import ManualClock
from gitops.state import RedisStore
from gitops.state.access import RedisAuditLog
from gitops.state.deliveries import RedisDeliveries
from web.app import create_app
from web.context import Actions, WebContext
from web.settings import WebSettings
from workers.redis_server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Starlette 1.x warns once, on import, that its TestClient prefers the httpx2 package; the locked
# environment has httpx (the client it still supports), so that one notice is not a failure here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

from dashboard_kit import (  # found through the path set just above
    DEFAULT_APPS,
    DEFAULT_CLUSTERS,
    NOW,
    CookieAuthenticator,
    Dashboard,
    Writer,
    fleet_of,
)


@pytest.fixture
def dashboard(redis_server: RedisServer, actions: Actions) -> Iterator[Dashboard]:
    client = redis_server.client()
    client.flushdb()
    store = RedisStore(client)
    deliveries = RedisDeliveries(client)
    audit = RedisAuditLog(client)
    fleet = fleet_of(DEFAULT_APPS, DEFAULT_CLUSTERS)
    ctx = WebContext(settings=WebSettings(secure_cookies=False), state=store, fleet=lambda: fleet,
                     actions=actions, audit=audit, deliveries=deliveries, clock=ManualClock(NOW),
                     extras={"authenticator": CookieAuthenticator()})
    app = create_app(ctx)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as http:
        yield Dashboard(ctx, http, store, Writer(store), actions, deliveries, audit)
    client.close()
