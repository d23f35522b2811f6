"""The dashboard's Jinja2 environment, its filters, the static files' URLs, and inert error pages.

Used by :mod:`web.dashboard.pages` and :mod:`web.dashboard.actions` to turn a template and its values
into an HTML response, and by :func:`html_errors` (installed from ``pages.mount_static``) to answer a
failed page request with a small HTML page instead of problem+json. Key design choice: autoescape is
on for every template and nothing is ever marked safe: names, labels, messages, drift values and
manifests are untrusted and come out as text; the pages carry no inline script or style (the
Content-Security-Policy of web/app.py forbids both), so the only JavaScript is /static/app.js.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gitops.errors import GitOpsError, InputError, StateError
from gitops.vocabulary import HealthStatus, SyncStatus
from web.auth import Principal, Role, is_api
from web.dashboard import views
from web.problems import HTTPProblem

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
EVENTS_URL = "/api/v1/events"
# the brand mark as the page icon (a data: URL: img-src allows it, and the package ships no image files)
ICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E"
        "%3Crect width='32' height='32' rx='8' fill='%232f6fde'/%3E%3Cpath d='M9 17l5 5 9-11' fill='none' "
        "stroke='white' stroke-width='3.5' stroke-linecap='round' stroke-linejoin='round'/%3E%3C/svg%3E")
NOT_HTML = frozenset({"/healthz", "/readyz", "/metrics"})  # answered by web.ops for machines


def _fingerprint(name: str) -> str:
    """``/static/<name>?v=<content hash>``: browsers may cache the files as long as they like."""
    try:
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    except OSError:
        digest = "0"
    return f"/static/{name}?v={digest}"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True)
ENV.filters.update(short=views.short_revision, token=views.token, iso=views.iso,
                   duration=views.duration)
ENV.globals.update(css_url=_fingerprint("app.css"), js_url=_fingerprint("app.js"),
                   icon_url=ICON, events_url=EVENTS_URL,
                   Role=Role, sync_values=[s.value for s in SyncStatus],
                   health_values=[h.value for h in HealthStatus])


def page(request: Request, template: str, values: Mapping[str, Any], *, status: int = 200,
         principal: Principal | None = None, now: float | None = None,
         headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """``template`` rendered with ``values`` (plus the principal, the clock's now and the path)."""
    moment = now if now is not None else request.app.state.context.clock.now()
    body = ENV.get_template(template).render(
        principal=principal, path=request.url.path, now=moment,
        ago=lambda epoch: views.ago(epoch, moment), **values)
    # pages show what one user may see, as of now: never kept by a browser or a proxy
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})},
                        media_type="text/html; charset=utf-8")


def error_page(request: Request, status: int, title: str, detail: str = "",
               headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return page(request, "error.html", {"status": status, "title": title, "detail": detail[:500],
                                              "section": ""},
                status=status, headers=headers)


def wants_html(request: Request) -> bool:
    """A page request (not the API, not the machine endpoints): errors answer with HTML."""
    return not is_api(request) and request.url.path not in NOT_HTML


Handler = Callable[[Request, Exception], Awaitable[Response] | Response]

_TITLES = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           422: "Invalid request", 503: "Temporarily unavailable"}
_DETAILS = {403: "You are not allowed to do this.", 404: "There is nothing at this address.",
            503: "The state store cannot be reached right now; this page will work again once it is "
                 "back. Try again in a few seconds."}


def _html(request: Request, exc: Exception) -> Response | None:
    """The HTML answer to ``exc`` on a page, or None to leave it to the API's handler."""
    if isinstance(exc, HTTPProblem):
        if 300 <= exc.status < 400:
            return None
        return error_page(request, exc.status, _TITLES.get(exc.status, exc.title),
                          exc.detail or _DETAILS.get(exc.status, ""), exc.headers)
    if isinstance(exc, StarletteHTTPException):
        return error_page(request, exc.status_code, _TITLES.get(exc.status_code, "Error"),
                          _DETAILS.get(exc.status_code, ""), dict(exc.headers or {}))
    if isinstance(exc, RequestValidationError):
        return error_page(request, 400, "Bad request", "The address has a parameter this page cannot read.")
    if isinstance(exc, InputError):
        return error_page(request, 400, "Bad request", str(exc))
    if isinstance(exc, GitOpsError) and exc.temporary:
        title = "State store unavailable" if isinstance(exc, StateError) else "Temporarily unavailable"
        return error_page(request, 503, title, _DETAILS[503], {"Retry-After": "5"})
    return None


def html_errors(app: FastAPI) -> None:
    """Answer failed page requests with inert HTML error pages; the API keeps problem+json (each
    handler falls back to the one already installed by :func:`web.problems.install`)."""
    for kind in (HTTPProblem, StarletteHTTPException, RequestValidationError, GitOpsError):
        original = app.exception_handlers.get(kind)
        if original is None:
            continue
        app.add_exception_handler(kind, _wrap(original))


def _wrap(original: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if wants_html(request):
            answer = _html(request, exc)
            if answer is not None:
                return answer
        result = original(request, exc)
        if isinstance(result, Response):
            return result
        return await result

    return handler
