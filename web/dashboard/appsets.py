"""The dashboard's ApplicationSet pages and their forms: ``/applicationsets`` (every set the user may
see) and ``/applicationsets/{name}`` (applications desired vs released, the held change with Approve,
Pause / Resume, the rollout's clusters, the last pass's errors and notes, tombstones with Restore).

Included in the dashboard's router by :mod:`web.dashboard.pages`. Reading, visibility and the verbs are
the API's (:mod:`web.api.appsets`: ``read``, ``visible_states``, ``perform``), so a page and an API
answer never disagree: pages need a viewer, forms an operator with the session's CSRF token in the
``csrf`` field (403 otherwise), every verb is audited before it acts, and a refusal (nothing to
approve, another change id) is an HTML error page with the controller's message. Key design choice: a
form answers 303 back to the set's page with a code (``done=approve``) whose text the server picks from
:data:`FLASH_TEXTS`, so a crafted link can never make the page say anything else; names and messages
(from Redis and from repositories) are text, never markup (autoescape, nothing marked safe).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from gitops.appset.record import AppSetState
from web.api import appsets as api
from web.auth import Principal, Role, require
from web.context import WebContext, context
from web.dashboard import render

router = APIRouter(include_in_schema=False)
viewer = Depends(require(Role.VIEWER))
operator = Depends(require(Role.OPERATOR, unsafe=True))
ctx_dep = Depends(context)
APPLICATIONS_SHOWN = 500
TOMBSTONES_SHOWN = 100
FLASH_TEXTS = {
    "approve": "Approved: the controller applies it on its next pass.",
    "pause": "Paused: nothing more is released until Resume.",
    "resume": "Resumed: the controller releases again from its next pass.",
    "restore": "Restored from its tombstone: the application is kept until you delete it.",
    "delete": "No longer kept: the next pass deletes it unless an element generates it.",
}


@router.get("/applicationsets", response_class=HTMLResponse)
def appset_list(request: Request, principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    available = ctx.appsets is not None
    found = api.visible_states(ctx, principal) if available else []
    rows = [api.summary(s) if isinstance(s, AppSetState) else api.unreadable(*s) for s in found]
    return render.page(request, "appsets.html", {"rows": rows, "available": available,
                                                 "section": "appsets"}, principal=principal)


@router.get("/applicationsets/{name}", response_class=HTMLResponse)
def appset_page(request: Request, name: str, done: str | None = None, principal: Principal = viewer,
                ctx: WebContext = ctx_dep) -> HTMLResponse:
    state = api.read(ctx, principal, name)
    shown = api.detail(state)
    stones = api.tombstones(ctx, principal, state)
    return render.page(request, "appset.html", {
        "appset": shown, "applications": shown.applications[:APPLICATIONS_SHOWN],
        "applications_more": max(0, len(shown.applications) - APPLICATIONS_SHOWN),
        "tombstones": [api.tombstone(t) for t in stones[:TOMBSTONES_SHOWN]],
        "waiting_step": shown.rollout is not None and shown.rollout.phase == "WaitingApproval",
        "flash": FLASH_TEXTS.get(done or ""), "section": "appsets"}, principal=principal)


async def _act(request: Request, principal: Principal, ctx: WebContext, name: str, verb: str,
               application: str | None = None) -> RedirectResponse:
    form = await request.form()
    change = form.get("change")
    chosen = None
    if verb == "approve" and isinstance(change, str) and change.strip():
        chosen = change.strip()[:128]  # the id the page showed: another held change is refused (409)
    remote = request.client.host if request.client else None
    await run_in_threadpool(lambda: api.perform(ctx, principal, name, verb, application=application,
                                                change=chosen, via="dashboard", remote=remote))
    return RedirectResponse(f"/applicationsets/{quote(name, safe='')}?done={verb}", status_code=303)


@router.post("/applicationsets/{name}/{verb}")
async def appset_verb(request: Request, name: str, verb: str, principal: Principal = operator,
                      ctx: WebContext = ctx_dep) -> RedirectResponse:
    """Approve (the form carries the change id the page showed), Pause, Resume."""
    if verb not in ("approve", "pause", "resume"):
        verb = "unknown"  # perform answers 404
    return await _act(request, principal, ctx, name, verb)


@router.post("/applicationsets/{name}/tombstones/{application}/restore")
async def appset_restore(request: Request, name: str, application: str, principal: Principal = operator,
                         ctx: WebContext = ctx_dep) -> RedirectResponse:
    return await _act(request, principal, ctx, name, "restore", application)


@router.post("/applicationsets/{name}/applications/{application}/delete")
async def appset_delete(request: Request, name: str, application: str, principal: Principal = operator,
                        ctx: WebContext = ctx_dep) -> RedirectResponse:
    return await _act(request, principal, ctx, name, "delete", application)
