"""The dashboard's pages: overview, application, clusters, cluster, webhook deliveries, and the HTML
fragments app.js fetches for live updates.

Included by :func:`web.app.create_app` (``router``; it carries the action forms' POST routes of
:mod:`web.dashboard.actions` too), which also calls :func:`mount_static` (/static, and the HTML error
pages). Every page needs a viewer (``require(Role.VIEWER)``); a scoped principal sees only the
applications its scope allows, and a page of an application it may not see is a 404, like one that
does not exist. Key design choice: a page reads one page of the target index (a few Redis commands)
plus what it shows of one target, never every status, and renders server-side; app.js only swaps in
fresh server-rendered fragments when the event stream says a target on the page changed. Who may see
what, the placement rule of actions and a cluster's reachability are the API's (:mod:`web.api.access`,
:func:`web.api.clusters.reachability`), so a page and an API answer never disagree.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from gitops.domain import Fleet
from gitops.errors import InputError
from gitops.state.index import MAX_PAGE, SortKey, TargetCounts, TargetPage, TargetQuery
from gitops.state.model import Operation, TargetStatus
from gitops.state.names import check_name
from gitops.state.suspensions import describe_hold
from gitops.vocabulary import Target
from web.api import access
from web.api.clusters import reachability as cluster_reachability
from web.api.models import Reachability
from web.auth import Principal, Role, require
from web.context import WebContext, context
from web.dashboard import actions, appsets, render, views
from web.problems import HTTPProblem

router = APIRouter(include_in_schema=False)
router.include_router(actions.router)
router.include_router(appsets.router)

HISTORY_SHOWN = 15
OBJECTS_SHOWN = 300
OBJECTS_PER_OPERATION = 50
MANIFEST_CHARS = 200_000
CLUSTERS_PER_PAGE = 100
CLUSTER_SELECT_MAX = 300     # more clusters than this: the overview's cluster filter is a text field
FRAGMENT_TARGETS = 100
DELIVERIES_SHOWN = 100
viewer = Depends(require(Role.VIEWER))
ctx_dep = Depends(context)


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's CSS and JavaScript under /static; answer failed page requests (not the
    API's) with HTML error pages."""
    app.mount("/static", StaticFiles(directory=render.STATIC), name="static")
    render.html_errors(app)


def _not_found(what: str) -> HTTPProblem:
    return HTTPProblem(404, "Not found", f"no {what} here")


