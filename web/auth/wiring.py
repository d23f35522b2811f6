"""Attach accounts, the audit log and the authenticator to a context (placeholder)."""

from __future__ import annotations

from web.context import WebContext


def attach(ctx: WebContext, redis_url: str | None) -> None:
    """Placeholder until the access-control work lands."""
