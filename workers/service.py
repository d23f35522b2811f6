"""What the tasks do, without Celery: reconcile under a fenced lease, poll, trigger with coalescing.

Called by workers/tasks.py (one function per task) and by workers/beat.py. Returns an :class:`Outcome`
telling the task whether to retry (and when) and which reconciles to enqueue, so all decisions are
testable without a broker. Key design choices: untrusted task arguments are validated before anything
touches Redis; the operation id is the Celery task id, so a redelivered task updates its own history
entry instead of adding one; only temporary errors are retried, with exponential backoff and jitter,
a finite number of times, never sooner than the cluster asked (the ``Retry-After`` hint carried by the
result's typed ``failure``, capped by the retry policy); a worker that lost its lease has its writes
refused (fencing). After the operation is recorded, the rendered manifests are kept beside it
(``keep_manifests``) and the runtime's observers (metrics, trace export) are told; neither can fail
the operation. The trigger detail ("github delivery 72d3162e", "alice via dashboard") is an untrusted
task argument too: a string or nothing, clipped to one printable line before it is stored.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from gitops.errors import Failure, GitOpsError, InputError, StateError
from gitops.notify import Notice
from gitops.results import FieldDrift, ImageCheck, ObjectResult, Span
from gitops.state import (
    Lease,
    Operation,
    TargetStatus,
    carry_forward,
    check_name,
    check_target,
    records_from_result,
)
from gitops.state.index import RenderedManifests
from gitops.state.model import ResultLike, clip_detail
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger
from workers import gates, notices
from workers.backoff import backoff as backoff  # also service.backoff, for workers/tasks.py
from workers.locks import LeaseKeeper
from workers.ports import Retry, Runtime, TargetInfo, WorkResult

log = logging.getLogger(__name__)
LOCK_RETRY_LIMIT = 60
MAX_REDELIVERIES = 3


@dataclass(frozen=True)
class Call:
    """Who is running: the task id (also the operation id) and the attempt number (1-based)."""

    task_id: str
    attempt: int = 1


@dataclass(frozen=True)
class Outcome:
    status: str                        # done | rejected | retry | fenced | gave-up
    detail: str = ""
    countdown: float = 0.0             # before the retry, or before the enqueued reconciles run
    enqueue: tuple[Target, ...] = ()   # reconciles the caller must enqueue (already marked queued)
    trigger: Trigger = Trigger.POLL
    extra: dict[str, Any] = field(default_factory=dict)
    trigger_detail: str | None = None  # passed on with the enqueued reconciles
    sync: tuple[Target, ...] = ()      # manual syncs the caller must enqueue (a rollout step released them)
    sync_detail: str | None = None
    appsets: tuple[str, ...] = ()      # ApplicationSet controller passes the caller must enqueue
    follow: tuple[Target, ...] = ()    # reconciles to enqueue now (dependants of a target that became ready)
    follow_detail: str | None = None
    notices: tuple[Notice, ...] = ()   # notifications to deliver (queued, never blocking the operation)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail[:1000], "countdown": self.countdown,
                "enqueued": [t.key for t in self.enqueue], **self.extra}


@dataclass(frozen=True)
class FailedResult:
    """A ResultLike for a reconcile that raised instead of returning a result (stamped by the caller,
    on the runtime's clock)."""

    target: Target
    failure: Failure
    started: float
    finished: float
    revision: str | None = None
    sync: SyncStatus = SyncStatus.UNKNOWN
    health: HealthStatus = HealthStatus.UNKNOWN
    objects: tuple[ObjectResult, ...] = ()
    drift: tuple[FieldDrift, ...] = ()
    spans: tuple[Span, ...] = ()
    commit_time: float | None = None
    manifests_digest: str | None = None
    corrected: tuple[FieldDrift, ...] = ()
    verification: tuple[ImageCheck, ...] | None = None
    applied: bool = False
    rendered: str = ""
    rendered_truncated: bool = False


def retry_hint(result: ResultLike) -> float | None:
    """Seconds the cluster asked us to wait before retrying (its ``Retry-After``), from the result's
    typed failure; None when there is no hint."""
    return result.failure.retry_after if result.failure is not None else None


def retry_policy(rt: Runtime, target: Target) -> Retry:
    """The application's retry policy, or the worker settings' when the catalog has none."""
    info = rt.catalog.target(target)
    if info is not None and info.retry is not None:
        return info.retry
    s = rt.settings
    return Retry(s.retry_limit, s.retry_base, 2.0, s.retry_max)


def owner_id(call: Call) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{call.task_id}"


def _validate(rt: Runtime, application: object, cluster: object, trigger: object,
              detail: object = None) -> Target | str:
    try:
        target = check_target(application, cluster)
        Trigger(str(trigger))
        check_detail(detail)
    except (InputError, ValueError) as exc:
        return f"rejected task arguments: {exc}"
    if rt.catalog.target(target) is None:
        return f"unknown target {target}: no such application/cluster in the configuration"
    return target


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def check_revision(revision: object) -> str | None:
    """A pinned revision from a task argument: None, or a full lowercase commit id (InputError)."""
    if revision is None:
        return None
    if not isinstance(revision, str) or not _COMMIT.fullmatch(revision):
        raise InputError("revision must be a full commit id (40 lowercase hex digits)", field="revision")
    return revision


def check_detail(detail: object) -> str | None:
    """A trigger detail from a task argument: None, or a string made one printable line of at most
    ``MAX_DETAIL`` characters; anything else is refused (InputError)."""
    if detail is not None and not isinstance(detail, str):
        raise InputError(f"trigger detail must be a string, not {type(detail).__name__}", field="detail")
    return clip_detail(detail)


def _reconcile_safely(rt: Runtime, target: Target, trigger: Trigger, prune: bool | None,
                      dry_run: bool, manual: bool, force: bool = False, revision: str | None = None,
                      held: bool = False) -> WorkResult:
    """The engine's reconcile; ``held``: only compare (see :func:`workers.gates.hold_for`)."""
    started = rt.clock.now()
    sync = False if held else True if manual and not dry_run else None
    pinned = {"revision": revision} if revision else {}  # only a rollback names one
    try:
        return rt.reconciler.reconcile(target, trigger=trigger, prune=prune, dry_run=dry_run, sync=sync,
                                       force=force, **pinned)
    except GitOpsError as exc:
        return FailedResult(target, Failure.of(exc), started, rt.clock.now())
    except Exception as exc:  # a bug in a layer below must not kill the worker or lose the record
        log.exception("reconcile of %s crashed", target)
        kind = type(exc).__name__
        return FailedResult(target, Failure(kind, f"internal error: {kind}: {exc}"), started, rt.clock.now())


@dataclass(frozen=True)
class Job:
    """One validated reconcile request. ``manual``: a sync the user asked for (applies even when not
    automated); ``hard``: drop the render's caches first (a hard refresh); ``force``: take ownership of
    fields other managers hold (a manual sync asked with force)."""

    call: Call
    target: Target
    trigger: Trigger
    prune: bool | None
    dry_run: bool
    coalesced: bool
    detail: str | None = None
    hard: bool = False
    manual: bool = False
    force: bool = False
    revision: str | None = None  # a rollback: this commit instead of the one the source names


def reconcile(rt: Runtime, call: Call, application: object, cluster: object, *, trigger: object,
              prune: bool | None = None, dry_run: bool = False, coalesced: bool = True,
              detail: object = None, hard: bool = False, manual: bool | None = None,
              force: bool = False, revision: object = None) -> Outcome:
    """One reconcile of (application, cluster) under the target's lease; see the module docstring.

    ``coalesced``: it went through the per-target coalescing marks (poll, webhook, refresh); when not
    (a sync, a hard refresh) it is ``manual`` unless told otherwise. ``detail`` says who or what asked.
    ``revision`` (a manual sync only: a rollback) is a full commit id, checked like every argument."""
    checked = _validate(rt, application, cluster, trigger, detail)
    if isinstance(checked, str):
        log.warning("%s", checked)
        return Outcome("rejected", checked)
    try:
        pinned = check_revision(revision)
    except InputError as exc:
        return Outcome("rejected", f"rejected task arguments: {exc}")
    job = Job(call, checked, Trigger(str(trigger)), prune, dry_run, coalesced, check_detail(detail),
              hard is True, (not coalesced) if manual is None else manual is True, force is True, pinned)
    if coalesced:
        rt.store.begin_run(job.target, rt.settings.sched_ttl)
    lease = rt.store.acquire(job.target, owner_id(call), rt.settings.lock_ttl)
    if lease is None:
        if call.attempt > LOCK_RETRY_LIMIT:
            return _finish(rt, job, Outcome("gave-up", "lock held too long"))
        return Outcome("retry", f"{job.target} is locked by another reconcile",
                       countdown=min(rt.settings.lock_ttl, 0.5 + 0.5 * call.attempt * random.random()))
    try:
        with LeaseKeeper(rt.store, lease, rt.settings.lock_ttl, clock=rt.clock):
            ran = _run(rt, job, lease)
    except StateError as exc:
        if exc.temporary:
            return Outcome("retry", str(exc), countdown=backoff(call.attempt, rt.settings.retry_base,
                                                                rt.settings.retry_max))
        log.warning("fenced: %s", exc)
        return Outcome("fenced", str(exc))
    finally:
        _release(rt, lease)
    return replace(_conclude(rt, job, ran.result, ran.status), notices=ran.notices,
                   follow=ran.follow, follow_detail=f"{job.target} is ready" if ran.follow else None)


def _redeliveries(rt: Runtime, job: Job) -> int:
    """How often this task already started and never finished (its worker died: OOM, kill -9)."""
    previous = rt.store.operation(job.target, job.call.task_id)
    if previous is None or previous.phase is not OperationPhase.RUNNING:
        return 0
    return previous.redeliveries + 1


@dataclass(frozen=True)
class Ran:
    """What :func:`_run` did: the result, the status recorded, and what follows from it."""

    result: ResultLike
    status: TargetStatus
    follow: tuple[Target, ...] = ()
    notices: tuple[Notice, ...] = ()


def _run(rt: Runtime, job: Job, lease: Lease) -> Ran:
    """Record the running operation, call the engine (only comparing while the target is held: its
    dependencies, a sync window, a suspension), record the outcome (all fenced by ``lease``); then keep
    the rendered manifests, tell the observers, and say which dependants to wake and what to notify."""
    redelivered = _redeliveries(rt, job)
    previous = rt.store.status(job.target)
    hold = gates.hold_for(rt, job.target, manual=job.manual, dry_run=job.dry_run)
    detail = _hard_refresh(rt, job) if job.hard else job.detail
    begun = Operation(id=job.call.task_id, application=job.target.application, cluster=job.target.cluster,
                      trigger=job.trigger, phase=OperationPhase.RUNNING, started=rt.clock.now(),
                      dry_run=job.dry_run, prune=bool(job.prune), attempt=job.call.attempt, fence=lease.token,
                      redeliveries=redelivered, trigger_detail=detail)
    rt.store.begin(begun, lease=lease)
    if redelivered > MAX_REDELIVERIES:  # a poison task: it keeps killing workers; stop the loop
        result: WorkResult = FailedResult(job.target, Failure("SyncFailed", (
            f"gave up: the reconcile was interrupted {redelivered} times by its worker dying "
            "(out of memory?)")), begun.started, rt.clock.now())
    else:
        result = _reconcile_safely(rt, job.target, job.trigger, job.prune, job.dry_run, job.manual,
                                   job.force and job.manual, job.revision if job.manual else None,
                                   held=hold is not None)
    status, operation = records_from_result(result, operation_id=job.call.task_id, trigger=job.trigger,
                                            dry_run=job.dry_run, prune=bool(job.prune),
                                            attempt=job.call.attempt, trigger_detail=detail)
    operation = replace(operation, started=begun.started, fence=lease.token, redeliveries=redelivered)
    status = replace(carry_forward(previous, status), hold=None if hold is None else hold.bounded())
    rt.store.record(status, operation, lease=lease)
    _keep_manifests(rt, job.target, result, operation.id)
    _tell_observers(rt, operation, status)
    return Ran(result, status, gates.woken_by(rt, job.target, status, previous),
               notices.notices_for(rt, previous, status, operation))


def _hard_refresh(rt: Runtime, job: Job) -> str | None:
    """Drop the target's render caches (before the reconcile); the trigger detail then says so."""
    try:
        dropped = rt.reconciler.hard_refresh(job.target)
    except GitOpsError as exc:  # the reconcile that follows records the source's error, if it persists
        dropped = f"nothing dropped: {exc}"
    except Exception as exc:  # a bug below must not stop the reconcile the user asked for
        log.exception("hard refresh of %s crashed", job.target)
        dropped = f"nothing dropped: internal error: {type(exc).__name__}"
    log.info("hard refresh of %s: %s", job.target, dropped)
    return clip_detail(f"{job.detail}; hard refresh: {dropped}" if job.detail else f"hard refresh: {dropped}")


def _keep_manifests(rt: Runtime, target: Target, result: WorkResult, operation_id: str) -> None:
    """Keep what the reconcile rendered beside its record (nothing when it rendered nothing)."""
    if not result.rendered or not result.manifests_digest:
        return
    try:
        rt.store.keep_manifests(target, RenderedManifests(result.manifests_digest, operation_id,
                                                          result.rendered, result.rendered_truncated))
    except GitOpsError as exc:  # the record is what counts; the next reconcile keeps them again
        log.warning("keeping the manifests of %s: %s", target, exc)


def _tell_observers(rt: Runtime, operation: Operation, status: TargetStatus) -> None:
    for observer in rt.observers or ():
        try:
            observer.finished(operation, status)
        except Exception:  # metrics or tracing must never fail the reconcile
            log.exception("observer %s failed on operation %s", type(observer).__name__, operation.id)


def _conclude(rt: Runtime, job: Job, result: ResultLike, status: TargetStatus) -> Outcome:
    policy = retry_policy(rt, job.target)
    failure = result.failure
    if failure is not None and failure.temporary and job.call.attempt <= policy.limit:
        wait = backoff(job.call.attempt, policy.base, policy.cap, factor=policy.factor,
                       floor=min(retry_hint(result) or 0.0, policy.cap))
        # a countdown longer than the visibility timeout would get the waiting message redelivered
        return Outcome("retry", failure.message, countdown=min(wait, 0.9 * rt.settings.visibility_timeout))
    detail = failure.message if failure is not None else f"{status.sync}/{status.health} at {status.revision}"
    return _finish(rt, job, health_recheck(rt, job, result, Outcome("done", detail, extra={
        "revision": status.revision, "sync": str(status.sync), "health": str(status.health)})))


RECHECK = "health re-check"
MAX_RECHECKS = 6
_RECHECK = re.compile(rf"^{RECHECK} (\d+)/{MAX_RECHECKS}\b")


def health_recheck(rt: Runtime, job: Job, result: ResultLike, outcome: Outcome) -> Outcome:
    """After a write that left the target Progressing (a rollout under way), look at it again soon
    instead of at the next resync: after ``health_recheck`` seconds, then doubling, at most
    :data:`MAX_RECHECKS` times (the chain is counted in the follow-ups' trigger detail, which the
    history shows). Each look is an ordinary reconcile; it writes only if the policy says so."""
    found = _RECHECK.match(job.detail or "")
    done = int(found.group(1)) if found else 0
    base = rt.settings.health_recheck
    if (base <= 0 or result.failure is not None or result.health is not HealthStatus.PROGRESSING
            or (done == 0 and not result.applied) or done >= MAX_RECHECKS):
        return outcome
    return replace(outcome, enqueue=(job.target,), trigger=Trigger.POLL, countdown=base * 2 ** done,
                   trigger_detail=f"{RECHECK} {done + 1}/{MAX_RECHECKS} after a sync")


def _release(rt: Runtime, lease: Lease) -> None:
    try:
        rt.store.release(lease)
    except GitOpsError as exc:  # it expires on its own
        log.warning("releasing %s: %s", lease.target, exc)


def _finish(rt: Runtime, job: Job, outcome: Outcome) -> Outcome:
    if job.coalesced and rt.store.finish_run(job.target, rt.settings.sched_ttl):
        # debounced: a burst of triggers during this run is served by one run after the burst
        return replace(outcome, enqueue=(job.target,), trigger=job.trigger, countdown=rt.settings.debounce)
    return outcome


def request(rt: Runtime, targets: list[Target], trigger: Trigger, detail: str | None = None) -> Outcome:
    """Ask for reconciles; returns those the caller must enqueue (the rest were coalesced)."""
    enqueue = tuple(t for t in targets if rt.store.trigger(t, rt.settings.sched_ttl))
    return Outcome("done", f"{len(enqueue)} of {len(targets)} enqueued", enqueue=enqueue, trigger=trigger,
                   trigger_detail=detail)


def appset(rt: Runtime, name: object) -> Outcome:
    """One ApplicationSet controller pass: forget the targets it no longer releases, ask for reconciles
    of what it created or changed, and hand back the syncs a rollout step released."""
    try:
        checked = check_name(name, "appset")
    except InputError as exc:
        return Outcome("rejected", str(exc))
    if rt.appsets is None or checked not in rt.appsets.names():
        return Outcome("rejected", f"unknown ApplicationSet {checked!r}")
    report = rt.appsets.run(checked)
    for target in report.forget:
        rt.store.forget(target)
    out = request(rt, list(report.reconcile), Trigger.POLL, f"ApplicationSet {checked}")
    state = report.state
    detail = (f"{len(state.desired)} desired, {len(state.released)} released, {len(report.reconcile)} to "
              f"reconcile, {len(report.sync)} to sync, {len(report.forget)} forgotten")
    return replace(out, detail=detail, sync=report.sync, sync_detail=f"ApplicationSet {checked} rollout",
                   extra={"events": list(report.events)[:20]},
                   notices=notices.for_appset(rt, checked, report))


def _affected(infos: list[TargetInfo], changed: frozenset[str]) -> list[TargetInfo]:
    """Apps whose path holds a changed file; a change outside every app path (a shared base) hits all."""
    def under(path: str, root: str) -> bool:
        root = root.strip("/")
        return root in ("", ".") or path == root or path.startswith(root + "/")

    hit = [i for i in infos if any(under(p, i.path) for p in changed)]
    shared = [p for p in changed if not any(under(p, i.path) for i in infos)]
    return infos if shared else hit


def poll(rt: Runtime, repository: object) -> Outcome:
    """One remote head check; on a new commit, reconcile only the applications it touches."""
    try:
        name = check_name(repository, "repository")
    except InputError as exc:
        return Outcome("rejected", str(exc))
    if name not in rt.catalog.repositories():
        return Outcome("rejected", f"unknown repository {name!r}")
    infos = [i for i in rt.catalog.targets() if i.repository == name and i.follows_head]
    try:
        head = rt.poller.head(name)
    except GitOpsError as exc:  # each reconcile records the source error; the last good revision stays
        out = request(rt, [i.target for i in infos], Trigger.POLL)
        return replace(out, detail=f"source error: {exc}")
    old = rt.store.repo_head(name)
    if old == head:
        return Outcome("done", "unchanged", extra={"revision": head})
    affected = infos
    if old is not None:
        try:
            affected = _affected(infos, rt.poller.changed_paths(name, old, head))
        except GitOpsError as exc:
            log.warning("changed paths of %s %s..%s: %s; reconciling all", name, old, head, exc)
    out = request(rt, [i.target for i in affected], Trigger.POLL, f"{name} at {head[:12]}")
    rt.store.set_repo_head(name, head)
    # a new commit may change what the ApplicationSets generate or the revision they roll out: a pass
    # now rather than at the next interval (passes are idempotent; a concurrent one retries)
    sets = tuple(rt.appsets.names()) if rt.appsets is not None and old is not None else ()
    return replace(out, appsets=sets, extra={"revision": head, "previous": old})
