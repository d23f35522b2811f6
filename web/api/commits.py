"""GET /api/v1/commits/{revision}: where is a commit deployed (every target at a revision or prefix).

Called by API clients (release tooling: "is my commit everywhere yet?") and the dashboard. Key
design choice: the index's lexicographic revision set answers the prefix (no scan); the optional
``repository`` narrows to applications whose source is that repository, since one commit id says
nothing about which repository it came from.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from gitops.state.index import MAX_PAGE
from web.api import models
from web.api.access import may_see_name, not_found, suspensions
from web.api.targets import REVISION_PATTERN
from web.auth import Principal, Role, require
from web.context import WebContext, context

router = APIRouter(tags=["commits"])


@router.get("/commits/{revision}", response_model=models.CommitTargets, summary="Where is a commit deployed")
def get_commit(principal: Annotated[Principal, Depends(require(Role.VIEWER))],
               ctx: Annotated[WebContext, Depends(context)],
               revision: Annotated[str, Path(pattern=REVISION_PATTERN,
                                             description="a revision or a prefix (4 to 64 hex digits)")],
               repository: Annotated[str | None, Query(max_length=253,
                                                       description="only its applications")] = None,
               ) -> models.CommitTargets:
    """Every target whose current revision starts with ``revision`` that the caller may see."""
    fleet = ctx.fleet()
    if repository is not None and repository not in fleet.repositories:
        raise not_found("repository", repository)
    found = ctx.state.at_revision(revision.lower(), MAX_PAGE)
    items = []
    held = suspensions(ctx) if found else {}
    for status in found:
        if not may_see_name(fleet, principal, status.application):
            continue
        if repository is not None:
            app = fleet.applications.get(status.application)
            if app is None or app.source.repository != repository:
                continue
        items.append(models.TargetSummary.of(status, held.get(status.target)))
    return models.CommitTargets(revision=revision.lower(), repository=repository, items=items,
                                truncated=len(found) >= MAX_PAGE)
