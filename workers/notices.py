"""Notifications from the workers: the notices a recorded operation raises, and their delivery task.

Called by workers/service.py after every recorded operation (:func:`notices_for`) and ApplicationSet pass
(:func:`for_appset`); the tasks module enqueues each notice as one ``gitops.notify`` task (queue
``poll``, so a delivery never waits behind a sync nor holds one), which calls :func:`deliver`. Key
design choices: the message is untrusted (:meth:`gitops.notify.Notice.from_message`), and it names a
configured Notification that must still select the target and want the event, so a forged message can
only repeat a legitimate kind of notice to a configured destination; each destination has a per-minute
budget (:mod:`gitops.state.ratelimits`, shared by every worker): over it, the delivery waits for the
window to turn; a temporary failure is retried with backoff and jitter (never sooner than the
receiver's ``Retry-After``) up to :data:`MAX_FAILED_ATTEMPTS` attempts, then dropped. Every final
outcome (delivered, dropped, rejected) is logged and published as an Event of kind ``notification``,
which the API's event feed shows. Working out notices never fails an operation.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Final

from gitops.appset.controller import RunReport
from gitops.domain import Fleet
from gitops.errors import GitOpsError, InputError
from gitops.notify import Notice, one_line
from gitops.notify.deliver import deliver as send
from gitops.notify.deliver import destination_key
from gitops.notify.route import for_operation, for_rollout
from gitops.state import Operation, TargetStatus
from gitops.state.model import Event, clip
from workers.backoff import backoff
from workers.ports import Runtime

log = logging.getLogger(__name__)
# attempts of one delivery (the waits for the rate limit included) after which a temporary failure
# drops it
MAX_FAILED_ATTEMPTS: Final = 8
MAX_ATTEMPTS: Final = 90        # attempts of any kind (below the task's MAX_RETRIES safety net)


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt came to: ``status`` done | rejected | retry | dropped, and the wait
    before the retry (the ``gitops.notify`` task turns it into its outcome)."""

    status: str
    detail: str = ""
    countdown: float = 0.0


def notices_for(rt: Runtime, previous: TargetStatus | None, status: TargetStatus,
                operation: Operation) -> tuple[Notice, ...]:
    """The notices of one recorded operation (none when no Notification is configured)."""
    if rt.notifier is None:
        return ()
    try:
        return for_operation(rt.notifier.fleet(), previous, status, operation)
    except Exception:  # the operation is recorded; a notice must never fail it
        log.exception("notices of operation %s", operation.id)
        return ()


def for_appset(rt: Runtime, name: str, report: RunReport) -> tuple[Notice, ...]:
    """The RolloutHalted notices of one ApplicationSet pass."""
    if rt.notifier is None:
        return ()
    try:
        return for_rollout(rt.notifier.fleet(), name, report.state.desired.keys(), report.events)
    except Exception:
        log.exception("notices of ApplicationSet %s", name)
        return ()


def deliver(rt: Runtime, attempt: int, message: object) -> Delivery:
    """Deliver one queued notice (``message``: :meth:`Notice.to_message`, untrusted until checked)."""
    if rt.notifier is None:
        return Delivery("rejected", "no Notification is configured")
    try:
        notice = Notice.from_message(message)
    except InputError as exc:
        log.warning("notification rejected: %s", exc)
        return Delivery("rejected", f"rejected notification message: {exc}")
    fleet = rt.notifier.fleet()
    notification = fleet.notifications.get(notice.notification)
    if notification is None or not notification.wants(notice.event) or not _selects(fleet, notice):
        return _final(rt, notice, "rejected", f"Notification {notice.notification} does not (or no longer) "
                      f"send {notice.event} for {_where(notice)}")
    now = rt.clock.now()
    wait = rt.notifier.limits.take(destination_key(notification), notification.per_minute, now)
    if wait > 0 and attempt < MAX_ATTEMPTS:
        log.info("notification %s of %s rate-limited: %d a minute; again in %.1fs", notice.event,
                 _where(notice), notification.per_minute, wait)
        # up to 2 s of jitter: the deliveries held back do not all come back at the same instant
        return Delivery("retry", f"rate limited ({notification.per_minute} a minute)",
                        countdown=min(wait + random.uniform(0.0, 2.0), 0.9 * rt.settings.visibility_timeout))
    if wait > 0:
        return _final(rt, notice, "dropped", f"rate limited after {attempt} attempts")
    try:
        done = send(notice, notification, fleet, rt.notifier.sender, now)
    except GitOpsError as exc:
        if exc.temporary and attempt < MAX_FAILED_ATTEMPTS:
            s = rt.settings
            countdown = backoff(attempt, s.retry_base, s.retry_max, floor=min(exc.retry_after or 0.0,
                                                                              s.retry_max))
            log.info("notification %s of %s: %s; retry %d in %.1fs", notice.event, _where(notice),
                     exc, attempt, countdown)
            return Delivery("retry", str(exc), countdown=min(countdown, 0.9 * s.visibility_timeout))
        why = "gave up" if exc.temporary else "failed"
        return _final(rt, notice, "dropped", f"{why} after {attempt} attempt(s): {exc}")
    except Exception as exc:  # a bug in a library below must not loop the task
        log.exception("notification %s of %s crashed", notice.event, _where(notice))
        return _final(rt, notice, "dropped", f"internal error: {type(exc).__name__}")
    return _final(rt, notice, "done", done)


def _selects(fleet: Fleet, notice: Notice) -> bool:
    notification = fleet.notifications[notice.notification]
    if not notice.cluster:  # an ApplicationSet's rollout: the set's name or one of its applications
        return True
    app, cluster = fleet.applications.get(notice.application), fleet.clusters.get(notice.cluster)
    if app is None or cluster is None:  # not (or no longer) configured
        return False
    return notification.selects(notice.application, app.labels, notice.cluster, cluster.labels)


def _where(notice: Notice) -> str:
    return (f"{notice.application}@{notice.cluster}" if notice.cluster
            else f"ApplicationSet {notice.application}")


def _final(rt: Runtime, notice: Notice, status: str, detail: str) -> Delivery:
    """Log the outcome and publish it as a ``notification`` Event (never failing the delivery)."""
    detail = clip(one_line(detail), 500)
    outcome = {"done": "delivered", "dropped": "dropped", "rejected": "rejected"}[status]
    (log.info if status == "done" else log.warning)("notification %s of %s %s: %s", notice.event,
                                                     _where(notice), outcome, detail)
    try:
        rt.store.publish(Event("notification", notice.application, notice.cluster,
                               f"{notice.event} to {notice.notification}: {outcome}: {detail}",
                               time=rt.clock.now(),
                               data={"notification": notice.notification, "event": notice.event,
                                     "outcome": outcome, "id": notice.id}))
    except GitOpsError as exc:
        log.warning("publishing the notification outcome: %s", exc)
    return Delivery(status, detail)
