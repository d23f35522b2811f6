"""Who may see which application, and the lookups every API route shares (404 for the unseen).

Called by each router of web/api (and usable by the dashboard's pages): a route resolves its path
names here, so "not configured", "not yours" and "not a valid name" all answer the same 404 (a
scoped principal cannot probe for other teams' applications), and list answers are narrowed to the
applications ``Principal.may_see``. Key design choice: visibility is computed from the
configuration once per request as a set of application names and handed to the index as a filter,
so pagination stays exact (a page is never thinned after the fact).
"""

from __future__ import annotations

from gitops.domain import Application, Cluster, Fleet
from gitops.sources.urls import redact
from gitops.state.suspensions import Suspension
from gitops.vocabulary import Target
from web.auth import Principal
from web.context import WebContext
from web.problems import HTTPProblem


def not_found(what: str, name: str) -> HTTPProblem:
    shown = name if len(name) <= 100 else name[:100] + "..."
    return HTTPProblem(404, "Not found", f"no {what} named {shown!r}")


def visible_applications(fleet: Fleet, principal: Principal) -> frozenset[str] | None:
    """Names of the applications ``principal`` may see, or None when it may see every target
    (including targets of applications no longer configured)."""
    if not principal.scope:
        return None
    return frozenset(name for name, app in fleet.applications.items() if principal.may_see(app))


def may_see_name(fleet: Fleet, principal: Principal, application: str) -> bool:
    """Whether a target of ``application`` (configured or not) is visible to ``principal``."""
    app = fleet.applications.get(application)
    if app is None:
        return not principal.scope
    return principal.may_see(app)


def application(ctx: WebContext, principal: Principal, name: str) -> Application:
    """The configured application ``name`` if ``principal`` may see it, else 404."""
    found = ctx.fleet().applications.get(name)
    if found is None or not principal.may_see(found):
        raise not_found("application", name)
    return found


def cluster(ctx: WebContext, name: str) -> Cluster:
    found = ctx.fleet().clusters.get(name)
    if found is None:
        raise not_found("cluster", name)
    return found


def placed_clusters(app: Application) -> frozenset[str]:
    """The clusters the configuration places ``app`` on (its targets; the ones actions accept)."""
    return frozenset({app.destination.cluster})


def target(ctx: WebContext, principal: Principal, app_name: str, cluster_name: str, *,
           configured: bool) -> tuple[Application, Target]:
    """A visible application on a configured cluster; with ``configured`` (actions) the cluster must
    also be one the configuration places the application on. 404 otherwise."""
    app = application(ctx, principal, app_name)
    cluster(ctx, cluster_name)
    if configured and cluster_name not in placed_clusters(app):
        raise HTTPProblem(404, "Not found", f"application {app_name!r} is not placed on cluster "
                                            f"{cluster_name!r}")
    return app, Target(app.name, cluster_name)


def repository_url(fleet: Fleet, repository: str) -> str | None:
    found = fleet.repositories.get(repository)
    return None if found is None else redact(found.url)


def server_url(found: Cluster) -> str | None:
    return None if found.server is None else redact(found.server)


def suspensions(ctx: WebContext) -> dict[Target, Suspension]:
    """Every suspended target (one read; empty when the context has no suspensions)."""
    return {} if ctx.suspensions is None else {s.target: s for s in ctx.suspensions.suspended()}


def suspension(ctx: WebContext, found: Target) -> Suspension | None:
    return None if ctx.suspensions is None else ctx.suspensions.suspension(found)
