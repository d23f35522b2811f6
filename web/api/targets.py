"""GET /api/v1/targets: every target, filtered, sorted and paged on the server by the target index.

Called by API clients and the dashboard's overview. Key design choice: the request becomes one
:class:`gitops.state.index.TargetQuery`; label selectors (Kubernetes syntax, ``env=prod,tier!=web``)
are resolved against the configuration into name sets here, intersected with the applications the
caller may see, and handed to the index, so a page is computed inside Redis and never filtered
after the fact. An empty resolved set answers an empty page without asking the index (whose empty
set would mean "any").
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from gitops.domain import Fleet
from gitops.errors import InputError
from gitops.state.index import DEFAULT_PAGE, MAX_PAGE, SortKey, TargetQuery
from gitops.vocabulary import HealthStatus, SyncStatus
from renderers.k8s import labels as selectors
from web.api import models
from web.api.access import suspensions, visible_applications
from web.auth import Principal, Role, require
from web.context import WebContext, context

router = APIRouter(tags=["targets"])

MAX_SELECTOR = 1000
MAX_NAMES = 100
REVISION_PATTERN = r"^[0-9a-fA-F]{4,64}$"


def select(text: str | None, field: str, candidates: dict[str, dict[str, str]]) -> frozenset[str] | None:
    """Names whose labels match the selector ``text`` (None: no selector given)."""
    if text is None or not text.strip():
        return None
    try:
        predicate = selectors.parse(text)
    except selectors.SelectorError as exc:
        raise InputError(f"{field}: {exc}", field=field) from None
    if predicate is None:
        return None
    return frozenset(name for name, labels in candidates.items() if predicate(labels))


def narrow(*sets: frozenset[str] | None) -> frozenset[str] | None:
    """The intersection of the given name sets (None: unconstrained)."""
    out: frozenset[str] | None = None
    for names in sets:
        if names is not None:
            out = names if out is None else out & names
    return out


def scope_query(fleet: Fleet, principal: Principal, *, clusters: frozenset[str] | None = None,
                applications: frozenset[str] | None = None, cluster_label: str | None = None,
                app_label: str | None = None) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The cluster and application name sets of a query: explicit names, selectors and what the
    principal may see, intersected."""
    by_cluster_label = select(cluster_label, "clusterLabel",
                              {n: dict(c.labels) for n, c in fleet.clusters.items()})
    by_app_label = select(app_label, "appLabel",
                          {n: dict(a.labels) for n, a in fleet.applications.items()})
    return (narrow(clusters, by_cluster_label),
            narrow(applications, by_app_label, visible_applications(fleet, principal)))


@router.get("/targets", response_model=models.TargetPage, summary="List targets (paged, filtered)")
def list_targets(
    principal: Annotated[Principal, Depends(require(Role.VIEWER))],
    ctx: Annotated[WebContext, Depends(context)],
    sync: Annotated[list[SyncStatus] | None, Query(max_length=3, description="repeatable")] = None,
    health: Annotated[list[HealthStatus] | None, Query(max_length=6, description="repeatable")] = None,
    cluster: Annotated[list[str] | None, Query(max_length=MAX_NAMES, description="exact names")] = None,
    application: Annotated[list[str] | None, Query(max_length=MAX_NAMES, description="exact names")] = None,
    cluster_label: Annotated[str | None, Query(alias="clusterLabel", max_length=MAX_SELECTOR,
                                               description="selector: env=prod,tier!=web")] = None,
    app_label: Annotated[str | None, Query(alias="appLabel", max_length=MAX_SELECTOR,
                                           description="label selector on applications")] = None,
    revision: Annotated[str | None, Query(pattern=REVISION_PATTERN,
                                          description="a revision prefix (4 to 64 hex digits)")] = None,
    q: Annotated[str | None, Query(max_length=253, description="a substring of app@cluster")] = None,
    drifted: Annotated[bool | None, Query(description="only targets with (true) or without drift")] = None,
    failed: Annotated[bool | None, Query(description="only targets whose last reconcile failed")] = None,
    sort: SortKey = SortKey.NAME,
    order: Literal["asc", "desc"] = "asc",
    cursor: Annotated[str | None, Query(max_length=2048, description="nextCursor of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    counts: Annotated[bool, Query(description="add the counts of the matching targets")] = False,
) -> models.TargetPage:
    """One page of targets (compact summaries, no drift), the total, the next cursor and, when
    asked, the counts per sync status and health of every matching target."""
    clusters, applications = scope_query(
        ctx.fleet(), principal, clusters=frozenset(cluster) if cluster else None,
        applications=frozenset(application) if application else None,
        cluster_label=cluster_label, app_label=app_label)
    query = TargetQuery(
        sync=frozenset(sync or ()), health=frozenset(health or ()), clusters=clusters,
        applications=applications,
        revision=revision.lower() if revision else None, text=q or None, drifted=drifted, failed=failed,
        sort=sort, descending=order == "desc", cursor=cursor, limit=limit)
    if (clusters is not None and not clusters) or (applications is not None and not applications):
        empty = models.Counts(total=0, sync={}, health={}, drifted=0, failed=0)
        return models.TargetPage(items=[], total=0, next_cursor=None, counts=empty if counts else None)
    page = ctx.state.query(query)
    found = models.Counts.of(ctx.state.counts(query)) if counts else None
    held = suspensions(ctx) if page.items else {}
    return models.TargetPage(items=[models.TargetSummary.of(s, held.get(s.target)) for s in page.items],
                             total=page.total,
                             next_cursor=page.next_cursor, counts=found)
