"""/api/v1/applicationsets: the ApplicationSet controller's records, and the user's verbs on a set.

Called by API clients and the dashboard's ApplicationSet pages (:mod:`web.dashboard.appsets`, which
shares :func:`read`, :func:`visible_states` and :func:`perform`). Reads (viewer) show what the
controller last saved (:class:`gitops.appset.record.AppSetState`): desired and released applications,
the change the deletion breaker holds, the rollout, the last pass's errors, and the set's tombstones.
The verbs (operator, plus the CSRF token for a session) are the ones of ``gitops appset``:
``approve`` (the held change, or the rollout step waiting for an approval), ``pause``, ``resume``,
``restore`` (an application from its tombstone) and ``delete`` (stop keeping a restored one); each is
a compare-and-set update of the record (:mod:`gitops.appset.controller`) that the controller's next
pass applies. Nothing here generates, syncs or talks to Git or a cluster.

Key design choices: every verb is written to the audit log *before* it changes the record (an audit
log that cannot be written refuses the verb, 503), as the target actions do. Scope: a scoped
principal sees a set only when the set has applications and the principal may see every one of them
(each application's labels plus ``gitops.dev/application-set: NAME``, the labels the fleet gives it);
any other set answers 404 like one that does not exist, and so do its tombstones and verbs. A
tombstone a scoped principal may not see is neither listed nor restorable. Without a store
(``ctx.appsets`` None) every route answers 503.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from starlette.requests import Request

from gitops.appset import controller
from gitops.appset.fleetview import APPSET_LABEL
from gitops.appset.record import AppSetState, GeneratedApp
from gitops.errors import InputError, StateError
from gitops.state.appsets import AppSetStore, Tombstone
from gitops.state.names import check_name
from web.api import models
from web.api.access import not_found
from web.auth import Principal, Role, require
from web.context import WebContext, context
from web.problems import HTTPProblem

router = APIRouter(tags=["applicationsets"])
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR, unsafe=True))]
Ctx = Annotated[WebContext, Depends(context)]
SetName = Annotated[str, Path(max_length=253, description="ApplicationSet name")]
AppName = Annotated[str, Path(max_length=253, description="application name")]
VERBS = ("approve", "pause", "resume", "restore", "delete")
NO_STORE = "ApplicationSets are not available: no state store"


# -- reading -----------------------------------------------------------------------------------------

def store_of(ctx: WebContext) -> AppSetStore:
    """The context's store of ApplicationSet records; 503 when there is none."""
    if ctx.appsets is None:
        raise HTTPProblem(503, "Service unavailable", NO_STORE)
    return ctx.appsets


def _labels(appset: str, document: Mapping[str, Any]) -> dict[str, str]:
    found = document.get("labels")
    labels = {str(k): str(v) for k, v in found.items()} if isinstance(found, Mapping) else {}
    return {**labels, APPSET_LABEL: appset}


def may_see_document(principal: Principal, appset: str, document: Mapping[str, Any]) -> bool:
    """Whether ``principal``'s scope (the rule of :meth:`Principal.may_see`) admits an application
    document of ``appset``, labelled as the fleet labels it."""
    if not principal.scope:
        return True
    labels = _labels(appset, document)
    return all(labels.get(k) == v for k, v in principal.scope.items())


def visible(principal: Principal, state: AppSetState) -> bool:
    """An unscoped principal sees every set; a scoped one a set that has applications, every one of
    which it may see."""
    if not principal.scope:
        return True
    apps = [*state.desired.values(), *state.released.values()]
    return bool(apps) and all(may_see_document(principal, state.name, a.document) for a in apps)


def read(ctx: WebContext, principal: Principal, name: str) -> AppSetState:
    """The record of the set ``name`` if ``principal`` may see it; 404 otherwise (also for a name that
    is not valid), 500 naming the problem when the record is unreadable (404 to a scoped caller)."""
    store = store_of(ctx)
    try:
        check_name(name, "appset")
    except InputError:
        raise not_found("ApplicationSet", name) from None
    found = store.load(name)
    if found is None:
        raise not_found("ApplicationSet", name)
    try:
        state = AppSetState.from_json(name, found.text)
    except StateError as exc:
        if principal.scope:
            raise not_found("ApplicationSet", name) from None
        raise HTTPProblem(500, "Unreadable record", str(exc)) from None
    if not visible(principal, state):
        raise not_found("ApplicationSet", name)
    return state


def visible_states(ctx: WebContext, principal: Principal) -> list[AppSetState | tuple[str, str]]:
    """Every set ``principal`` may see, by name: its record, or (name, why) when the record is
    unreadable (listed to unscoped callers only)."""
    store = store_of(ctx)
    out: list[AppSetState | tuple[str, str]] = []
    for name in store.names():
        found = store.load(name)
        if found is None:
            continue
        try:
            state = AppSetState.from_json(name, found.text)
        except StateError as exc:
            if not principal.scope:
                out.append((name, str(exc)))
            continue
        if visible(principal, state):
            out.append(state)
    return out