def _name(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except InputError:
        raise _not_found(what) from None


# -- overview ----------------------------------------------------------------------------------------

def _target_page(ctx: WebContext, resolved: views.Resolved,
                 notices: list[str]) -> tuple[TargetPage, TargetCounts, bool]:
    """One page and the counts of ``resolved``; a cursor the index refuses (expired, from another
    query) falls back to the first page with a notice (the third value: the cursor was dropped)."""
    if resolved.empty:
        return TargetPage((), 0, None), TargetCounts(), False
    query, dropped = resolved.query, False
    try:
        found = ctx.state.query(query)
    except InputError as exc:
        if query.cursor is None:
            raise
        notices.append(f"That page link no longer works ({exc}); showing the first page.")
        query, dropped = replace(query, cursor=None), True
        found = ctx.state.query(query)
    return found, ctx.state.counts(query), dropped


def _list_values(ctx: WebContext, request: Request, principal: Principal, fleet: Fleet, *,
                 cluster: str | None = None, default_view: str = "matrix") -> dict[str, Any]:
    filters = views.TargetFilters.parse(request.query_params, default_view=default_view)
    resolved = views.resolve(filters, fleet, access.visible_applications(fleet, principal), cluster=cluster)
    notices = list(resolved.errors)
    found, counts, dropped = _target_page(ctx, resolved, notices)
    if dropped:
        filters = replace(filters, cursor="", back=())
    path = request.url.path
    start = len(filters.back) * filters.limit + 1 if filters.cursor else 1
    return {"filters": filters, "page": found, "counts": counts, "notices": notices,
            "matrix": views.matrix(found.items), "first": start, "last": start + len(found.items) - 1,
            "next_link": filters.next_link(path, found.next_cursor),
            "previous_link": filters.previous_link(path),
            "first_link": filters.link(path) if filters.cursor else None,
            "sort_keys": SortKey}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    fleet = ctx.fleet()
    values = _list_values(ctx, request, principal, fleet)
    names = sorted(fleet.clusters)
    values.update(section="overview", cluster_names=names if len(names) <= CLUSTER_SELECT_MAX else None)
    return render.page(request, "overview.html", values, principal=principal)


@router.get("/fragments/counts", response_class=HTMLResponse)
def count_fragment(request: Request, principal: Principal = viewer,
                   ctx: WebContext = ctx_dep) -> HTMLResponse:
    """The overview's counts for the same filters as ``/`` (app.js swaps them in when statuses
    change); one counts query of the index, the page itself is not read."""
    fleet = ctx.fleet()
    filters = views.TargetFilters.parse(request.query_params, default_view="matrix")
    resolved = views.resolve(filters, fleet, access.visible_applications(fleet, principal))
    counts = TargetCounts() if resolved.empty else ctx.state.counts(replace(resolved.query, cursor=None))
    body = render.ENV.get_template("fragments/counts.html").render(
        counts=counts, filters=filters, path="/", principal=principal)
    return HTMLResponse(body, headers={"Cache-Control": "no-store"}, media_type="text/html; charset=utf-8")


@router.get("/fragments/targets", response_class=HTMLResponse)
def target_fragments(request: Request, target: list[str] = Query(default=[]),
                     principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    """Fresh rows and matrix cells of the targets named ``app@cluster`` (app.js swaps them in), with
    whether an operation is running on each."""
    fleet = ctx.fleet()
    rows: list[tuple[TargetStatus, bool]] = []
    for key in dict.fromkeys(target[:FRAGMENT_TARGETS]):
        app, _, cluster = key.partition("@")
        try:
            found = Target(check_name(app, "application"), check_name(cluster, "cluster"))
        except InputError:
            continue
        if not access.may_see_name(fleet, principal, found.application):
            continue
        status = ctx.state.status(found)
        if status is not None:
            rows.append((status, views.running(ctx.state.history(found, 1)) is not None))
    return render.page(request, "fragments/targets.html", {"rows": rows}, principal=principal)


# -- application -----------------------------------------------------------------------------------

def _application_values(ctx: WebContext, principal: Principal, fleet: Fleet, app: str,
                        chosen: str | None) -> dict[str, Any]:
    app = _name(app, "application")
    if not access.may_see_name(fleet, principal, app):
        raise _not_found("application")
    configured = fleet.applications.get(app)
    statuses = ctx.state.query(TargetQuery(applications=frozenset({app}), sort=SortKey.CLUSTER,
                                           limit=MAX_PAGE))
    if not statuses.items and configured is None:
        raise _not_found("application")
    clusters = [s.cluster for s in statuses.items]
    cluster = chosen if chosen and (chosen in clusters or chosen in fleet.clusters) else None
    if cluster is None:
        cluster = clusters[0] if clusters else configured.destination.cluster if configured else ""
    cluster = _name(cluster, "cluster")
    target = Target(app, cluster)
    status = ctx.state.status(target)
    history = ctx.state.history(target, HISTORY_SHOWN)
    last: Operation | None = None
    if status is not None and status.operation:
        last = next((op for op in history if op.id == status.operation), None) or ctx.state.operation(
            target, status.operation)
    if last is None:
        last = next((op for op in history if op.finished is not None), None)
    traced = next((op for op in history if op.spans), last)
    objects, more = views.objects_by_health(last, OBJECTS_SHOWN)
    actionable = configured is not None and cluster in access.placed_clusters(configured)
    suspension = access.suspension(ctx, target)
    return {"app": app, "configured": configured, "cluster": cluster, "statuses": statuses,
            "actionable": actionable, "suspension": suspension,
            "hold_text": describe_hold(status.hold if status else None, suspension, ctx.clock.now()),
            "status": status, "history": history, "last": last, "objects": objects, "objects_more": more,
            "running_op": views.running(history),
            "drift": views.drift_groups(status.drift) if status else [],
            "corrected": views.drift_groups(last.corrected) if last is not None else [],
            "trace_op": traced, "bars": views.trace_bars(traced), "trace_total": views.trace_total(traced),
            "per_operation": OBJECTS_PER_OPERATION, "action_counts": views.action_counts,
            "section": "overview"}


@router.get("/applications/{app}", response_class=HTMLResponse)
def application(request: Request, app: str, cluster: str | None = None, drift: str = "unified",
                done: str | None = None, task: str | None = None,
                principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    values = _application_values(ctx, principal, ctx.fleet(), app, cluster)
    manifests = ctx.state.manifests(Target(values["app"], values["cluster"]))
    values.update(drift_mode="split" if drift == "split" else "unified", flash=views.flash(done, task),
                  manifests=manifests,
                  manifest_text=None if manifests is None else manifests.text[:MANIFEST_CHARS],
                  manifest_cut=manifests is not None and (len(manifests.text) > MANIFEST_CHARS
                                                          or manifests.truncated))
    return render.page(request, "application.html", values, principal=principal)


@router.get("/applications/{app}/live", response_class=HTMLResponse)
def application_live(request: Request, app: str, cluster: str | None = None, drift: str = "unified",
                     principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    """The live part of an application page (status, objects, drift, trace, history): app.js swaps
    it in when the event stream reports a change of the application."""
    values = _application_values(ctx, principal, ctx.fleet(), app, cluster)
    values["drift_mode"] = "split" if drift == "split" else "unified"
    return render.page(request, "fragments/application_live.html", values, principal=principal)


# -- clusters --------------------------------------------------------------------------------------

def _cluster_summary(ctx: WebContext, name: str,
                     visible: frozenset[str] | None) -> tuple[TargetCounts, Reachability]:
    """Counts of the cluster's targets ``visible`` to the caller, and its reachability as the API
    derives it (what the newest telling reconciles said)."""
    if visible == frozenset():  # an empty set would mean "any" to the index
        return TargetCounts(), Reachability(state="unknown")
    counts = ctx.state.counts(TargetQuery(clusters=frozenset({name}), applications=visible))
    return counts, cluster_reachability(ctx, name, visible)


@router.get("/clusters", response_class=HTMLResponse)
def clusters(request: Request, q: str = "", label: str = "", page: int = 1,
             principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    fleet = ctx.fleet()
    visible = access.visible_applications(fleet, principal)
    notices: list[str] = []
    names = sorted(fleet.clusters)
    text = q.strip()[:views.MAX_TEXT_FILTER]
    if text:
        names = [n for n in names if text.lower() in n]
    if label.strip():
        try:
            chosen = views.select_names(label.strip(), {n: fleet.clusters[n].labels for n in names})
            names = [n for n in names if n in chosen]
        except ValueError as exc:
            notices.append(f"labels: {exc}")
            names = []
    pages = max(1, -(-len(names) // CLUSTERS_PER_PAGE))
    page = min(max(1, page), pages)
    shown = names[(page - 1) * CLUSTERS_PER_PAGE:page * CLUSTERS_PER_PAGE]
    rows = [(fleet.clusters[n], access.server_url(fleet.clusters[n]), *_cluster_summary(ctx, n, visible))
            for n in shown]
    base = [("q", text), ("label", label.strip()[:views.MAX_SELECTOR])]
    return render.page(request, "clusters.html", {
        "rows": rows, "q": text, "label": label.strip()[:views.MAX_SELECTOR], "notices": notices,
        "total": len(names), "page_number": page, "pages": pages, "section": "clusters",
        "previous_link": "/clusters" + views.query_string([*base, ("page", str(page - 1))])
        if page > 1 else None,
        "next_link": "/clusters" + views.query_string([*base, ("page", str(page + 1))])
        if page < pages else None}, principal=principal)


@router.get("/clusters/{name}", response_class=HTMLResponse)
def cluster(request: Request, name: str, principal: Principal = viewer,
            ctx: WebContext = ctx_dep) -> HTMLResponse:
    fleet = ctx.fleet()
    name = _name(name, "cluster")
    configured = fleet.clusters.get(name)
    visible = access.visible_applications(fleet, principal)
    counts, reach = _cluster_summary(ctx, name, visible)
    if configured is None and counts.total == 0:
        raise _not_found("cluster")
    values = _list_values(ctx, request, principal, fleet, cluster=name, default_view="list")
    values.update(section="clusters", cluster=configured, name=name, summary=counts, reach=reach,
                  server=None if configured is None else access.server_url(configured))
    return render.page(request, "cluster.html", values, principal=principal)


# -- webhook deliveries ----------------------------------------------------------------------------

@router.get("/webhooks", response_class=HTMLResponse)
def webhooks(request: Request, principal: Principal = viewer, ctx: WebContext = ctx_dep) -> HTMLResponse:
    visible = access.visible_applications(ctx.fleet(), principal)
    recent = getattr(ctx.deliveries, "recent", None)
    found = list(recent(limit=DELIVERIES_SHOWN))[:DELIVERIES_SHOWN] if recent is not None else None
    shown = None if found is None else [views.delivery_view(d, visible) for d in found]
    return render.page(request, "webhooks.html", {"deliveries": shown, "section": "webhooks"},
                       principal=principal)
