"""The web application: HTTP API (/api/v1), dashboard pages, webhook receivers, health and metrics.

``uvicorn --factory web.app:create_from_env`` (what ``gitops up`` and ``gitops web`` run) builds it
from the environment through :func:`web.wiring.production_context`; tests call :func:`create_app`
with a context of their own. Key design choice: this module only assembles: each package brings its
router (web.api, web.ops, web.webhooks, web.auth, web.dashboard) and a request passes two guards
first: a body-size limit (413 before the body is read past the limit) and security headers on every
answer (a strict Content-Security-Policy: no inline script, nothing from other origins).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web import problems
from web.context import WebContext

API_PREFIX = "/api/v1"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY")]


class Guard:
    """ASGI middleware: refuse bodies over ``max_body`` (413 problem+json), add security headers."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._too_large(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS if h[0] not in names]
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _TooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        import json

        body = json.dumps({"type": "about:blank", "title": "Payload too large", "status": 413,
                           "detail": f"request bodies are limited to {self.max_body} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", problems.PROBLEM.encode()),
                                (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(ctx: WebContext) -> FastAPI:
    # each package's router; imported here so building an app loads the whole web layer once
    from web import api, ops
    from web.api import appsets
    from web.auth import routes as auth_routes
    from web.dashboard import pages
    from web.webhooks import routes as webhook_routes

    app = FastAPI(title="gitops", version="1", openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=f"{API_PREFIX}/docs", redoc_url=None)
    app.state.context = ctx
    problems.install(app)
    app.include_router(ops.router)
    ops.install(app)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(appsets.router, prefix=API_PREFIX, responses=api.models.PROBLEM_RESPONSES)
    app.include_router(webhook_routes.router, prefix=API_PREFIX)
    app.include_router(auth_routes.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    app.add_middleware(Guard, max_body=ctx.settings.max_body)
    return app


def create_from_env() -> Any:
    """The production app (uvicorn's ``--factory``): configuration, Redis and the workers from the
    environment."""
    from web.wiring import production_context

    return create_app(production_context())
