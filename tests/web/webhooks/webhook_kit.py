"""Helpers of the webhook tests: a fleet matching the recorded payloads, a receiver per provider with
its secret in the environment, and :class:`Hooks`: the real app on a real Redis, sending signed
deliveries.

The payloads in payloads/ are built from each provider's published example payloads (GitHub's
Codertocat/Hello-World, GitLab's mike/diaspora, Gitea's gitea/webhooks, Atlassian's PROJ/repository);
a test loads one, changes what it is about, and :meth:`Hooks.send` signs it the way the provider does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from gitops.clock import ManualClock
from gitops.domain import (
    Application,
    AppSource,
    Cluster,
    Destination,
    Fleet,
    Repository,
    SecretRef,
    WebhookReceiver,
)
from gitops.state import RedisStore
from gitops.state.deliveries import RedisDeliveries
from web.app import create_app
from web.auth import Principal, Role
from web.context import WebContext
from web.settings import WebSettings
from web.webhooks.wiring import attach
from workers.redis_server import RedisServer

PAYLOADS = Path(__file__).parent / "payloads"
SECRETS = {"github-main": "gh-secret-1", "github-other": "gh-secret-2", "gitlab": "gl-token-3",
           "gitea": "gt-secret-4", "bbs": "bbs-secret-5", "bbc": "bbc-secret-6", "generic": "gen-secret-7"}
MAIN = {"github": "github-main", "gitlab": "gitlab", "gitea": "gitea", "bitbucket-server": "bbs",
        "bitbucket-cloud": "bbc", "generic": "generic"}
EVENTS = {"github": "push", "gitea": "push", "gitlab": "Push Hook", "bitbucket-server": "repo:refs_changed",
          "bitbucket-cloud": "repo:push", "generic": ""}
MAX_BODY = 64 * 1024


def env_name(receiver: str) -> str:
    return "WH_" + receiver.upper().replace("-", "_")


def _app(name: str, repository: str, path: str, cluster: str = "prod",
         revision: str | None = None) -> Application:
    return Application(name, AppSource(repository, path, revision), Destination(cluster, "default"))


def webhook_fleet() -> Fleet:
    repositories = [
        Repository("hello", "ssh://git@GitHub.com:22/Codertocat/Hello-World"),
        Repository("other", "https://github.com/Codertocat/Other.git"),
        Repository("diaspora", "git@example.com:mike/diaspora.git", ref="master"),
        Repository("example", "https://example.com/jsmith/example", ref="master"),
        Repository("webhooks", "https://localhost:3000/gitea/webhooks.git", ref="master"),
        Repository("bbs", "https://bitbucket.example.com/scm/PROJ/repository.git", ref="master"),
        Repository("bbc", "git@bitbucket.org:team/deploy.git"),
        Repository("gen", "https://git.example.com/org/repo.git"),
    ]
    apps = [
        _app("web", "hello", "apps/web"), _app("api", "hello", "apps/api"),
        _app("api-staging", "hello", "apps/api", "staging", "staging"),
        _app("web-v1", "hello", "apps/web", revision="v1.0.0"),
        _app("other-app", "other", "."),
        _app("dia", "diaspora", "."),
        _app("ex-v1", "example", ".", revision="v1.0.0"), _app("ex-main", "example", "."),
        _app("gitea-dev", "webhooks", "overlays/dev", "staging", "develop"),
        _app("gitea-prod", "webhooks", "overlays/prod"),
        _app("bbs-app", "bbs", "k8s"), _app("bbc-app", "bbc", "k8s"),
        _app("gen-app", "gen", "apps/gen"), _app("gen-two", "gen", "apps/two"),
    ]
    receivers = [
        WebhookReceiver("github-main", "github", SecretRef(env=env_name("github-main"))),
        WebhookReceiver("github-other", "github", SecretRef(env=env_name("github-other")), ("other",)),
        WebhookReceiver("gitlab", "gitlab", SecretRef(env=env_name("gitlab"))),
        WebhookReceiver("gitea", "gitea", SecretRef(env=env_name("gitea"))),
        WebhookReceiver("bbs", "bitbucket-server", SecretRef(env=env_name("bbs"))),
        WebhookReceiver("bbc", "bitbucket-cloud", SecretRef(env=env_name("bbc"))),
        WebhookReceiver("generic", "generic", SecretRef(env=env_name("generic"))),
    ]
    clusters = [Cluster("prod", {"env": "prod"}), Cluster("staging", {"env": "staging"})]
    return Fleet({r.name: r for r in repositories}, {c.name: c for c in clusters},
                 {a.name: a for a in apps}, {r.name: r for r in receivers})


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return loaded


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class RoleHeader:
    """``X-Test-Role: viewer|operator|admin`` (as an API token would be); ``X-Test-Scope: k=v``."""

    def authenticate(self, request: Request) -> Principal | None:
        role = request.headers.get("x-test-role")
        if not role:
            return None
        scope = request.headers.get("x-test-scope")
        pairs = dict([scope.split("=", 1)]) if scope else None
        return Principal(name=f"test-{role}", role=Role.parse(role), via="token", scope=pairs)


@dataclass
class Hooks:
    """The app with webhook receivers over a real Redis; ``send`` posts signed deliveries."""

    client: TestClient
    ctx: WebContext
    actions: Any
    store: RedisDeliveries

    def headers(self, provider: str, body: bytes, *, secret: str | None = None, event: str | None = None,
                delivery: str | None = None) -> dict[str, str]:
        secret = SECRETS[MAIN[provider]] if secret is None else secret
        event = EVENTS[provider] if event is None else event
        delivery = str(uuid.uuid4()) if delivery is None else delivery
        digest = sign(secret, body)
        if provider == "github":
            return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                    "X-Hub-Signature-256": f"sha256={digest}", "User-Agent": "GitHub-Hookshot/044aadd"}
        if provider == "gitea":
            return {"X-Gitea-Event": event, "X-Gitea-Delivery": delivery, "X-GitHub-Event": event,
                    "X-Hub-Signature-256": f"sha256={digest}", "X-Gitea-Signature": digest}
        if provider == "gitlab":
            return {"X-Gitlab-Event": event, "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": delivery,
                    "User-Agent": "GitLab/16.9.0"}
        if provider == "bitbucket-server":
            return {"X-Event-Key": event, "X-Request-Id": delivery, "X-Hub-Signature": f"sha256={digest}"}
        if provider == "bitbucket-cloud":
            return {"X-Event-Key": event, "X-Request-UUID": delivery, "X-Hook-UUID": str(uuid.uuid4()),
                    "X-Hub-Signature": f"sha256={digest}", "User-Agent": "Bitbucket-Webhooks/2.0"}
        return {"X-Delivery-Id": delivery, "X-Hub-Signature-256": f"sha256={digest}"}

    def send(self, provider: str, data: Mapping[str, Any] | bytes, *, path: str | None = None,
             secret: str | None = None, event: str | None = None, delivery: str | None = None,
             content_type: str | None = "application/json", headers: Mapping[str, str | None] | None = None
             ) -> httpx.Response:
        """POST ``data`` (a payload, serialised here, or raw bytes) to ``/api/v1/webhooks/<path or
        provider>`` signed with ``secret`` (default: the provider's main receiver's); ``headers``
        override (a None value removes a header)."""
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        sent = self.headers(provider, body, secret=secret, event=event, delivery=delivery)
        if content_type is not None:
            sent["Content-Type"] = content_type
        for name, value in (headers or {}).items():
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            if value is not None:
                sent[name] = value
        answer: httpx.Response = self.client.post(f"/api/v1/webhooks/{path or provider}", content=body,
                                                  headers=sent)
        return answer

    def reconciles(self) -> list[tuple[str, str]]:
        return [(app, cluster) for kind, app, cluster, _ in self.actions.calls if kind == "reconcile"]


def make_hooks(redis_server: RedisServer, actions: Any, monkeypatch: pytest.MonkeyPatch,
               fleet: Fleet | None = None) -> Hooks:
    for receiver, secret in SECRETS.items():
        monkeypatch.setenv(env_name(receiver), secret)
    prefix = f"gitops:v1:test-{uuid.uuid4().hex[:12]}:"
    chosen = fleet or webhook_fleet()
    ctx = WebContext(settings=WebSettings(max_body=MAX_BODY, replay_seconds=3600.0),
                     state=RedisStore.from_url(redis_server.url, prefix=prefix), fleet=lambda: chosen,
                     actions=actions, clock=ManualClock(start=1_800_000_000.0),
                     extras={"authenticator": RoleHeader()})
    attach(ctx, redis_server.url, prefix=prefix)
    assert isinstance(ctx.deliveries, RedisDeliveries)
    return Hooks(TestClient(create_app(ctx)), ctx, actions, ctx.deliveries)
