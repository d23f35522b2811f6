"""POST /api/v1/applications/{app}/clusters/{cluster}/(sync|refresh|hard-refresh): enqueue, answer 202.

Called by API clients and the dashboard's Sync and Refresh buttons. Each action needs an operator
(``require(Role.OPERATOR, unsafe=True)``: a session caller must also send its CSRF token), a target
the caller may see and the configuration places (404 otherwise), and goes through ``ctx.actions``
(the workers' dispatcher): nothing runs inline. Key design choices: the answer is 202 with the
operation id (the task id), or ``queued: false`` when a reconcile of the target is already queued
(refreshes coalesce). Every action is written to the audit log (who, what, which target, from
where) when one is configured, *before* it is enqueued: if the audit log cannot be written the
action is refused (503), so nothing runs unaudited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from starlette.requests import Request

from gitops.vocabulary import Target, Trigger
from web.api import models
from web.api.access import target as placed_target
from web.auth import Principal, Role, require
from web.context import WebContext, context

router = APIRouter(tags=["actions"])
Operator = Annotated[Principal, Depends(require(Role.OPERATOR, unsafe=True))]
Ctx = Annotated[WebContext, Depends(context)]
AppName = Annotated[str, Path(max_length=253)]
ClusterName = Annotated[str, Path(max_length=253)]
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "enqueued, or already queued (queued: false)"}}


def _audit(ctx: WebContext, request: Request, principal: Principal, action: str, target: Target,
           detail: str) -> None:
    if ctx.audit is not None:
        ctx.audit.record(actor=principal.name, action=action, target=target.key, detail=detail,
                         remote=request.client.host if request.client else None)


def _answer(action: str, target: Target, operation: str | None) -> models.ActionAccepted:
    message = (f"{action} of {target.key} enqueued as {operation}" if operation
               else f"a reconcile of {target.key} is already queued")
    return models.ActionAccepted(action=action, application=target.application, cluster=target.cluster,
                                 operation=operation, queued=operation is not None, message=message)


@router.post("/applications/{app}/clusters/{cluster}/sync", status_code=202,
             response_model=models.ActionAccepted, responses=ACCEPTED, summary="Sync a target")
def sync(request: Request, principal: Operator, ctx: Ctx, app: AppName, cluster: ClusterName,
         body: Annotated[models.SyncRequest | None, Body()] = None) -> models.ActionAccepted:
    """Enqueue a sync (optionally ``prune``, ``dryRun``); the body may be omitted."""
    _, target = placed_target(ctx, principal, app, cluster, configured=True)
    options = body or models.SyncRequest()
    _audit(ctx, request, principal, "sync", target,
           f"prune={options.prune} dry_run={options.dry_run} force={options.force}")
    operation = ctx.actions.enqueue_sync(target.application, target.cluster, prune=options.prune,
                                         dry_run=options.dry_run, detail=f"{principal.name} via api",
                                         force=options.force)
    return _answer("sync", target, operation)


@router.post("/applications/{app}/clusters/{cluster}/refresh", status_code=202,
             response_model=models.ActionAccepted, responses=ACCEPTED, summary="Refresh a target")
def refresh(request: Request, principal: Operator, ctx: Ctx, app: AppName,
            cluster: ClusterName) -> models.ActionAccepted:
    """Enqueue a reconcile (compare, and write when the policy is automated); coalesced with one
    already queued."""
    _, target = placed_target(ctx, principal, app, cluster, configured=True)
    _audit(ctx, request, principal, "refresh", target, "")
    operation = ctx.actions.request_reconcile(target.application, target.cluster, Trigger.MANUAL,
                                              detail=f"{principal.name} via api")
    return _answer("refresh", target, operation)


@router.post("/applications/{app}/clusters/{cluster}/hard-refresh", status_code=202,
             response_model=models.ActionAccepted, responses=ACCEPTED, summary="Hard-refresh a target")
def hard_refresh(request: Request, principal: Operator, ctx: Ctx, app: AppName,
                 cluster: ClusterName) -> models.ActionAccepted:
    """Drop the target's render cache and reconcile (re-render from Git)."""
    _, target = placed_target(ctx, principal, app, cluster, configured=True)
    _audit(ctx, request, principal, "hard-refresh", target, "")
    operation = ctx.actions.hard_refresh(target.application, target.cluster,
                                         detail=f"{principal.name} via api")
    return _answer("hard-refresh", target, operation)