def tombstones(ctx: WebContext, principal: Principal, state: AppSetState) -> list[Tombstone]:
    """The set's unexpired tombstones ``principal`` may see, newest first."""
    return [t for t in store_of(ctx).tombstones(state.name)
            if may_see_document(principal, state.name, _document(t))]


def _document(stone: Tombstone) -> Mapping[str, Any]:
    try:
        found = json.loads(stone.document)
    except ValueError:
        return {}
    return found if isinstance(found, Mapping) else {}


def _cluster_of(stone: Tombstone) -> str | None:
    destination = _document(stone).get("destination")
    cluster = destination.get("cluster") if isinstance(destination, Mapping) else None
    return cluster if isinstance(cluster, str) else None


# -- answers -----------------------------------------------------------------------------------------

def summary(state: AppSetState) -> models.AppSetSummary:
    rollout = state.rollout
    pending = state.pending
    return models.AppSetSummary(
        name=state.name, desired=len(state.desired), released=len(state.released), paused=state.paused,
        rollout=None if rollout is None else models.AppSetRollout(
            id=rollout.id, phase=rollout.phase, step=rollout.step + 1, message=rollout.message,
            started_at=rollout.started_at, gate_since=rollout.gate_since,
            approved_step=None if rollout.approved_step is None else rollout.approved_step + 1),
        held=None if pending is None else models.AppSetHeld(
            id=pending.id, delete_count=len(pending.deletes), move_count=len(pending.moves),
            reason=pending.reason, since=pending.since, approved=pending.approved),
        errors=len(state.last_run.errors) + len(state.last_run.failures), last_pass=state.last_run.at,
        kept=sorted(state.kept))


def unreadable(name: str, why: str) -> models.AppSetSummary:
    return models.AppSetSummary(name=name, desired=0, released=0, paused=False, errors=0, last_pass=0,
                                error=why)


def _application(name: str, desired: GeneratedApp | None, released: GeneratedApp | None,
                 kept: bool) -> models.AppSetApplication:
    shown = desired or released
    assert shown is not None
    return models.AppSetApplication(
        name=name, cluster=shown.cluster, desired=desired is not None, released=released is not None,
        desired_revision=None if desired is None else desired.revision,
        released_revision=None if released is None else released.revision,
        released_cluster=None if released is None else released.cluster,
        up_to_date=desired is not None and released is not None
        and desired.fingerprint == released.fingerprint, kept=kept)


def detail(state: AppSetState) -> models.AppSetDetail:
    names = sorted({*state.desired, *state.released})
    pending, run, rollout = state.pending, state.last_run, state.rollout
    clusters = [] if rollout is None else [
        models.AppSetRolloutCluster(cluster=c, released_at=at, done_at=rollout.done.get(c))
        for c, at in sorted(rollout.released.items(), key=lambda item: (item[1], item[0]))]
    return models.AppSetDetail(
        **summary(state).model_dump(),
        applications=[_application(n, state.desired.get(n), state.released.get(n), n in state.kept)
                      for n in names],
        change=None if pending is None else models.AppSetChange(
            id=pending.id, deletes=list(pending.deletes), moves=list(pending.moves), reason=pending.reason,
            since=pending.since, approved=pending.approved),
        last_run=models.AppSetLastPass(at=run.at, complete=run.complete, errors=list(run.errors),
                                       failures=list(run.failures), notes=list(run.notes),
                                       created=run.created, updated=run.updated, deleted=run.deleted),
        rollout_clusters=clusters)


def tombstone(stone: Tombstone) -> models.AppSetTombstone:
    return models.AppSetTombstone(application=stone.application, cluster=_cluster_of(stone),
                                  deleted_at=stone.deleted_at, expires_at=stone.expires_at,
                                  reason=stone.reason)


# -- the verbs -----------------------------------------------------------------------------------------

def perform(ctx: WebContext, principal: Principal, name: str, verb: str, *, application: str | None = None,
            change: str | None = None, via: str = "api", remote: str | None = None) -> str:
    """Run ``verb`` on the set ``name`` for ``principal``: visibility checked (404), written to the audit
    log first (a log that cannot be written refuses it: 503), then the controller's verb; its message.
    A refusal of the controller (nothing to approve, another change id, no such tombstone...) is 409."""
    if verb not in VERBS:
        raise HTTPProblem(404, "Not found", "no such action")
    state = read(ctx, principal, name)
    store = store_of(ctx)
    if verb in ("restore", "delete"):
        if application is None:
            raise HTTPProblem(404, "Not found", "no application named")
        try:
            check_name(application, "application")
        except InputError:
            raise not_found("application", application) from None
        if verb == "restore" and principal.scope:
            stone = next((t for t in store.tombstones(state.name) if t.application == application), None)
            if stone is not None and not may_see_document(principal, state.name, _document(stone)):
                # the controller's own words for a missing tombstone: an unseen one looks the same
                raise HTTPProblem(409, "Conflict", f"no tombstone of {application!r} in ApplicationSet "
                                                   f"{state.name!r} (expired, or never deleted)")
    if ctx.audit is not None:
        target = f"applicationset/{state.name}" + (f"/{application}" if application else "")
        ctx.audit.record(actor=principal.name, action=f"appset-{verb}", target=target,
                         detail=(f"change={change} " if change else "") + f"via {via}", remote=remote)
    act: dict[str, Callable[[], str]] = {
        "approve": lambda: controller.approve(store, state.name, change),
        "pause": lambda: controller.pause(store, state.name),
        "resume": lambda: controller.resume(store, state.name),
        "restore": lambda: controller.restore(store, state.name, application or ""),
        "delete": lambda: controller.delete(store, state.name, application or ""),
    }
    try:
        return act[verb]()
    except InputError as exc:
        field = getattr(getattr(exc, "problem", None), "field", None)
        extra: dict[str, Any] = {"field": field} if isinstance(field, str) else {}
        raise HTTPProblem(409, "Conflict", str(exc), **extra) from None


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


