"""The Celery tasks: thin, explicitly named, taking IDs, each calling one function of workers/service.py.

Registered on workers.app.app; routed to the poll, reconcile and sync queues (see workers/app.py).
Key design choice: a task never trusts its arguments (service validates them and rejects forged ones
with a logged result, never an exception that would crash or loop), retries only what the service
says is temporary (``self.retry`` with the computed countdown, a finite count), and enqueues follow-up
reconciles only after the coalescing state in Redis said so. Arguments added later are optional
keywords (``detail``, the trigger detail), so a message published before they existed still runs, and a
publisher leaves them out when it has none (an older worker still accepts the message).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from celery import Task

from gitops.errors import GitOpsError, InputError
from gitops.state import check_target
from gitops.vocabulary import Target, Trigger
from workers import notices, service
from workers.app import app
from workers.runtime import get_runtime

log = logging.getLogger(__name__)
MAX_RETRIES = 100  # the service decides; this is only Celery's safety net


def _task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``app.task`` with a declared type (Celery ships no annotations)."""
    return cast(Callable[[Callable[..., Any]], Any], app.task(**options))


def _call(task: Task) -> service.Call:
    return service.Call(task_id=str(task.request.id), attempt=int(task.request.retries or 0) + 1)


def detail_kwargs(detail: str | None) -> dict[str, Any] | None:
    """The optional ``detail`` keyword of a task message (left out when there is none)."""
    return {"detail": detail} if detail else None


def enqueue_reconciles(targets: tuple[Target, ...], trigger: Trigger, countdown: float = 0.0,
                       detail: str | None = None) -> list[str]:
    return [reconcile.apply_async((t.application, t.cluster, str(trigger)), detail_kwargs(detail),
                                  countdown=countdown or None).id for t in targets]


def _conclude(task: Task, run: Callable[[], service.Outcome]) -> dict[str, Any]:
    """Run the service call; retry what it says is temporary (Redis away included), enqueue follow-ups."""
    try:
        outcome = run()
    except GitOpsError as exc:
        if not exc.temporary:
            raise
        settings = get_runtime().settings
        outcome = service.Outcome("retry", str(exc), countdown=service.backoff(
            int(task.request.retries or 0) + 1, settings.retry_base, settings.retry_max))
    if outcome.status == "retry":
        log.info("%s retrying in %.1fs: %s", task.name, outcome.countdown, outcome.detail)
        raise task.retry(countdown=outcome.countdown, max_retries=MAX_RETRIES)
    enqueue_reconciles(outcome.enqueue, outcome.trigger, outcome.countdown, outcome.trigger_detail)
    if outcome.follow:  # dependants of a target that became ready: now, through the coalescing marks
        woken = service.request(get_runtime(), list(outcome.follow), Trigger.POLL, outcome.follow_detail)
        enqueue_reconciles(woken.enqueue, Trigger.POLL, 0.0, outcome.follow_detail)
    for notice in outcome.notices:  # delivered by their own task: a slow receiver never holds a sync
        notify.apply_async((notice.to_message(),))
    for target in outcome.sync:
        sync.apply_async((target.application, target.cluster), detail_kwargs(outcome.sync_detail))
    for name in outcome.appsets:
        appset.apply_async((name,))
    return outcome.to_dict()


@_task(name="gitops.reconcile", bind=True, max_retries=MAX_RETRIES)
def reconcile(self: Task, application: Any, cluster: Any, trigger: Any = "poll",
              detail: Any = None) -> dict[str, Any]:
    """Coalesced reconcile of one target (poll, webhook, self-heal triggers)."""
    return _conclude(self, lambda: service.reconcile(get_runtime(), _call(self), application, cluster,
                                                     trigger=trigger, detail=detail))


@_task(name="gitops.sync", bind=True, max_retries=MAX_RETRIES)
def sync(self: Task, application: Any, cluster: Any, prune: Any = False,
         dry_run: Any = False, detail: Any = None, force: Any = False,
         revision: Any = None) -> dict[str, Any]:
    """Manual sync, with prune / dry-run / force as asked (not coalesced: the user asked for this one;
    ``force`` and ``revision`` (a rollback's commit) are keywords left out when unset, so older workers
    still take the message)."""
    return _conclude(self, lambda: service.reconcile(get_runtime(), _call(self), application, cluster,
                                                     trigger=Trigger.MANUAL, prune=prune is True,
                                                     dry_run=dry_run is True, coalesced=False, detail=detail,
                                                     force=force is True, revision=revision))


@_task(name="gitops.hard_refresh", bind=True, max_retries=MAX_RETRIES)
def hard_refresh(self: Task, application: Any, cluster: Any, detail: Any = None) -> dict[str, Any]:
    """Drop the target's render caches, then reconcile it now (not coalesced, not a forced sync: the
    sync policy decides whether to apply, as for any refresh)."""
    return _conclude(self, lambda: service.reconcile(get_runtime(), _call(self), application, cluster,
                                                     trigger=Trigger.MANUAL, coalesced=False, manual=False,
                                                     hard=True, detail=detail))


@_task(name="gitops.prune", bind=True, max_retries=MAX_RETRIES)
def prune(self: Task, application: Any, cluster: Any) -> dict[str, Any]:
    """Manual sync with prune."""
    return _conclude(self, lambda: service.reconcile(get_runtime(), _call(self), application, cluster,
                                                     trigger=Trigger.MANUAL, prune=True, coalesced=False))


@_task(name="gitops.refresh", bind=True, max_retries=MAX_RETRIES)
def refresh(self: Task, application: Any, cluster: Any, detail: Any = None) -> dict[str, Any]:
    """Re-read Git and the cluster now (coalesced with any pending reconcile of the target)."""
    rt = get_runtime()
    try:
        target = check_target(application, cluster)
        checked = service.check_detail(detail)
    except InputError as exc:
        return service.Outcome("rejected", str(exc)).to_dict()
    return _conclude(self, lambda: service.request(rt, [target], Trigger.MANUAL, checked))


@_task(name="gitops.appset", bind=True, max_retries=MAX_RETRIES)
def appset(self: Task, name: Any) -> dict[str, Any]:
    """One pass of the ApplicationSet controller over one set (sent by the beat every
    ``GITOPS_APPSET_INTERVAL`` seconds); enqueues the reconciles and rollout syncs it asks for."""
    return _conclude(self, lambda: service.appset(get_runtime(), name))


@_task(name="gitops.poll", bind=True, max_retries=3)
def poll(self: Task, repository: Any) -> dict[str, Any]:
    """One remote head check of a repository; reconcile the applications a new commit touches."""
    return _conclude(self, lambda: service.poll(get_runtime(), repository))


@_task(name="gitops.notify", bind=True, max_retries=MAX_RETRIES)
def notify(self: Task, message: Any) -> dict[str, Any]:
    """Deliver one notification (workers/notices.py: retried with backoff, rate-limited per destination;
    a delivery that keeps failing is dropped and logged, never blocking a sync). ``message`` is the one
    argument, :meth:`gitops.notify.Notice.to_message`: checked as untrusted (unknown keys refused), and
    naming a configured Notification, never a destination or a secret."""
    def run() -> service.Outcome:
        done = notices.deliver(get_runtime(), _call(self).attempt, message)
        return service.Outcome(done.status, done.detail, countdown=done.countdown)

    return _conclude(self, run)
