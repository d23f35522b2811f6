"""Logging in and out: the login methods, the login form's CSRF, throttling, and opening a session.

Called by the /login and /logout routes (web/auth/routes.py). Key design choice: proving who someone
is and opening a session are separate steps. A *login method* turns what the browser sent into an
:class:`Identity` (the local user it maps to, and the method's name); :func:`start_session` then does
the same for every method: a fresh random session id (never one the client sent: no session fixation),
the old session closed, the cookie set with its flags, the login audited. The local password form is
the one method built (:class:`LocalPasswords`); an OIDC provider would be a :class:`RedirectLogin`
(``begin`` sends the browser to the provider, ``finish`` checks the callback and maps the ID token's
claims to a local user) with its two routes calling :func:`start_session`; the login page already
lists ``ctx.extras["login_methods"]`` as buttons. docs/access-control.md has the recipe.

The form's CSRF token is bound to a pre-session cookie: ``gitops_login`` holds a random value and the
form carries its HMAC under a key shared by every web server of the store, so a cross-site form cannot
log a victim into the attacker's account (login CSRF). Failed logins are counted per user and address
and per address (:data:`USER_LIMIT`, :data:`ADDRESS_LIMIT` in :data:`WINDOW`); over the limit the
password is not even checked. Unknown users cost the same argon2 work as known ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from gitops.state.access import Accounts, AuditLog, Session
from web.auth.authenticator import SESSION_COOKIE, session_cookie
from web.auth.passwords import Passwords
from web.settings import WebSettings

LOGIN_COOKIE = "gitops_login"
LOGIN_COOKIE_SECONDS = 3600
USER_LIMIT = 5             # failed logins per user and address in a window
ADDRESS_LIMIT = 50         # failed logins per address (any user names) in a window
WINDOW = 15 * 60.0
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_UNSAFE_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True)
class Identity:
    """Who logged in: ``name`` of the local user, ``method`` that proved it (``password``, ``oidc:x``)."""

    name: str
    method: str


class PasswordLogin(Protocol):
    """A login method checking a name and a password (the local users; LDAP would be another)."""

    name: str

    def check(self, user: str, password: str) -> Identity | None: ...


class RedirectLogin(Protocol):
    """A login method at another site (OIDC): not built yet; the seam a provider plugs into."""

    name: str        # "oidc:corp": routes /login/oidc:corp and /login/oidc:corp/callback
    label: str       # the login page's button: "Log in with Corp SSO"

    def begin(self, request: Request, next_path: str) -> str:
        """The provider's authorization URL (state and nonce bound to a pre-session cookie)."""

    def finish(self, request: Request) -> Identity | None:
        """Check the callback (state, code exchange, ID token signature, audience, expiry, nonce) and
        map its claims to a local user; None when it does not prove anyone."""


@dataclass
class LocalPasswords:
    """Local users with argon2 password hashes; rehashes a password whose hash used old parameters."""

    accounts: Accounts
    passwords: Passwords
    name: str = "password"

    def check(self, user: str, password: str) -> Identity | None:
        found = self.accounts.user(user)
        usable = found is not None and not found.disabled
        verdict = self.passwords.check(found.password_hash if found is not None and usable else None,
                                       password)
        if not verdict.ok or found is None:
            return None
        if verdict.rehash is not None:
            self.accounts.set_password(found.name, verdict.rehash)
        return Identity(found.name, self.name)


def remote(request: Request) -> str:
    """The caller's address (behind a proxy: what uvicorn's --forwarded-allow-ips lets through)."""
    return request.client.host if request.client else "unknown"


def safe_next(value: object) -> str:
    """``value`` when it is a path on this site, else ``/``: never another host (``//host``, ``/\\host``,
    a scheme, control characters or spaces browsers would strip)."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return "/"
    if value.startswith("//") or _UNSAFE_NEXT.search(value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# -- the login form's CSRF token -------------------------------------------------------------------


def _mac(accounts: Accounts, nonce: str) -> str:
    digest = hmac.new(accounts.signing_key("login-csrf"), nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def login_csrf(request: Request, accounts: Accounts) -> tuple[str, str]:
    """The pre-session cookie's value (the browser's, or a new one) and the form's CSRF token bound to
    it; set the cookie with :func:`set_login_cookie`."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not _NONCE.match(nonce):
        nonce = secrets.token_urlsafe(32)
    return nonce, _mac(accounts, nonce)


def set_login_cookie(response: Response, nonce: str, settings: WebSettings) -> None:
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_COOKIE_SECONDS, path="/", httponly=True,
                        samesite="lax", secure=settings.secure_cookies)


def login_csrf_ok(request: Request, accounts: Accounts, sent: object) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not isinstance(sent, str) or not sent or not _NONCE.match(nonce):
        return False
    return hmac.compare_digest(sent.encode(), _mac(accounts, nonce).encode())


# -- throttling ------------------------------------------------------------------------------------


def _keys(user: str, address: str) -> tuple[str, str]:
    return f"login\0{user[:128]}\0{address}", f"login-address\0{address}"


def throttled(accounts: Accounts, user: str, address: str) -> bool:
    by_user, by_address = _keys(user, address)
    return accounts.failures(by_user) >= USER_LIMIT or accounts.failures(by_address) >= ADDRESS_LIMIT


def note_failure(accounts: Accounts, user: str, address: str) -> bool:
    """Count a failed login; True when this one reached a limit."""
    by_user, by_address = _keys(user, address)
    return (accounts.note_failure(by_user, WINDOW) == USER_LIMIT
            or accounts.note_failure(by_address, WINDOW) == ADDRESS_LIMIT)


def clear_failures(accounts: Accounts, user: str, address: str) -> None:
    accounts.clear_failures(_keys(user, address)[0])


# -- sessions --------------------------------------------------------------------------------------


def start_session(request: Request, response: Response, identity: Identity, *, accounts: Accounts,
                  audit: AuditLog, settings: WebSettings) -> Session:
    """Open a new session for ``identity`` (whatever method proved it): close the one the browser
    had, set the cookie, audit the login."""
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.close_session(old)
    session = accounts.open_session(identity.name, settings.session_seconds, method=identity.method)
    session_cookie(response, settings, session.id, int(settings.session_seconds))
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=settings.secure_cookies)
    audit.record(actor=identity.name, action="login", target=identity.name,
                 detail=f"method={identity.method}", remote=remote(request))
    return session