def _result(verb: str, name: str, message: str, application: str | None = None) -> models.AppSetActionResult:
    return models.AppSetActionResult(action=verb, application_set=name, application=application,
                                     message=message)


# -- routes ----------------------------------------------------------------------------------------------

@router.get("/applicationsets", response_model=models.AppSetList, summary="List ApplicationSets")
def list_appsets(principal: Viewer, ctx: Ctx) -> models.AppSetList:
    """Every ApplicationSet with a record the caller may see, by name: counts, rollout, the held
    change, the pause, errors of the last pass."""
    return models.AppSetList(items=[summary(s) if isinstance(s, AppSetState) else unreadable(*s)
                                    for s in visible_states(ctx, principal)])


@router.get("/applicationsets/{name}", response_model=models.AppSetDetail, summary="One ApplicationSet")
def get_appset(principal: Viewer, ctx: Ctx, name: SetName) -> models.AppSetDetail:
    """The summary, and: each application desired vs released (cluster, revision), the held change's
    deletions and moves, the last pass's errors, failures and notes, the rollout's clusters."""
    return detail(read(ctx, principal, name))


@router.get("/applicationsets/{name}/tombstones", response_model=models.AppSetTombstoneList,
            summary="Deleted applications of a set")
def list_tombstones(principal: Viewer, ctx: Ctx, name: SetName) -> models.AppSetTombstoneList:
    """The set's deleted applications that can still be restored, newest first."""
    state = read(ctx, principal, name)
    return models.AppSetTombstoneList(items=[tombstone(t) for t in tombstones(ctx, principal, state)])


@router.post("/applicationsets/{name}/approve", response_model=models.AppSetActionResult,
             summary="Approve the held change or the waiting rollout step")
def approve(request: Request, principal: Operator, ctx: Ctx, name: SetName,
            body: Annotated[models.AppSetApproveRequest | None, Body()] = None) -> models.AppSetActionResult:
    """Approve the change the deletion breaker holds (only the one with ``change``'s id when given),
    or else the rollout step waiting for an approval; 409 when nothing waits or the id differs."""
    change = body.change if body is not None else None
    message = perform(ctx, principal, name, "approve", change=change, remote=_remote(request))
    return _result("approve", name, message)


@router.post("/applicationsets/{name}/pause", response_model=models.AppSetActionResult,
             summary="Pause a set's releases")
def pause(request: Request, principal: Operator, ctx: Ctx, name: SetName) -> models.AppSetActionResult:
    """Release nothing more to the clusters until resume (statuses are still observed)."""
    return _result("pause", name, perform(ctx, principal, name, "pause", remote=_remote(request)))


@router.post("/applicationsets/{name}/resume", response_model=models.AppSetActionResult,
             summary="Resume a set")
def resume(request: Request, principal: Operator, ctx: Ctx, name: SetName) -> models.AppSetActionResult:
    """Undo pause; take a halted rollout up again at its current step."""
    return _result("resume", name, perform(ctx, principal, name, "resume", remote=_remote(request)))


@router.post("/applicationsets/{name}/tombstones/{application}/restore",
             response_model=models.AppSetActionResult, summary="Restore a deleted application")
def restore(request: Request, principal: Operator, ctx: Ctx, name: SetName,
            application: AppName) -> models.AppSetActionResult:
    """Bring the application back from its tombstone; it is kept even while no element generates it,
    until ``delete``."""
    message = perform(ctx, principal, name, "restore", application=application, remote=_remote(request))
    return _result("restore", name, message, application)


@router.post("/applicationsets/{name}/applications/{application}/delete",
             response_model=models.AppSetActionResult, summary="Stop keeping a restored application")
def delete(request: Request, principal: Operator, ctx: Ctx, name: SetName,
           application: AppName) -> models.AppSetActionResult:
    """The next pass deletes the application unless an element generates it (409 unless it is kept)."""
    message = perform(ctx, principal, name, "delete", application=application, remote=_remote(request))
    return _result("delete", name, message, application)
