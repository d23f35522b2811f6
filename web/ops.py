"""/healthz, /readyz and /metrics: what load balancers, orchestrators and Prometheus ask a web server.

Included by :func:`web.app.create_app` at the root (not under /api/v1), without authentication:
probes and scrapers carry no credentials. ``/healthz`` says the process serves requests (it touches
nothing else, so a Redis outage never gets the process restarted); ``/readyz`` checks the state
store answers a PING and the configuration is loaded (503 problem+json naming what failed, so a load
balancer stops sending traffic); ``/metrics`` is the Prometheus text format of one
:class:`CollectorRegistry` per app: this process's requests (:class:`RequestMetrics`, by route
template, never by raw path, so hostile URLs cannot blow up the label set), the workers' figures
(``ctx.metrics``, attached by :func:`attach_metrics`: reconcile durations, sync results, lead time,
queue depths, targets by sync and health, drifted and failed targets; without them,
:class:`IndexCollector` gives the target figures from the index) and any collectors listed in
``ctx.extras["collectors"]`` (the webhook receivers' deliveries).

Key design choice: the registry is the app's own, never prometheus_client's global one, so two apps
in one process (tests) never collide, and it is assembled on first use, when every package has
attached its part. The figures are aggregates and names; keep /metrics on the network Prometheus
scrapes from.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitops.errors import GitOpsError
from gitops.state.index import TargetIndex
from web.context import WebContext, context
from web.problems import HTTPProblem
from workers.metrics import RedisMetrics
from workers.settings import QUEUES, Shards

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class IndexCollector(Collector):
    """Targets by sync status and health, drifted and failed targets, from the index's counts (one
    script in Redis per scrape), under the names the workers' collector uses for the same figures
    (``workers.metrics.RedisMetrics``, which reads the same index), and ``gitops_web_state_up`` (0 when
    the store did not answer). Registered only when ``ctx.metrics`` is not set, so no series is ever
    exposed twice."""

    def __init__(self, index: TargetIndex) -> None:
        self.index = index

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("gitops_web_state_up", "1 when the state store answered this scrape")
        try:
            counts = self.index.counts()
        except GitOpsError as exc:
            log.warning("metrics: target counts unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        sync = GaugeMetricFamily("gitops_targets", "Targets (application x cluster) by sync status.",
                                 labels=["sync"])
        for name, value in sorted(counts.sync.items()):
            sync.add_metric([name], value)
        yield sync
        health = GaugeMetricFamily("gitops_targets_by_health", "Targets by health.", labels=["health"])
        for name, value in sorted(counts.health.items()):
            health.add_metric([name], value)
        yield health
        yield GaugeMetricFamily("gitops_drifted_targets", "Targets with at least one drifted field.",
                                counts.drifted)
        yield GaugeMetricFamily("gitops_failed_targets", "Targets whose last operation failed.",
                                counts.failed)


class WebMetrics:
    """The app's registry and this process's request metrics; the rest is registered on first use."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("gitops_web_requests", "HTTP requests answered, by route template",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("gitops_web_request_duration_seconds",
                                  "Time to the first byte of the answer, by route template",
                                  ["method", "route"], registry=self.registry,
                                  buckets=(.005, .01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5, 10))
        self._assembled = False
        self._lock = threading.Lock()

    def assemble(self, ctx: WebContext) -> CollectorRegistry:
        """The registry with the index, the workers' and the extra collectors (once)."""
        with self._lock:
            if not self._assembled:
                # the workers' collector reads the same index counts: one of the two, never both
                self.registry.register(ctx.metrics if ctx.metrics is not None else IndexCollector(ctx.state))
                for collector in ctx.extras.get("collectors", []):
                    self.registry.register(collector)
                self._assembled = True
        return self.registry

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


def metrics_of(app: FastAPI) -> WebMetrics:
    found: WebMetrics | None = getattr(app.state, "web_metrics", None)
    if found is None:
        found = WebMetrics()
        app.state.web_metrics = found
    return found


def _route(scope: Scope) -> str:
    """The template of the route that answered (``/api/v1/applications/{app}``), ``unmatched`` when
    none did. The route object knows its own path only (an included router's prefix is not in it), so
    the prefix is the request path's leading segments before the ones the route's path matched: a
    literal prefix of an included router, never a value from the caller."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    if ":path}" in path or not path.startswith("/"):
        return path
    asked = str(scope.get("path", "")).split("/")
    own = path.split("/")
    if len(asked) < len(own):
        return path
    return "/".join(asked[:len(asked) - len(own) + 1]) + path


class RequestMetrics:
    """ASGI middleware: count each HTTP request and time it to its first answer byte, labelled by
    the route template that matched (``unmatched`` otherwise)."""

    def __init__(self, app: ASGIApp, metrics: WebMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        answered = False

        async def timed_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start" and not answered:
                status, answered = int(message["status"]), True
                self.metrics.observe(scope["method"], _route(scope), status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not answered:
                self.metrics.observe(scope["method"], _route(scope), status, time.perf_counter() - started)


def install(app: FastAPI) -> None:
    """Count and time every request of ``app`` (called once by :func:`web.app.create_app`)."""
    app.add_middleware(RequestMetrics, metrics=metrics_of(app))


def attach_metrics(ctx: WebContext, redis_url: str) -> None:
    """Set ``ctx.metrics`` to the workers' figures read from Redis (production wiring): reconcile
    durations, sync results, commit-to-applied lead time, queue depths and the index's target counts
    (docs/observability.md)."""
    shards = Shards.of(ctx.fleet().clusters.values())  # their queues' depths too (docs/workers.md)
    ctx.metrics = RedisMetrics.from_url(redis_url, queues=QUEUES + shards.queues())


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    """The process answers (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="Readiness",
            responses={503: {"description": "not ready (problem+json with the failed checks)"}})
def readyz(ctx: Annotated[WebContext, Depends(context)]) -> Readiness:
    """Ready when the state store answers a PING and the configuration is loaded."""
    checks: dict[str, str] = {}
    try:
        checks["state"] = "ok" if ctx.state.ping() else "no answer"
    except Exception as exc:  # any failure of the probe means "not ready"
        checks["state"] = f"failed: {type(exc).__name__}"
    try:
        ctx.fleet()
        checks["configuration"] = "ok"
    except Exception as exc:
        checks["configuration"] = f"failed: {type(exc).__name__}"
    if any(v != "ok" for v in checks.values()):
        failed = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
        raise HTTPProblem(503, "Not ready", failed, headers={"Retry-After": "5"}, checks=checks)
    return Readiness(status="ready", checks=checks)


@router.get("/metrics", summary="Prometheus metrics (no authentication)", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}})
def metrics(request: Request, ctx: Annotated[WebContext, Depends(context)]) -> Response:
    """The app's metrics in the Prometheus text exposition format."""
    registry = metrics_of(request.app).assemble(ctx)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
