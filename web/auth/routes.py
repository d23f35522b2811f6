"""Login, logout, who am I, and the admin API: users, API tokens, the audit log.

Included by :func:`web.app.create_app` at the root: ``GET/POST /login`` and ``POST /logout`` (HTML
form, server-rendered from templates/login.html), and under ``/api/v1``: ``/me``, ``/users``
(admin), ``/tokens`` (each user their own, admins everyone's), ``/audit`` (admin). Key design choice:
the routes only translate HTTP; who may do what and the audit entries live in
:class:`web.auth.admin.Admin` (shared with ``gitops user`` / ``gitops token``), and proving who someone
is and opening a session in :mod:`web.auth.login`. Password hashing (argon2, ~0.1 s of CPU) runs in the
thread pool, never on the event loop.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gitops.state.access import Accounts, AuditLog, Token, User
from web.auth import Principal, Role, require
from web.auth.admin import Admin
from web.auth.authenticator import SESSION_COOKIE, clear_session_cookie
from web.auth.login import WINDOW as THROTTLE_WINDOW
from web.auth.login import (
    LocalPasswords,
    clear_failures,
    login_csrf,
    login_csrf_ok,
    note_failure,
    remote,
    safe_next,
    set_login_cookie,
    start_session,
    throttled,
)
from web.auth.passwords import Passwords
from web.context import WebContext, context
from web.problems import HTTPProblem

API = "/api/v1"
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                               autoescape=True, undefined=jinja2.StrictUndefined)
router = APIRouter()
Ctx = Annotated[WebContext, Depends(context)]
Admin_ = Annotated[Principal, Depends(require(Role.ADMIN))]
AdminWrite = Annotated[Principal, Depends(require(Role.ADMIN, unsafe=True))]
Anyone = Annotated[Principal, Depends(require(Role.VIEWER))]
AnyoneWrite = Annotated[Principal, Depends(require(Role.VIEWER, unsafe=True))]


def _accounts(ctx: WebContext) -> Accounts:
    found: Accounts = ctx.accounts
    return found


def _audit(ctx: WebContext) -> AuditLog:
    found: AuditLog = ctx.audit
    return found


def _passwords(ctx: WebContext) -> Passwords:
    found = ctx.extras.get("passwords")
    if not isinstance(found, Passwords):
        found = ctx.extras["passwords"] = Passwords()
    return found


def _admin(ctx: WebContext) -> Admin:
    return Admin(_accounts(ctx), _audit(ctx), _passwords(ctx), ctx.clock)


# -- the login page --------------------------------------------------------------------------------


def _login_page(request: Request, ctx: WebContext, *, next_path: str, status: int = 200, error: str = "",
                name: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
    nonce, csrf = login_csrf(request, _accounts(ctx))
    methods = ctx.extras.get("login_methods") or []
    body = TEMPLATES.get_template("login.html").render(
        csrf=csrf, next=next_path, error=error, name=name[:64],
        methods=[{"label": m.label, "href": f"/login/{m.name}"} for m in methods])
    response = HTMLResponse(body, status_code=status,
                            headers={"Cache-Control": "no-store", **(headers or {})})
    set_login_cookie(response, nonce, ctx.settings)
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, ctx: Ctx, next: str = "/") -> Response:
    target = safe_next(next)
    session = request.cookies.get(SESSION_COOKIE)
    if session and _accounts(ctx).session(session) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, ctx, next_path=target)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    values = {k: v if isinstance(v, str) else "" for k, v in form.items()}
    name, password = values.get("name", "").strip(), values.get("password", "")
    target = safe_next(values.get("next", "/"))
    accounts, audit, address = _accounts(ctx), _audit(ctx), remote(request)
    if not login_csrf_ok(request, accounts, values.get("csrf")):
        return _login_page(request, ctx, next_path=target, status=403, name=name,
                           error="The form expired or did not come from this site: please try again.")
    if await run_in_threadpool(throttled, accounts, name, address):
        return _login_page(request, ctx, next_path=target, status=429, name=name,
                           headers={"Retry-After": str(int(THROTTLE_WINDOW))},
                           error="Too many failed attempts: try again later.")
    method = LocalPasswords(accounts, _passwords(ctx))
    identity = await run_in_threadpool(method.check, name, password)
    if identity is None:
        locked = await run_in_threadpool(note_failure, accounts, name, address)
        audit.record(actor=name or "-", action="login.locked" if locked else "login.failed", target=name,
                     detail=f"method={method.name}", remote=address)
        return _login_page(request, ctx, next_path=target, status=401, name=name,
                           error="Wrong user name or password.")
    clear_failures(accounts, name, address)
    response = RedirectResponse(target, status_code=303)
    start_session(request, response, identity, accounts=accounts, audit=audit, settings=ctx.settings)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, ctx: Ctx) -> Response:
    accounts = _accounts(ctx)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = accounts.session(session_id) if session_id else None
    response = RedirectResponse("/login", status_code=303)
    if session is not None:
        form = await request.form(max_files=0, max_fields=10)
        sent = request.headers.get("x-csrf-token") or form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise HTTPProblem(403, "Forbidden", "missing or wrong CSRF token")
        accounts.close_session(session_id)
        _audit(ctx).record(actor=session.user, action="logout", target=session.user, remote=remote(request))
    clear_session_cookie(response, ctx.settings)
    return response


# -- the API: models -------------------------------------------------------------------------------

Name = Annotated[str, Field(max_length=200)]
Scope = Annotated[dict[Annotated[str, Field(max_length=400)], Annotated[str, Field(max_length=100)]],
                  Field(max_length=32)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    name: str
    role: str
    scope: dict[str, str]
    created: float
    disabled: bool

    @staticmethod
    def of(user: User) -> UserOut:
        return UserOut.model_validate(user.public())


class UserCreate(Strict):
    name: Name
    role: Annotated[str, Field(max_length=32)] = "viewer"
    password: Annotated[str | None, Field(max_length=2048)] = None
    scope: Scope | None = None


class UserCreated(UserOut):
    password: str | None = Field(None, description="the generated password, shown once (none was given)")


class UserUpdate(Strict):
    role: Annotated[str | None, Field(max_length=32)] = None
    scope: Scope | None = None
    disabled: bool | None = None


class PasswordReset(Strict):
    password: Annotated[str | None, Field(max_length=2048)] = None


class PasswordSet(BaseModel):
    name: str
    password: str | None = Field(None, description="the generated password, shown once (none was given)")


class TokenOut(BaseModel):
    id: str
    name: str
    owner: str
    role: str
    created: float
    expires: float | None
    last_used: float | None
    expired: bool

    @staticmethod
    def of(token: Token, now: float) -> TokenOut:
        return TokenOut.model_validate({**token.public(), "expired": token.expired(now)})


class TokenCreate(Strict):
    name: Annotated[str, Field(max_length=200)]
    owner: Annotated[str | None, Field(max_length=200)] = None
    role: Annotated[str | None, Field(max_length=32)] = None
    expires_in: Annotated[str | int | None, Field(description="30d, 12h, 90m or seconds; none: never")] = None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret, shown once: send it as Authorization: Bearer <token>")


class AuditOut(BaseModel):
    id: str
    time: float
    actor: str
    action: str
    target: str
    detail: str
    remote: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


class Me(BaseModel):
    name: str
    role: str
    via: str
    scope: dict[str, str] | None
    csrf: str | None = Field(None, description="the session's CSRF token (sessions only)")


# -- the API: routes -------------------------------------------------------------------------------


@router.get(f"{API}/me", response_model=Me, summary="Who am I")
def me(principal: Anyone) -> Me:
    return Me(name=principal.name, role=str(principal.role), via=principal.via,
              scope=dict(principal.scope) if principal.scope else None, csrf=principal.csrf)


@router.get(f"{API}/users", response_model=list[UserOut], summary="List users")
def list_users(ctx: Ctx, principal: Admin_) -> list[UserOut]:
    return [UserOut.of(u) for u in _accounts(ctx).users()]


@router.post(f"{API}/users", response_model=UserCreated, status_code=201, summary="Create a user")
def create_user(body: UserCreate, request: Request, ctx: Ctx, principal: AdminWrite) -> UserCreated:
    user, generated = _admin(ctx).create_user(principal, remote(request), name=body.name, role=body.role,
                                              password=body.password, scope=body.scope)
    return UserCreated.model_validate({**user.public(), "password": generated})


@router.get(f"{API}/users/{{name}}", response_model=UserOut, summary="One user")
def get_user(name: str, ctx: Ctx, principal: Admin_) -> UserOut:
    found = _accounts(ctx).user(name)
    if found is None:
        raise HTTPProblem(404, "Not found", f"no user {name[:64]!r}")
    return UserOut.of(found)


@router.patch(f"{API}/users/{{name}}", response_model=UserOut, summary="Change a user's role, scope or state")
def update_user(name: str, body: UserUpdate, request: Request, ctx: Ctx, principal: AdminWrite) -> UserOut:
    kw: dict[str, Any] = {"role": body.role, "disabled": body.disabled}
    if "scope" in body.model_fields_set:
        kw["scope"] = body.scope or {}
    return UserOut.of(_admin(ctx).update_user(principal, remote(request), name, **kw))


@router.post(f"{API}/users/{{name}}/password", response_model=PasswordSet, summary="Reset a password")
def reset_password(name: str, body: PasswordReset, request: Request, ctx: Ctx,
                   principal: AdminWrite) -> PasswordSet:
    user, generated = _admin(ctx).reset_password(principal, remote(request), name, body.password)
    return PasswordSet(name=user.name, password=generated)


@router.delete(f"{API}/users/{{name}}", status_code=204, summary="Delete a user (and their tokens)")
def delete_user(name: str, request: Request, ctx: Ctx, principal: AdminWrite) -> Response:
    _admin(ctx).delete_user(principal, remote(request), name)
    return Response(status_code=204)


@router.get(f"{API}/tokens", response_model=list[TokenOut], summary="List API tokens (no secrets)")
def list_tokens(ctx: Ctx, principal: Anyone,
                owner: Annotated[str | None, Query(max_length=200)] = None) -> list[TokenOut]:
    now = ctx.clock.now()
    return [TokenOut.of(t, now) for t in _admin(ctx).tokens(principal, owner)]


@router.post(f"{API}/tokens", response_model=TokenCreated, status_code=201, summary="Create an API token")
def create_token(body: TokenCreate, request: Request, ctx: Ctx, principal: AnyoneWrite) -> TokenCreated:
    issued = _admin(ctx).create_token(principal, remote(request), name=body.name, owner=body.owner,
                                      role=body.role, expires_in=body.expires_in)
    return TokenCreated.model_validate({**TokenOut.of(issued.token, ctx.clock.now()).model_dump(),
                                        "token": issued.secret})


@router.delete(f"{API}/tokens/{{token_id}}", status_code=204, summary="Revoke an API token")
def revoke_token(token_id: str, request: Request, ctx: Ctx, principal: AnyoneWrite) -> Response:
    _admin(ctx).revoke_token(principal, remote(request), token_id)
    return Response(status_code=204)


@router.get(f"{API}/audit", response_model=AuditPage, summary="The audit log, newest first")
def audit_log(ctx: Ctx, principal: Admin_, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              before: Annotated[str | None, Query(max_length=50)] = None) -> AuditPage:
    entries = _audit(ctx).entries(limit=limit, before=before)
    return AuditPage(items=[AuditOut.model_validate(e.public()) for e in entries],
                     next_cursor=entries[-1].id if len(entries) == limit else None)
