"""Helpers of the API tests: a configured fleet, records as the workers write them, the app under test.

``make_world`` builds the app under test: a :class:`WebContext` over a :class:`RedisStore` (its own key prefix
on the session's redis-server, so tests never see each other's records), a fleet of repositories,
clusters and applications with labels, the ``actions`` recorder of tests/web/conftest.py, a real audit
log (``RedisAuditLog``) and :class:`RoleAuthenticator`. Records go in through ``RedisStore.record``,
the way the workers write them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from gitops.domain import Application, AppSource, Cluster, Destination, Fleet, Repository, SyncPolicy
from gitops.errors import Failure
from gitops.results import ImageCheck
from gitops.state import DriftRecord, ObjectRecord, Operation, RedisStore, TargetStatus
from gitops.state.access import RedisAuditLog
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from web.app import create_app
from web.auth import Principal, Role
from web.context import WebContext
from web.settings import WebSettings
from workers.redis_server import RedisServer

REV_A = "a1b2c3d4" + "0" * 32
REV_B = "b2c3d4e5" + "1" * 32
CSRF = "csrf-token-of-the-session"


class RoleAuthenticator:
    """``X-Test-Role: viewer|operator|admin`` as an API token (like tests/web/conftest.py's
    HeaderAuthenticator), plus ``X-Test-Scope: team=a,env=x`` for a scoped principal and
    ``X-Test-Via: session`` for a cookie session whose CSRF token is :data:`CSRF`."""

    def authenticate(self, request: Request) -> Principal | None:
        role = request.headers.get("x-test-role")
        if not role:
            return None
        scope_text = request.headers.get("x-test-scope")
        scope = dict(p.split("=", 1) for p in scope_text.split(",")) if scope_text else None
        via = request.headers.get("x-test-via", "token")
        return Principal(name=f"test-{role}", role=Role.parse(role), via=via, scope=scope,
                         csrf=CSRF if via == "session" else None)


VIEWER = {"X-Test-Role": "viewer"}
OPERATOR = {"X-Test-Role": "operator"}
TEAM_A = {"X-Test-Role": "operator", "X-Test-Scope": "team=a"}


def app_of(name: str, cluster: str, *, repository: str = "apps", labels: Mapping[str, str] | None = None,
           ) -> Application:
    return Application(name=name, source=AppSource(repository=repository, path=f"apps/{name}"),
                       destination=Destination(cluster=cluster, namespace=name),
                       sync_policy=SyncPolicy(automated=True, prune=True), labels=dict(labels or {}))


def default_fleet() -> Fleet:
    repositories = {
        "apps": Repository("apps", "https://deploy:s3cr3t-token@git.example.com/org/apps.git"),
        "infra": Repository("infra", "https://git.example.com/org/infra.git"),
    }
    clusters = {
        "prod-eu": Cluster("prod-eu", labels={"env": "prod", "region": "eu"},
                           server="https://admin:kube-pass@k8s-eu.example.com:6443", token_env="EU_TOKEN",
                           token_file="/run/secrets/eu-token"),
        "prod-us": Cluster("prod-us", labels={"env": "prod", "region": "us"},
                           kubeconfig="/etc/gitops/kubeconfig-us", context="us-admin"),
        "staging": Cluster("staging", labels={"env": "staging"}, server="https://k8s-staging.example.com"),
    }
    applications = {
        "web": app_of("web", "prod-eu", labels={"team": "a", "tier": "web"}),
        "api": app_of("api", "prod-us", labels={"team": "a", "tier": "backend"}),
        "db": app_of("db", "staging", repository="infra", labels={"team": "b", "tier": "data"}),
        "cache": app_of("cache", "prod-eu", repository="infra",
                        labels={"team": "b", "note": "<script>alert(1)</script>"}),
    }
    return Fleet(repositories=repositories, clusters=clusters, applications=applications)


def status_of(app: str, cluster: str, *, sync: SyncStatus = SyncStatus.SYNCED,
              health: HealthStatus = HealthStatus.HEALTHY, revision: str | None = REV_A,
              drift: Sequence[DriftRecord] = (), drift_count: int | None = None,
              failure: Failure | None = None, operation: str | None = None, at: float = 1000.0,
              verification: tuple[ImageCheck, ...] | None = None) -> TargetStatus:
    return TargetStatus(application=app, cluster=cluster, revision=revision, sync=sync, health=health,
                        drift_count=len(drift) if drift_count is None else drift_count, drift=tuple(drift),
                        error=None if failure is None else failure.message,
                        temporary=failure is not None and failure.temporary,
                        operation=operation or f"op-{app}-{cluster}", reconciled_at=at, failure=failure,
                        verification=verification)


def operation_of(app: str, cluster: str, *, op_id: str | None = None, revision: str | None = REV_A,
                 started: float = 990.0, finished: float | None = 1000.0,
                 phase: OperationPhase = OperationPhase.SUCCEEDED, trigger: Trigger = Trigger.POLL,
                 objects: Sequence[ObjectRecord] = (), spans: Sequence[SpanRecord] = (),
                 failure: Failure | None = None, **extra: object) -> Operation:
    return Operation(id=op_id or f"op-{app}-{cluster}", application=app, cluster=cluster, trigger=trigger,
                     phase=phase, revision=revision, started=started, finished=finished,
                     objects=tuple(objects), spans=tuple(spans), failure=failure,
                     error=None if failure is None else failure.message, **extra)  # type: ignore[arg-type]


@dataclass
class World:
    """The app under test and what it reads and writes."""

    client: TestClient
    app: FastAPI
    store: RedisStore
    ctx: WebContext
    fleet: Fleet
    audit: RedisAuditLog
    redis_url: str
    closers: list[Callable[[], object]] = field(default_factory=list)

    def __enter__(self) -> World:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.client.__exit__(None, None, None)
        finally:
            self.close()

    def close(self) -> None:
        """Close every Redis connection the world opened (no socket is left to the collector)."""
        for close in (self.store.redis.close, self.audit.redis.close, *self.closers):
            close()

    def record(self, status: TargetStatus | None, operation: Operation) -> None:
        self.store.record(status, operation)

    def put(self, app: str, cluster: str, **kw: object) -> TargetStatus:
        """A status and the finished operation that wrote it, like a worker after a reconcile."""
        if "op_id" in kw:
            kw["operation"] = kw.pop("op_id")
        op_keys = {"objects", "spans", "trigger", "started", "phase", "trigger_detail", "corrected"}
        op_kw = {k: v for k, v in kw.items() if k in op_keys}
        st_kw = {k: v for k, v in kw.items() if k not in op_keys}
        status = status_of(app, cluster, **st_kw)  # type: ignore[arg-type]
        op = operation_of(app, cluster, op_id=status.operation, revision=status.revision,
                          finished=status.reconciled_at, failure=status.failure, **op_kw)  # type: ignore[arg-type]
        self.record(status, op)
        return status


def make_store(server: RedisServer) -> RedisStore:
    return RedisStore.from_url(server.url, prefix=f"gitops:v1:test-{uuid.uuid4().hex[:12]}:")


def make_world(server: RedisServer, actions: object, *, fleet: Fleet | None = None,
               ctx_changes: Mapping[str, object] | None = None) -> World:
    store = make_store(server)
    fleet = fleet or default_fleet()
    audit = RedisAuditLog.from_url(server.url, prefix=store.keys.prefix)
    ctx = WebContext(settings=WebSettings(max_body=64 * 1024), state=store,
                     fleet=lambda: fleet, actions=actions, audit=audit,  # type: ignore[arg-type]
                     extras={"authenticator": RoleAuthenticator()})
    for key, value in (ctx_changes or {}).items():
        setattr(ctx, key, value)
    app = create_app(ctx)
    client = TestClient(app)
    return World(client=client, app=app, store=store, ctx=ctx, fleet=fleet, audit=audit,
                 redis_url=server.url)
