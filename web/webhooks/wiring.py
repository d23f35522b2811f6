"""Attach the webhook deliveries store and metrics to a web context.

Called by :func:`web.wiring.production_context` (Redis) and by tests (a Redis of theirs, or None for
the in-memory store). Receivers are not attached: they come from the configuration on every delivery
(``ctx.fleet().receivers``), so the routes always see the fleet the context serves. Key design choice:
the deliveries counter lives on a registry of its own, handed to /metrics through
``ctx.extras["collectors"]``, so several apps in one process (tests) never share a counter.
"""

from __future__ import annotations

from gitops.state.deliveries import InMemoryDeliveries, RedisDeliveries
from gitops.state.names import DEFAULT_PREFIX
from web.context import WebContext
from web.webhooks.receive import WebhookMetrics

METRICS = "webhook_metrics"


def metrics_of(ctx: WebContext) -> WebhookMetrics:
    """The context's webhook metrics, created (and listed in ``extras["collectors"]``) on first use."""
    found = ctx.extras.get(METRICS)
    if not isinstance(found, WebhookMetrics):
        found = WebhookMetrics()
        ctx.extras[METRICS] = found
        ctx.extras.setdefault("collectors", []).append(found.registry)
    return found


def attach(ctx: WebContext, redis_url: str | None, *, prefix: str = DEFAULT_PREFIX) -> None:
    """Set ``ctx.deliveries`` (Redis on ``redis_url`` under ``prefix``; in memory when None) and the
    deliveries counter."""
    ctx.deliveries = (RedisDeliveries.from_url(redis_url, prefix=prefix) if redis_url
                      else InMemoryDeliveries(clock=ctx.clock))
    metrics_of(ctx)
