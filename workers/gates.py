"""Whether a target may write now (suspension, sync windows, dependencies) and whom its success wakes.

Called by workers/service.py around every reconcile: :func:`hold_for` before it (a Hold makes the
engine only compare, and is recorded on the status so ``gitops status`` and the API say why), and
:func:`woken_by` after the status is recorded (the dependants the task enqueues at once, with the
trigger detail "<target> is ready"). The decisions are gitops.permit's pure functions; this module
reads what they need (the fleet through ``rt.permits``, statuses and heads from the store, the time
from ``rt.clock``) and schedules the wake-up that reconciles a target when the window holding it
closes (``rt.wakes``, claimed by the beat). A dependency that only needs a reconcile (never reconciled,
or behind Git because the last commit did not touch its path, so no poll asked for it) is given a
wake-up now, so the beat's next tick reconciles it and its success wakes the dependant.

Key choices (docs/dependencies.md, docs/sync-windows.md): a dry run is never held; a suspension
(after a rollback) holds automated reconciles only; a sync window holds automated reconciles, and a
manual sync when the window says so; dependencies hold automated reconciles only — a manual sync is
the user's explicit intent and goes through, as ``kubectl apply`` would; an application whose policy
would not write anyway (not automated, or detect-only) is not held by windows or dependencies (nothing
is being withheld). A window that cannot be evaluated holds (fail closed), naming the error.
"""

from __future__ import annotations

import logging

from gitops.domain import Application, Fleet
from gitops.errors import GitOpsError
from gitops.permit import dependencies, windows
from gitops.state import TargetStatus
from gitops.state.model import Hold
from gitops.state.wakes import Wake
from gitops.vocabulary import HealthStatus, SyncStatus, Target
from workers.ports import Runtime

log = logging.getLogger(__name__)
SUSPENDED, WINDOW, DEPENDENCY = "suspended", "window", "dependency"


def hold_for(rt: Runtime, target: Target, *, manual: bool, dry_run: bool) -> Hold | None:
    """Why ``target`` must only be compared now (None: it may write as its policy or the user asks)."""
    if dry_run:
        return None
    now = rt.clock.now()
    if not manual:
        suspension = rt.suspensions.suspension(target)
        if suspension is not None:
            revision = suspension.revision[:12] if suspension.revision else ""
            said = f" (rollback to {revision})" if revision and revision not in suspension.reason else ""
            return Hold(SUSPENDED, f"automated sync suspended: {suspension.reason}{said}",
                        since=suspension.since)
    fleet = rt.permits.current() if rt.permits is not None else None
    app = fleet.applications.get(target.application) if fleet is not None else None
    if fleet is None or app is None:
        return None
    writes = manual or (app.sync_policy.automated and not app.sync_policy.detect_only)
    if not writes:
        return None
    hold = _window_hold(rt, target, fleet, app, now, manual)
    if hold is None and not manual:
        hold = _dependency_hold(rt, target, fleet, app)
    return None if hold is None else _since(rt, target, hold, now)


def _since(rt: Runtime, target: Target, hold: Hold, now: float) -> Hold:
    """The hold, ``since`` kept from the recorded one when the target is still held for that reason."""
    if hold.since:
        return hold
    previous = rt.store.status(target)
    kept = previous.hold if previous is not None else None
    since = kept.since if kept is not None and kept.reason == hold.reason and kept.since else now
    return Hold(hold.reason, hold.message, hold.on, hold.until, since)


def _window_hold(rt: Runtime, target: Target, fleet: Fleet, app: Application, now: float,
                 manual: bool) -> Hold | None:
    if not fleet.sync_windows:
        return None
    cluster = fleet.clusters.get(target.cluster)

    def at(instant: float, manual: bool = False) -> windows.WindowState:
        return windows.evaluate(fleet.sync_windows.values(), instant, application=target.application,
                                app_labels=app.labels, cluster=target.cluster,
                                cluster_labels=cluster.labels if cluster is not None else {}, manual=manual)

    try:
        state = at(now, manual)
        if state.manual if manual else state.automated:
            return None
        if state.changes_at is not None and not manual:  # a held manual sync is the user's to ask again
            _wake(rt, Wake(target, state.changes_at, windows.change_reason(state, at(state.changes_at))))
    except GitOpsError as exc:  # the configuration refuses such windows; fail closed all the same
        return Hold(WINDOW, f"sync windows cannot be evaluated: {exc}")
    names = state.blocking_manual if manual else state.blocking
    return Hold(WINDOW, windows.explain(state, manual=manual), names, state.changes_at)


def current_revisions(rt: Runtime, fleet: Fleet, targets: tuple[Target, ...]) -> dict[Target, str | None]:
    """What each target's source resolves to now (see gitops.permit.dependencies.current_revision)."""
    found: dict[Target, str | None] = {}
    for target in targets:
        app = fleet.applications.get(target.application)
        head = rt.store.repo_head(app.source.repository) if app is not None and app.source.revision is None \
            else None
        found[target] = dependencies.current_revision(app, head) if app is not None else None
    return found


def _dependency_hold(rt: Runtime, target: Target, fleet: Fleet, app: Application) -> Hold | None:
    needed = dependencies.dependencies_of(app, target.cluster)
    if not needed:
        return None
    statuses = {t: rt.store.status(t) for t in needed}
    blockers = dependencies.blocked_on(app, target.cluster, fleet, statuses,
                                       current_revisions(rt, fleet, needed))
    if not blockers:
        return None
    for blocker in blockers:
        if blocker.stale:  # it needs a reconcile, which a poll filtering by path may never ask for
            _wake(rt, Wake(blocker.target, rt.clock.now(), f"{target} waits for it ({blocker.reason})"))
    return Hold(DEPENDENCY, dependencies.message(blockers), tuple(b.target.key for b in blockers))


def _wake(rt: Runtime, wake: Wake) -> None:
    try:
        rt.wakes.schedule(wake)
    except GitOpsError as exc:  # the next resync reconciles it all the same
        log.warning("wake of %s at %s not scheduled: %s", wake.target, wake.at, exc)


def _ready(status: TargetStatus | None) -> bool:
    return (status is not None and status.error is None and status.sync is SyncStatus.SYNCED
            and status.health is HealthStatus.HEALTHY)


def woken_by(rt: Runtime, target: Target, status: TargetStatus,
             previous: TargetStatus | None) -> tuple[Target, ...]:
    """The dependants to reconcile now that ``target`` recorded ``status``: when it is ready (Synced and
    Healthy without error, at its current revision), those it just became ready for (it was not, or
    it moved to another revision) and any dependant whose recorded hold still names it."""
    if rt.permits is None or not _ready(status):
        return ()
    fleet = rt.permits.current()
    waiting = tuple(t for t in dependencies.dependants(target, fleet) if rt.catalog.target(t) is not None)
    if not waiting:
        return ()
    current = current_revisions(rt, fleet, (target,))[target]
    if current is not None and (status.revision or "").lower() != current:
        return ()  # Synced at an older commit: its dependants would only be held again
    if not _ready(previous) or previous is None or previous.revision != status.revision:
        return waiting
    held = []
    for dependant in waiting:
        recorded = rt.store.status(dependant)
        hold = recorded.hold if recorded is not None else None
        if hold is not None and hold.reason == DEPENDENCY and target.key in hold.on:
            held.append(dependant)
    return tuple(held)
