"""Who is asking, and may they: principals, roles, and the FastAPI dependencies every route uses.

Routes declare what they need with ``Depends(require(Role.OPERATOR))`` (reads) or
``Depends(require(Role.OPERATOR, unsafe=True))`` (actions: a cookie-authenticated request must also
carry the session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf`` form field). The
:class:`Authenticator` on the app's context (``context.extras["authenticator"]``) turns a request into
a :class:`Principal`: sessions (cookie), API tokens (``Authorization: Bearer``), anonymous viewer when
configured; web/auth/ implements it (local users with argon2 hashes; an OIDC login can be added as
one more way to open a session). Key design choice: one check for pages and API alike; an API
request without credentials gets 401 problem+json, a page a redirect to /login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from gitops.domain import Application
from web.problems import HTTPProblem


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2   # sync, refresh
    ADMIN = 3      # users, tokens, everything

    @staticmethod
    def parse(text: str) -> Role:
        try:
            return Role[text.upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: viewer, operator or admin") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``scope``: when set, only applications whose labels include every
    pair are visible and actionable. ``csrf``: the session's CSRF token (sessions only)."""

    name: str
    role: Role
    via: str                     # "session" | "token" | "anonymous" (| "cli": gitops user/token)
    scope: Mapping[str, str] | None = field(default=None, hash=False)
    csrf: str | None = None

    def can(self, role: Role) -> bool:
        return self.role >= role

    def may_see(self, application: Application) -> bool:
        if not self.scope:
            return True
        return all(application.labels.get(k) == v for k, v in self.scope.items())


class Authenticator(Protocol):
    def authenticate(self, request: Request) -> Principal | None:
        """The caller of ``request``, or None when it carries no valid credentials."""


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _authenticator(request: Request) -> Authenticator:
    found: Authenticator = request.app.state.context.extras["authenticator"]
    return found


async def _csrf_token(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                            "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


def require(role: Role, *, unsafe: bool = False) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency returning the caller when it has ``role``: 401 (API) or a redirect to the login
    page (pages) without credentials, 403 with too low a role or a missing/wrong CSRF token."""

    async def dependency(request: Request) -> Principal:
        # the authenticator reads Redis (session, token, the user's current role): off the event loop
        found = await run_in_threadpool(_authenticator(request).authenticate, request)
        if found is None:
            if is_api(request):
                raise HTTPProblem(401, "Unauthorized", "log in or send an API token",
                                  headers={"WWW-Authenticate": 'Bearer realm="gitops"'})
            raise HTTPProblem(303, "See Other", headers={"Location": "/login?next=" + _next(request)})
        if not found.can(role):
            raise HTTPProblem(403, "Forbidden", f"{found.name} is {found.role}; this needs {role}")
        if unsafe and found.via == "session":
            sent = await _csrf_token(request)
            import hmac

            if not sent or not found.csrf or not hmac.compare_digest(sent, found.csrf):
                raise HTTPProblem(403, "Forbidden", "missing or wrong CSRF token")
        return found

    return dependency


def _next(request: Request) -> str:
    from urllib.parse import quote

    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return quote(path[:1000], safe="")
