"""GET /api/v1/clusters and /clusters/{name}: labels, server, target counts and reachability.

Called by API clients and the dashboard's cluster page. Key design choices: nothing of a cluster's
credentials is shown (no token, no kubeconfig path or contents; the server URL is redacted), and
reachability is derived from what its targets' reconciles last said, not probed from the web
process (which holds no cluster credentials): walking the cluster's targets newest reconcile first,
the first one that tells decides: a success or an answer from the API server (a conflict, a 422, a
403...) means reachable, a ``ClusterUnavailable`` failure unreachable (with its time and message);
failures before the cluster is contacted (Git, render) tell nothing. Counts and reachability of a
scoped caller cover only the applications it may see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gitops.domain import Cluster
from gitops.state.index import SortKey, TargetCounts, TargetQuery
from web.api import models
from web.api.access import cluster as configured_cluster
from web.api.access import server_url, visible_applications
from web.auth import Principal, Role, require
from web.context import WebContext, context

router = APIRouter(tags=["clusters"])
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Ctx = Annotated[WebContext, Depends(context)]

UNREACHABLE = "ClusterUnavailable"
# failures that mean the API server answered (the cluster was reached)
ANSWERED = frozenset({"Conflict", "ImmutableField", "Invalid", "NotFound", "Forbidden", "SyncFailed",
                      "PruneRefused"})
TELLING = 20  # newest reconciles looked at before answering "unknown"


def reachability(ctx: WebContext, name: str, applications: frozenset[str] | None) -> models.Reachability:
    page = ctx.state.query(TargetQuery(clusters=frozenset({name}), applications=applications,
                                       sort=SortKey.RECONCILED, descending=True, limit=TELLING))
    for status in page.items:
        if status.reconciled_at <= 0:
            continue
        kind = status.failure.kind if status.failure else None
        if kind == UNREACHABLE:
            return models.Reachability(state="unreachable", at=status.reconciled_at, message=status.error,
                                       target=status.target.key)
        if (kind is None and status.error is None) or kind in ANSWERED:
            return models.Reachability(state="reachable", at=status.reconciled_at, target=status.target.key)
    return models.Reachability(state="unknown")


def describe(ctx: WebContext, principal: Principal, found: Cluster) -> models.ClusterSummary:
    applications = visible_applications(ctx.fleet(), principal)
    if applications is not None and not applications:  # an empty set would mean "any" to the index
        return models.ClusterSummary.of(found, server_url(found), TargetCounts(),
                                        models.Reachability(state="unknown"))
    counts = ctx.state.counts(TargetQuery(clusters=frozenset({found.name}), applications=applications))
    return models.ClusterSummary.of(found, server_url(found), counts,
                                    reachability(ctx, found.name, applications))


@router.get("/clusters", response_model=models.ClusterList, summary="List clusters")
def list_clusters(principal: Viewer, ctx: Ctx) -> models.ClusterList:
    """Every configured cluster by name, with its labels, target counts and reachability."""
    found = sorted(ctx.fleet().clusters.items())
    return models.ClusterList(items=[describe(ctx, principal, c) for _, c in found])


@router.get("/clusters/{name}", response_model=models.ClusterSummary, summary="One cluster")
def get_cluster(principal: Viewer, ctx: Ctx,
                name: Annotated[str, Path(max_length=253)]) -> models.ClusterSummary:
    """One cluster; its targets are listed by ``GET /targets?cluster=NAME``."""
    return describe(ctx, principal, configured_cluster(ctx, name))
