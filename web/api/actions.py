"""POST /api/v1/applications/{app}/clusters/{cluster}/(sync|refresh|hard-refresh|rollback|resume): enqueue,
answer 202.

Called by API clients and the dashboard's Sync and Refresh buttons. Each action needs an operator
(``require(Role.OPERATOR, unsafe=True)``: a session caller must also send its CSRF token), a target
the caller may see and the configuration places (404 otherwise), and goes through ``ctx.actions``
(the workers' dispatcher): nothing runs inline. Key design choices: the answer is 202 with the
operation id (the task id), or ``queued: false`` when a reconcile of the target is already queued
(refreshes coalesce). Every action is written to the audit log (who, what, which target, from
where) when one is configured, *before* it is enqueued: if the audit log cannot be written the
action is refused (503), so nothing runs unaudited. A rollback chooses its revision from the target's
history with :func:`gitops.state.suspensions.rollback_revision` (the function ``gitops rollback``
uses; an invalid or unknown revision is a 400 naming the choices) and asks the workers' dispatcher
to suspend automated sync and enqueue the pinned sync; a resume lifts the suspension (409 when the
target is not suspended) and requests a reconcile.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from starlette.requests import Request

from gitops.state.suspensions import rollback_revision
from gitops.vocabulary import Target, Trigger
from web.api import models
from web.api.access import suspension
from web.api.access import target as placed_target
from web.auth import Principal, Role, require
from web.context import WebContext, context
from web.problems import HTTPProblem

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


@router.post("/applications/{app}/clusters/{cluster}/rollback", status_code=202,
             response_model=models.RollbackAccepted, responses=ACCEPTED, summary="Roll a target back")
def rollback(request: Request, principal: Operator, ctx: Ctx, app: AppName, cluster: ClusterName,
             body: Annotated[models.RollbackRequest | None, Body()] = None) -> models.RollbackAccepted:
    """Suspend automated sync of the target and enqueue a sync of an earlier revision: ``to`` (a commit
    id or a unique prefix of a revision in the history), by default the newest revision applied
    before the current one. ``gitops resume`` or the resume action lifts the suspension."""
    _, target = placed_target(ctx, principal, app, cluster, configured=True)
    status = ctx.state.status(target)
    choice = rollback_revision(ctx.state.history(target), status.revision if status else None,
                               (body or models.RollbackRequest()).to)
    _audit(ctx, request, principal, "rollback", target, f"to={choice.revision}")
    operation = ctx.actions.rollback(target.application, target.cluster, revision=choice.revision,
                                     by=f"{principal.name} via api")
    return models.RollbackAccepted(**_answer("rollback", target, operation).model_dump(),
                                   revision=choice.revision, warning=choice.warning)


@router.post("/applications/{app}/clusters/{cluster}/resume", status_code=202,
             response_model=models.ActionAccepted, responses=ACCEPTED, summary="Resume automated sync")
def resume(request: Request, principal: Operator, ctx: Ctx, app: AppName,
           cluster: ClusterName) -> models.ActionAccepted:
    """Lift the target's suspension (409 when it is not suspended) and request a reconcile, which
    syncs it again when its policy is automated."""
    _, target = placed_target(ctx, principal, app, cluster, configured=True)
    if suspension(ctx, target) is None:
        raise HTTPProblem(409, "Conflict", f"{target.key} is not suspended")
    _audit(ctx, request, principal, "resume", target, "")
    operation = ctx.actions.resume(target.application, target.cluster, by=f"{principal.name} via api")
    return _answer("resume", target, operation)
