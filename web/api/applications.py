"""GET /api/v1/applications[/{app}[/clusters/{cluster}/(manifests|operations[/{id}])]].

Called by API clients and the dashboard's application page. One application answers its
configuration (no secrets), and per cluster its status, drift (with the manager that owns each live
value and when it wrote it), the last operation (objects with health, the trace) and recent history.
Key design choice: reads go to the per-target records only (status, operation, history, manifests:
a few Redis reads per cluster), never a scan; a cluster appears when the configuration places the
application there or the state still holds a status for it (a moved application's old cluster).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from gitops.domain import Application
from gitops.errors import InputError
from gitops.state import HISTORY_LIMIT
from gitops.state.index import MAX_PAGE, TargetQuery
from gitops.state.model import Operation
from gitops.state.names import check_name, check_operation_id
from gitops.vocabulary import Target
from web.api import models
from web.api.access import application, not_found, placed_clusters, repository_url, suspension
from web.auth import Principal, Role, require
from web.context import WebContext, context

router = APIRouter(tags=["applications"])
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Ctx = Annotated[WebContext, Depends(context)]
AppName = Annotated[str, Path(max_length=253, description="application name")]
ClusterName = Annotated[str, Path(max_length=253, description="cluster name")]


def summary(ctx: WebContext, app: Application) -> models.ApplicationSummary:
    fleet = ctx.fleet()
    repo = fleet.repositories.get(app.source.repository)
    return models.ApplicationSummary.of(app, repository_url(fleet, app.source.repository),
                                        None if repo is None else repo.ref)


def read_target(ctx: WebContext, principal: Principal, app_name: str, cluster_name: str) -> Target:
    """A visible application on a cluster that is configured or still has a status for it; 404
    otherwise."""
    app = application(ctx, principal, app_name)
    if cluster_name in ctx.fleet().clusters:
        return Target(app.name, cluster_name)
    try:
        found = Target(app.name, check_name(cluster_name, "cluster"))
    except InputError:
        raise not_found("cluster", cluster_name) from None
    if ctx.state.status(found) is None:
        raise not_found("cluster", cluster_name)
    return found


@router.get("/applications", response_model=models.ApplicationList, summary="List applications")
def list_applications(principal: Viewer, ctx: Ctx) -> models.ApplicationList:
    """Every configured application the caller may see, by name (configuration only; statuses are
    in /targets)."""
    fleet = ctx.fleet()
    return models.ApplicationList(items=[summary(ctx, app) for name, app in sorted(fleet.applications.items())
                                         if principal.may_see(app)])


@router.get("/applications/{app}", response_model=models.ApplicationDetail, summary="One application")
def get_application(principal: Viewer, ctx: Ctx, app: AppName,
                    history: Annotated[int, Query(ge=0, le=HISTORY_LIMIT,
                                                  description="operations per cluster")] = 10,
                    ) -> models.ApplicationDetail:
    """Configuration, and per cluster: status, drift, the last operation (objects with health and
    its trace) and the newest ``history`` operations with their per-object results."""
    found = application(ctx, principal, app)
    placed = placed_clusters(found)
    in_state = {s.cluster for s in ctx.state.query(TargetQuery(applications=frozenset({found.name}),
                                                                limit=MAX_PAGE)).items}
    targets = [_target_detail(ctx, Target(found.name, name), name in placed, history)
               for name in sorted(placed | in_state)]
    return models.ApplicationDetail(**summary(ctx, found).model_dump(), targets=targets)


def _target_detail(ctx: WebContext, target: Target, configured: bool, limit: int) -> models.ApplicationTarget:
    status = ctx.state.status(target)
    ops = ctx.state.history(target, limit) if limit else []
    last: Operation | None = None
    if status is not None and status.operation:
        last = next((o for o in ops if o.id == status.operation), None) or ctx.state.operation(
            target, status.operation)
    drift = [] if status is None else [models.DriftItem.of(d) for d in status.drift]
    suspended = suspension(ctx, target)
    return models.ApplicationTarget(
        cluster=target.cluster, configured=configured,
        status=None if status is None else models.TargetSummary.of(status, suspended), drift=drift,
        drift_dropped=0 if status is None else max(0, status.drift_count - len(status.drift)),
        images=None if status is None or status.verification is None
        else [models.ImageVerdictInfo.of(c) for c in status.verification],
        last_operation=None if last is None else models.OperationDetail.of(last),
        history=[models.OperationDetail.of(o) for o in ops],
        hold=None if status is None else models.HoldInfo.of(status.hold),
        suspended=models.SuspensionInfo.of(suspended))


@router.get("/applications/{app}/clusters/{cluster}/manifests", summary="Last rendered manifests",
            response_class=Response,
            responses={200: {"content": {"text/yaml": {}},
                             "description": "the manifests the last reconcile rendered (Secret values "
                                            "masked); headers X-Manifests-Digest, X-Operation, X-Truncated"},
                       404: {"description": "no such target, or nothing rendered yet"}})
def get_manifests(principal: Viewer, ctx: Ctx, app: AppName, cluster: ClusterName) -> Response:
    target = read_target(ctx, principal, app, cluster)
    found = ctx.state.manifests(target)
    if found is None:
        raise not_found("rendered manifests for target", target.key)
    return Response(found.text, media_type="text/yaml; charset=utf-8", headers={
        "X-Manifests-Digest": found.digest, "X-Operation": found.operation,
        "X-Truncated": "true" if found.truncated else "false",
        "Content-Disposition": "inline"})


@router.get("/applications/{app}/clusters/{cluster}/operations", response_model=models.OperationList,
            summary="History of a target")
def list_operations(principal: Viewer, ctx: Ctx, app: AppName, cluster: ClusterName,
                    limit: Annotated[int, Query(ge=1, le=HISTORY_LIMIT)] = 20) -> models.OperationList:
    """The target's operations, newest first, without objects and traces (see one operation)."""
    target = read_target(ctx, principal, app, cluster)
    history = ctx.state.history(target, limit)
    return models.OperationList(items=[models.OperationSummary.of(o) for o in history])


@router.get("/applications/{app}/clusters/{cluster}/operations/{operation}",
            response_model=models.OperationDetail, summary="One operation with its trace")
def get_operation(principal: Viewer, ctx: Ctx, app: AppName, cluster: ClusterName,
                  operation: Annotated[str, Path(max_length=128)]) -> models.OperationDetail:
    """One operation: per-object results and the trace (spans: trigger, resolve, render, verify,
    plan, apply, health, each with start and duration)."""
    target = read_target(ctx, principal, app, cluster)
    found = ctx.state.operation(target, check_operation_id(operation))
    if found is None:
        raise not_found("operation", operation)
    return models.OperationDetail.of(found)
