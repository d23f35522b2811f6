"""Helpers of the dashboard tests (imported by them and by conftest.py): users with session CSRF
tokens, a fleet builder, a writer of statuses and operations as the workers write them, and the
:class:`Dashboard` under test.

The authenticator is a stand-in for web/auth's sessions: the cookie ``test-user`` names one of
:data:`USERS`, each a session principal with its own CSRF token, so the pages' forms and the CSRF
check of ``require(..., unsafe=True)`` run as they do for a logged-in user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from gitops.domain import Application, AppSource, Cluster, Destination, Fleet, Repository
from gitops.errors import Failure
from gitops.results import ImageCheck
from gitops.state import DriftRecord, ObjectRecord, Operation, RedisStore, TargetStatus
from gitops.state.access import RedisAuditLog
from gitops.state.deliveries import RedisDeliveries
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from web.auth import Principal, Role
from web.context import WebContext

if TYPE_CHECKING:  # imported by conftest.py first, where Starlette's import-time notice is silenced
    from fastapi.testclient import TestClient

NOW = 1_750_000_000.0
REVISION = "3f2a9c1d4b5e6f708192a3b4c5d6e7f809102030"

USERS: dict[str, Principal] = {
    "viewer": Principal("vera", Role.VIEWER, "session", csrf="csrf-vera"),
    "operator": Principal("otto", Role.OPERATOR, "session", csrf="csrf-otto"),
    "admin": Principal("ada", Role.ADMIN, "session", csrf="csrf-ada"),
    "payments": Principal("pat", Role.OPERATOR, "session", scope={"team": "payments"}, csrf="csrf-pat"),
}


class CookieAuthenticator:
    """A session per ``test-user`` cookie (one of :data:`USERS`); no cookie: nobody."""

    def authenticate(self, request: Request) -> Principal | None:
        return USERS.get(request.cookies.get("test-user", ""))


def fleet_of(apps: Mapping[str, Mapping[str, str]], clusters: Mapping[str, Mapping[str, str]],
             placement: Mapping[str, str] | None = None) -> Fleet:
    """A fleet of ``apps`` (name -> labels) and ``clusters`` (name -> labels); each application is
    placed on ``placement[app]`` or the first cluster."""
    first = next(iter(clusters))
    return Fleet(
        repositories={"apps": Repository("apps", "https://git.example.com/org/apps.git")},
        clusters={name: Cluster(name, labels=dict(labels), server=f"https://{name}.k8s.example.com:6443",
                                token_env="TOKEN_" + name.upper().replace("-", "_"))
                  for name, labels in clusters.items()},
        applications={name: Application(name, AppSource("apps", path=f"apps/{name}"),
                                        Destination((placement or {}).get(name, first)), labels=dict(labels))
                      for name, labels in apps.items()})


@dataclass
class Writer:
    """Writes targets' statuses and operations to the store as a worker would."""

    store: RedisStore
    count: int = field(default=0)

    def target(self, app: str, cluster: str, *, sync: SyncStatus = SyncStatus.SYNCED,
               health: HealthStatus = HealthStatus.HEALTHY, revision: str | None = REVISION,
               drift: tuple[DriftRecord, ...] = (), objects: tuple[ObjectRecord, ...] = (),
               failure: Failure | None = None, spans: tuple[SpanRecord, ...] = (),
               trigger: Trigger = Trigger.POLL, trigger_detail: str | None = None,
               at: float = NOW - 300, corrected: tuple[DriftRecord, ...] = (),
               verification: tuple[ImageCheck, ...] | None = None) -> Operation:
        self.count += 1
        operation = Operation(
            id=f"op-{self.count}", application=app, cluster=cluster, trigger=trigger,
            phase=OperationPhase.FAILED if failure else OperationPhase.SUCCEEDED, revision=revision,
            started=at - 2.5, finished=at, objects=objects, error=failure.message if failure else None,
            failure=failure, spans=spans, trigger_detail=trigger_detail, corrected=corrected)
        status = TargetStatus(app, cluster, revision=revision, sync=sync, health=health,
                              drift_count=len(drift), drift=drift,
                              error=failure.message if failure else None,
                              temporary=bool(failure and failure.temporary), operation=operation.id,
                              reconciled_at=at, failure=failure, verification=verification)
        self.store.record(status, operation)
        return operation

    def running(self, app: str, cluster: str, *, at: float = NOW - 5) -> Operation:
        self.count += 1
        operation = Operation(id=f"op-{self.count}", application=app, cluster=cluster,
                              trigger=Trigger.MANUAL, phase=OperationPhase.RUNNING, revision=REVISION,
                              started=at, trigger_detail="otto via dashboard")
        self.store.begin(operation)
        return operation


@dataclass
class Dashboard:
    """The app under test and what it is made of."""

    ctx: WebContext
    client: TestClient
    store: RedisStore
    writer: Writer
    actions: Any
    deliveries: RedisDeliveries
    audit: RedisAuditLog

    def as_user(self, user: str | None) -> TestClient:
        self.client.cookies.clear()
        if user is not None:
            self.client.cookies.set("test-user", user)
        return self.client

    def use_fleet(self, fleet: Fleet) -> None:
        self.ctx.fleet = lambda: fleet


def hooks(html: str, testid: str) -> int:
    """How many elements of ``html`` carry ``data-testid="<testid>"``."""
    return len(re.findall(rf'data-testid="{re.escape(testid)}"', html))


class InertCheck(HTMLParser):
    """Collects what would make a page run code or carry inline style: a ``<script>`` without
    ``src``, a ``<style>`` element, a ``style=`` or ``on*=`` attribute, a ``javascript:`` URL, and
    the elements a payload would smuggle in (``img``, ``iframe``, ``object``, ``embed``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag in ("style", "img", "iframe", "object", "embed"):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")


def inert_problems(html: str) -> list[str]:
    """What :class:`InertCheck` finds in ``html`` (empty: the page is inert)."""
    check = InertCheck()
    check.feed(html)
    check.close()
    return check.problems


DEFAULT_APPS = {"checkout": {"team": "payments", "tier": "web"}, "ledger": {"team": "payments"},
                "search": {"team": "discovery"}}
DEFAULT_CLUSTERS = {"prod-eu": {"env": "prod", "region": "eu"}, "prod-us": {"env": "prod", "region": "us"},
                    "staging": {"env": "staging"}}
