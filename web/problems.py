"""Errors as ``application/problem+json`` (RFC 9457): one shape for every failed API request.

Used by every router (raise :class:`HTTPProblem`, or let a :class:`gitops.errors.GitOpsError` escape)
and installed on the app by :func:`install`. Key design choice: the engine's exception tree maps to
HTTP once, here: bad input is 400/422 naming the field, a missing thing 404, Redis away 503 with
``Retry-After`` (the error is temporary: a retry can help), anything else 500 without internals; HTML
pages get the same status with a small inert page instead of JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gitops.errors import ConfigError, GitOpsError, InputError, StateError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


class HTTPProblem(Exception):
    """An API error: ``status``, a short ``title``, a ``detail`` for people, extension members."""

    def __init__(self, status: int, title: str, detail: str = "", *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request, status: int, title: str, detail: str = "",
                     headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail[:2000], "instance": request.url.path[:500], **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _from_gitops(exc: GitOpsError) -> tuple[int, str, dict[str, str]]:
    if isinstance(exc, InputError):
        return 400, "Bad request", {}
    if isinstance(exc, ConfigError):
        return 409, "Configuration problem", {}
    if isinstance(exc, StateError) and exc.temporary:
        return 503, "State store unavailable", {"Retry-After": "5"}
    if exc.temporary:
        return 503, "Temporarily unavailable", {"Retry-After": "5"}
    return 500, "Internal error", {}


def _field(exc: GitOpsError) -> dict[str, str]:
    problem = getattr(exc, "problem", None)
    found = getattr(problem, "field", None)
    return {"field": found} if isinstance(found, str) else {}


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPProblem)
        if 300 <= exc.status < 400:  # a page asking for a login: redirect, no body
            return Response(status_code=exc.status, headers=exc.headers)
        return problem_response(request, exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else ""
        return problem_response(request, exc.status_code, detail or "Error", "",
                                dict(exc.headers or {}))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
                  for e in exc.errors()[:20]]
        shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(request, 422, "Invalid request", shown, errors=errors)

    async def on_gitops(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GitOpsError)
        status, title, headers = _from_gitops(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        detail = str(exc) if status < 500 or exc.temporary else "see the server log"
        return problem_response(request, status, title, detail, headers, temporary=exc.temporary,
                                **_field(exc))

    app.add_exception_handler(HTTPProblem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(GitOpsError, on_gitops)
