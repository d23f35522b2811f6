"""Helpers of the access-control tests (importable: tests/web/auth/conftest.py puts this directory on
``sys.path``): :class:`Site`, the whole web app over a real Redis with the production authenticator
(web.auth.wiring.attach), cheap argon2 parameters and sample protected routes, seen as a browser sees
it over HTTPS (so Secure cookies are sent back); it logs in through the real form (GET /login for the
CSRF token, POST /login).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import httpx
from argon2 import PasswordHasher
from fastapi import APIRouter, Depends

from gitops.clock import ManualClock, poll_until
from gitops.domain import Application, AppSource, Destination, Fleet
from gitops.state import RedisStore
from gitops.state.access import RedisAccounts, RedisAuditLog
from web.auth import Principal, Role, require
from web.auth.passwords import Passwords
from web.context import WebContext
from web.settings import WebSettings
from workers.redis_server import RedisServer

# Starlette warns once, on import, that its TestClient prefers the httpx2 package; the locked
# environment has httpx (the client it still supports), so that one notice is not a failure here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sample_router() -> APIRouter:
    """A protected route per role: what the role matrix is tested on (reads and unsafe writes)."""
    router = APIRouter()

    @router.get("/api/v1/sample")
    def read(principal: Principal = Depends(require(Role.VIEWER))) -> dict[str, str]:
        return {"name": principal.name, "role": str(principal.role), "via": principal.via}

    @router.post("/api/v1/sample/operate")
    def operate(principal: Principal = Depends(require(Role.OPERATOR, unsafe=True))) -> dict[str, str]:
        return {"done": "operate", "by": principal.name}

    @router.post("/api/v1/sample/administer")
    def administer(principal: Principal = Depends(require(Role.ADMIN, unsafe=True))) -> dict[str, str]:
        return {"done": "administer", "by": principal.name}

    @router.get("/sample-page")
    def page(principal: Principal = Depends(require(Role.VIEWER))) -> dict[str, str]:
        return {"page": "ok", "name": principal.name}

    @router.post("/sample-page/act")
    def act(principal: Principal = Depends(require(Role.OPERATOR, unsafe=True))) -> dict[str, str]:
        return {"acted": principal.name}

    return router


def app_fleet() -> Fleet:
    def app(name: str, **labels: str) -> Application:
        return Application(name=name, source=AppSource(repository="repo", path=f"apps/{name}"),
                           destination=Destination(cluster="prod"), labels=labels)

    return Fleet(applications={"shop": app("shop", team="a"), "blog": app("blog", team="b")})


@dataclass
class Site:
    client: TestClient
    ctx: WebContext
    accounts: RedisAccounts
    audit: RedisAuditLog
    clock: ManualClock
    passwords: Passwords

    def add_user(self, name: str, role: str = "viewer", password: str = PASSWORD,
                 scope: dict[str, str] | None = None) -> None:
        assert self.accounts.add_user(name, password_hash=self.passwords.hash(password), role=role,
                                      scope=scope) is not None

    def login_form(self, next_path: str | None = None) -> str:
        """GET /login; the form's CSRF token."""
        got = self.client.get("/login", params={"next": next_path} if next_path else None,
                              follow_redirects=False)
        assert got.status_code == 200, got.text
        found = _CSRF.search(got.text)
        assert found is not None, got.text
        return found.group(1)

    def window_passes(self) -> None:
        """The login throttle's window runs out: Redis expires the counters (their TTL cut to 1 ms)."""
        keys = list(self.accounts.redis.scan_iter(match=f"{self.accounts.p}throttle:*"))
        for key in keys:
            self.accounts.redis.pexpire(key, 1)
        assert poll_until(lambda: not any(self.accounts.redis.exists(k) for k in keys), timeout=10,
                          every=0.002)

    def post_login(self, name: str, password: str = PASSWORD, *, csrf: str | None = None,
                   next_path: str | None = None, **extra: str) -> httpx.Response:
        data = {"name": name, "password": password, **extra}
        if csrf is not None:
            data["csrf"] = csrf
        if next_path is not None:
            data["next"] = next_path
        answer: httpx.Response = self.client.post("/login", data=data, follow_redirects=False)
        return answer

    def login(self, name: str, password: str = PASSWORD) -> str:
        """Log in through the form; the session's CSRF token (from /api/v1/me)."""
        answer = self.post_login(name, password, csrf=self.login_form())
        assert answer.status_code == 303, answer.text
        me = self.client.get("/api/v1/me")
        assert me.status_code == 200, me.text
        csrf = me.json()["csrf"]
        assert isinstance(csrf, str)
        return csrf


def build_site(redis_server: RedisServer, *, anonymous_viewer: bool = False, secure_cookies: bool = True,
               base_url: str = "https://testserver", passwords: Passwords | None = None) -> Site:
    from web.app import create_app
    from web.auth.wiring import attach

    client = redis_server.client()
    client.flushdb()
    clock = ManualClock(start=1_800_000_000.0)
    store = RedisStore(client, clock=clock)
    fleet = app_fleet()
    ctx = WebContext(settings=WebSettings(anonymous_viewer=anonymous_viewer, secure_cookies=secure_cookies,
                                          max_body=64 * 1024),
                     state=store, fleet=lambda: fleet, actions=None, clock=clock)  # type: ignore[arg-type]
    chosen = passwords or Passwords(CHEAP)
    attach(ctx, redis_server.url, passwords=chosen)
    app = create_app(ctx)
    app.include_router(sample_router())
    return Site(TestClient(app, base_url=base_url), ctx, ctx.accounts, ctx.audit, clock, chosen)
