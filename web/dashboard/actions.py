"""The dashboard's action forms: Sync (prune, dry run, force), Refresh, Hard refresh and Resume (after a
rollback) of one target.

Routes ``POST /applications/{app}/clusters/{cluster}/{sync|refresh|hard-refresh}``, included in the
dashboard's router by :mod:`web.dashboard.pages`; the application page's forms post here. Each needs
an operator and, for a session, the session's CSRF token in the form's ``csrf`` field
(``require(Role.OPERATOR, unsafe=True)``: 403 otherwise); it enqueues through ``ctx.actions`` (never
syncs in the request), writes the audit log when one is attached, and answers 303 back to the
application page with a message code (``done``) and the task id. Key design choice: the message is
chosen by the server from a fixed list (:data:`web.dashboard.views.FLASH_TEXTS`), so a crafted link
can never make the page say anything else.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse

from gitops.errors import InputError
from gitops.state.names import check_name
from gitops.vocabulary import Target, Trigger
from web.api import access
from web.auth import Principal, Role, require
from web.context import WebContext, context
from web.problems import HTTPProblem

router = APIRouter(include_in_schema=False)
ACTIONS = ("sync", "refresh", "hard-refresh", "resume")
operator = Depends(require(Role.OPERATOR, unsafe=True))
ctx_dep = Depends(context)


def _target(ctx: WebContext, principal: Principal, app: str, cluster: str) -> Target:
    """The target the form names when the caller may see it and the configuration places it (the
    API's rule, :func:`web.api.access.target`); 404 otherwise, also for a name that is not valid."""
    try:
        check_name(app, "application")
        check_name(cluster, "cluster")
    except InputError:
        raise HTTPProblem(404, "Not found", "no such target") from None
    return access.target(ctx, principal, app, cluster, configured=True)[1]


def _enqueue(ctx: WebContext, action: str, target: Target, *, prune: bool, dry_run: bool,
             detail: str, force: bool = False) -> tuple[str, str | None]:
    """Enqueue ``action``: the flash code and the task id (None: one was already queued)."""
    app, cluster = target.application, target.cluster
    if action == "sync":
        task: str | None = ctx.actions.enqueue_sync(app, cluster, prune=prune, dry_run=dry_run, detail=detail,
                                                    force=force)
        return ("sync-dry-run" if dry_run else "sync"), task
    if action == "refresh":
        task = ctx.actions.request_reconcile(app, cluster, Trigger.MANUAL, detail)
        return ("refresh" if task else "refresh-coalesced"), task
    if action == "resume":
        task = ctx.actions.resume(app, cluster, by=detail)
        return ("resume" if task else "resume-coalesced"), task
    task = ctx.actions.hard_refresh(app, cluster, detail)
    return ("hard-refresh" if task else "hard-refresh-coalesced"), task


@router.post("/applications/{app}/clusters/{cluster}/{action}")
async def act(request: Request, app: str, cluster: str, action: str, principal: Principal = operator,
              ctx: WebContext = ctx_dep) -> RedirectResponse:
    if action not in ACTIONS:
        raise HTTPProblem(404, "Not found", "no such action")
    target = await run_in_threadpool(_target, ctx, principal, app, cluster)
    form = await request.form()
    prune, dry_run, force = form.get("prune") == "1", form.get("dry_run") == "1", form.get("force") == "1"
    detail = f"{principal.name} via dashboard"
    code, task = await run_in_threadpool(_enqueue, ctx, action, target, prune=prune, dry_run=dry_run,
                                         detail=detail, force=force)
    if ctx.audit is not None:
        shown = (f"prune={str(prune).lower()} dry_run={str(dry_run).lower()} force={str(force).lower()} "
                 if action == "sync" else "")
        await run_in_threadpool(
            ctx.audit.record, actor=principal.name, action=action, target=target.key,
            detail=f"{shown}task={task or 'coalesced'} via dashboard",
            remote=request.client.host if request.client else None)
    location = (f"/applications/{quote(target.application)}?cluster={quote(target.cluster)}"
                f"&done={code}" + (f"&task={quote(task, safe='')}" if task else ""))
    return RedirectResponse(location, status_code=303)
