"""Attach accounts, the audit log, password hashing and the authenticator to a web context.

Called by :func:`web.wiring.production_context` (Redis) and by tests (a Redis of theirs, or None for the
in-memory implementations). Key design choice: everything the auth routes need hangs off the context
(``ctx.accounts``, ``ctx.audit``, ``ctx.extras["authenticator"]``, ``ctx.extras["passwords"]``), so a
test swaps any part (cheaper argon2 parameters, a manual clock) without touching the routes.
"""

from __future__ import annotations

from gitops.state.access import InMemoryAccounts, InMemoryAuditLog, RedisAccounts, RedisAuditLog
from web.auth.authenticator import SessionAuthenticator
from web.auth.passwords import Passwords
from web.context import WebContext


def attach(ctx: WebContext, redis_url: str | None, *, passwords: Passwords | None = None) -> None:
    """Set ``ctx.accounts``, ``ctx.audit``, ``ctx.extras["authenticator"]`` and ``["passwords"]``."""
    accounts: RedisAccounts | InMemoryAccounts
    audit: RedisAuditLog | InMemoryAuditLog
    if redis_url:
        shared = RedisAccounts.from_url(redis_url, clock=ctx.clock)
        accounts, audit = shared, RedisAuditLog(shared.redis, clock=ctx.clock)
    else:
        accounts, audit = InMemoryAccounts(clock=ctx.clock), InMemoryAuditLog(clock=ctx.clock)
    ctx.accounts, ctx.audit = accounts, audit
    ctx.extras["authenticator"] = SessionAuthenticator(accounts, ctx.settings)
    ctx.extras["passwords"] = passwords or Passwords()
