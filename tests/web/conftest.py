"""Shared fixtures of the web tests: a real Redis, a recording Actions fake, a header authenticator.

Each area keeps its own fixtures in its own folder (tests/web/api, webhooks, auth, dashboard,
browser); only what several areas use lives here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.requests import Request

from gitops.vocabulary import Trigger
from web.auth import Principal, Role
from workers.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis-web"))
    yield server
    server.stop()


@dataclass
class RecordingActions:
    """:class:`web.context.Actions` that records what would have been enqueued."""

    calls: list[tuple[str, str, str, dict[str, object]]] = field(default_factory=list)
    coalesce: set[str] = field(default_factory=set)  # target keys that answer None (already queued)

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None:
        self.calls.append(("reconcile", app, cluster, {"trigger": str(trigger), "detail": detail}))
        return None if f"{app}@{cluster}" in self.coalesce else f"task-{len(self.calls)}"

    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool,
                     detail: str | None = None, force: bool = False) -> str:
        self.calls.append(("sync", app, cluster, {"prune": prune, "dry_run": dry_run, "detail": detail,
                                                  **({"force": True} if force else {})}))
        return f"task-{len(self.calls)}"

    def hard_refresh(self, app: str, cluster: str, detail: str | None = None) -> str | None:
        self.calls.append(("hard-refresh", app, cluster, {"detail": detail}))
        return f"task-{len(self.calls)}"


@pytest.fixture
def actions() -> RecordingActions:
    return RecordingActions()


class HeaderAuthenticator:
    """Test authenticator: ``X-Test-Role: viewer|operator|admin`` (as an API token would be)."""

    def authenticate(self, request: Request) -> Principal | None:
        role = request.headers.get("x-test-role")
        if not role:
            return None
        return Principal(name=f"test-{role}", role=Role.parse(role), via="token")
