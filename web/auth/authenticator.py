"""The production :class:`web.auth.Authenticator`: session cookie, API token, or anonymous viewer.

Installed by :func:`web.auth.wiring.attach` as ``context.extras["authenticator"]``; called by
:func:`web.auth.require` on every protected route. Key design choice: the role comes from the user
record on every request (not from the session or the token), so demoting, disabling or deleting a user
takes effect at once; a token acts with the lower of its own role and its owner's. A request that
sends a bearer token gets exactly that token's answer (a wrong token is refused, never downgraded to
anonymous), while a stale session cookie falls back to anonymous access when that is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from gitops.state.access import Accounts, User, hash_secret
from web.auth import Principal, Role
from web.settings import WebSettings

SESSION_COOKIE = "gitops_session"
ANONYMOUS = "anonymous"


def session_cookie(response: Response, settings: WebSettings, value: str, max_age: int) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Path=/, Secure unless turned off."""
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=settings.secure_cookies)


def clear_session_cookie(response: Response, settings: WebSettings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=settings.secure_cookies)


def bearer(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (None without the header; "" when malformed)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _principal(user: User | None, via: str, *, ceiling: str | None = None,
               csrf: str | None = None) -> Principal | None:
    if user is None or user.disabled:
        return None
    role = Role.parse(user.role)
    if ceiling is not None:
        role = min(role, Role.parse(ceiling))
    return Principal(name=user.name, role=role, via=via, scope=dict(user.scope) or None, csrf=csrf)


@dataclass
class SessionAuthenticator:
    accounts: Accounts
    settings: WebSettings

    def authenticate(self, request: Request) -> Principal | None:
        token = bearer(request)
        if token is not None:
            return self.from_token(token)
        found = self.from_session(request.cookies.get(SESSION_COOKIE))
        if found is not None:
            return found
        if self.settings.anonymous_viewer:
            return Principal(name=ANONYMOUS, role=Role.VIEWER, via="anonymous")
        return None

    def from_token(self, secret: str) -> Principal | None:
        if not secret or len(secret) > 200:
            return None
        token = self.accounts.token_by_hash(hash_secret(secret), touch=True)
        if token is None:
            return None
        return _principal(self.accounts.user(token.owner), "token", ceiling=token.role)

    def from_session(self, session_id: str | None) -> Principal | None:
        if not session_id:
            return None
        session = self.accounts.session(session_id)
        if session is None:
            return None
        return _principal(self.accounts.user(session.user), "session", csrf=session.csrf)
