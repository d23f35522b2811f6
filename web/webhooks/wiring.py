"""Attach webhook deliveries and receivers to a context (placeholder)."""

from __future__ import annotations

from web.context import WebContext


def attach(ctx: WebContext, redis_url: str | None) -> None:
    """Placeholder until the webhook work lands."""
