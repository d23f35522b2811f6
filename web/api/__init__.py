"""The JSON API under /api/v1: targets, applications, operations and traces, commits, clusters,
actions and the event stream (docs/api.md; the OpenAPI document is served at /api/v1/openapi.json).

Included by :func:`web.app.create_app` under the /api/v1 prefix. Key design choice: every route
reads the state's read side and the configuration through ``ctx`` (:mod:`web.context`), declares
its role with ``require`` (viewer for reads; operator plus CSRF for actions), narrows what it shows
to the applications the caller may see (:mod:`web.api.access`) and answers typed models
(:mod:`web.api.models`), errors as problem+json.
"""

from __future__ import annotations

from fastapi import APIRouter

from web.api import actions, applications, clusters, commits, events, targets
from web.api.models import PROBLEM_RESPONSES

router = APIRouter()
for _module in (targets, applications, actions, commits, clusters, events):
    router.include_router(_module.router, responses=PROBLEM_RESPONSES)
