"""``POST /api/v1/webhooks/{provider}`` and the deliveries API (``GET /api/v1/webhooks/deliveries``).

Included by :func:`web.app.create_app` under ``/api/v1``. The receiver is not behind a login: a
delivery authenticates by its signature (:mod:`web.webhooks.verify`); the body limit of the app's
Guard applies before a byte reaches it (413). The deliveries API is for operators
(``require(Role.OPERATOR)``): it shows every delivery answered, with what it matched and enqueued or
why nothing, the troubleshooting view docs/webhooks.md points to. Key design choice: the route only
adapts HTTP: the raw body and headers go to :class:`web.webhooks.receive.Receiver` in a worker
thread (Redis and the broker are blocking), whose :class:`~web.webhooks.receive.Answer` becomes JSON
or problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gitops.state.deliveries import Deliveries, Delivery
from web import problems
from web.auth import Principal, Role, require
from web.context import WebContext, context
from web.problems import HTTPProblem
from web.webhooks.receive import PROVIDERS, Receiver
from web.webhooks.wiring import metrics_of

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Ctx = Annotated[WebContext, Depends(context)]


def _store(ctx: WebContext) -> Deliveries:
    if ctx.deliveries is None:
        raise HTTPProblem(503, "Webhooks unavailable", "no deliveries store is attached to this server",
                          headers={"Retry-After": "30"})
    store: Deliveries = ctx.deliveries
    return store


@router.post("/{provider}", summary="Receive a webhook delivery",
             responses={200: {"description": "a ping, verified"},
                        202: {"description": "a push (what was triggered, or why nothing), or ignored"},
                        400: {"description": "unreadable payload"}, 401: {"description": "not verified"},
                        404: {"description": "unknown provider, or no receiver for it"},
                        409: {"description": "replayed delivery"}, 413: {"description": "body too large"},
                        415: {"description": "wrong content type"}})
async def receive(request: Request, ctx: Ctx, provider: str) -> Response:
    """A delivery from a Git host: github, gitlab, bitbucket-server, bitbucket-cloud (``bitbucket``:
    either), gitea or generic. See docs/webhooks.md."""
    if provider not in PROVIDERS:
        raise HTTPProblem(404, "Unknown provider", f"webhooks are received for {', '.join(PROVIDERS)}")
    store = _store(ctx)
    body = await request.body()
    receiver = Receiver(fleet=ctx.fleet, deliveries=store, actions=ctx.actions, clock=ctx.clock,
                        replay_seconds=ctx.settings.replay_seconds, metrics=metrics_of(ctx))
    headers = {k.lower(): v for k, v in request.headers.items()}
    remote = request.client.host if request.client else ""
    answer = await run_in_threadpool(receiver.handle, provider, headers, body,
                                     request.headers.get("content-type"), remote)
    if answer.problem:
        return problems.problem_response(request, answer.status, answer.title, answer.detail, answer.headers,
                                         **answer.body)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers or None)


def _shown(delivery: Delivery, principal: Principal, ctx: WebContext) -> dict[str, object]:
    """A delivery as the caller may see it: targets of applications outside its scope are left out."""
    data = delivery.to_dict()
    if principal.scope:
        applications = ctx.fleet().applications
        visible = []
        for item in data["triggered"]:
            app = applications.get(str(item["target"]).split("@", 1)[0])
            if app is not None and principal.may_see(app):
                visible.append(item)
        data["triggered"] = visible
    return data


@router.get("/deliveries", summary="Recent webhook deliveries, newest first")
def deliveries(principal: Operator, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               provider: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, object]:
    """What each delivery was (provider, event, repository, ref), its verdict and reason, and the
    targets it triggered (task id, or ``coalesced``)."""
    if provider is not None and provider not in PROVIDERS:
        raise HTTPProblem(400, "Bad request", f"provider: one of {', '.join(PROVIDERS)}", field="provider")
    found = _store(ctx).recent(limit=limit, provider=provider)
    return {"deliveries": [_shown(d, principal, ctx) for d in found]}


@router.get("/deliveries/{key}", summary="One webhook delivery")
def delivery(principal: Operator, ctx: Ctx, key: Annotated[str, Path(max_length=200)]) -> dict[str, object]:
    """By its record key (``delivery`` in the receiver's answer) or by the provider's delivery id (the
    newest record of it)."""
    found = _store(ctx).get(key)
    if found is None:
        raise HTTPProblem(404, "Not found", "no such delivery in the log (it keeps the last 1000)")
    return _shown(found, principal, ctx)
