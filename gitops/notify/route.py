"""Routing: the notices the raised events make, one per (configured Notification selecting the target
and wanting the event, event), each with a fixed, readable message.

Called by the workers (workers/notices.py) after every recorded operation (:func:`for_operation`) and
ApplicationSet pass (:func:`for_rollout`). Pure: the fleet, the statuses and the operation in, notices
out. Key design choice: a notice names the Notification, never its destination, so the queue holds no
secret and a configuration change between enqueue and delivery is honoured (the delivery looks the
destination up again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitops.domain import Fleet, Notification
from gitops.notify import MAX_MESSAGE, Notice, one_line
from gitops.notify.events import (
    DRIFT_DETECTED,
    HEALTH_DEGRADED,
    ROLLOUT_HALTED,
    SYNC_FAILED,
    SYNC_SUCCEEDED,
    VERIFICATION_FAILED,
    halts,
    raised,
)
from gitops.state import Operation, TargetStatus
from gitops.state.model import clip, clip_detail

SHORT = 12  # characters of a revision in a message
EXAMPLES = 3  # objects, fields or images named in one message


def for_operation(fleet: Fleet, previous: TargetStatus | None, status: TargetStatus,
                  operation: Operation) -> tuple[Notice, ...]:
    """The notices of one recorded operation (see :func:`gitops.notify.events.raised`)."""
    events = raised(previous, status, operation)
    if not events or not fleet.notifications:
        return ()
    app, cluster = fleet.applications.get(status.application), fleet.clusters.get(status.cluster)
    app_labels: Mapping[str, str] = app.labels if app is not None else {}
    cluster_labels: Mapping[str, str] = cluster.labels if cluster is not None else {}
    data = {k: v for k, v in (("revision", status.revision or ""), ("operation", operation.id),
                              ("sync", str(status.sync)), ("health", str(status.health)),
                              ("phase", str(operation.phase)), ("trigger", str(operation.trigger)),
                              ("failure", status.failure.kind if status.failure else "")) if v}
    return tuple(Notice(n.name, event, status.application, status.cluster,
                        clip(message(event, status, operation), MAX_MESSAGE), data)
                 for n in _sorted(fleet.notifications.values())
                 if n.selects(status.application, app_labels, status.cluster, cluster_labels)
                 for event in events if n.wants(event))


def for_rollout(fleet: Fleet, appset: str, applications: Iterable[str],
                sentences: Iterable[str]) -> tuple[Notice, ...]:
    """The RolloutHalted notices of one ApplicationSet pass: to every Notification whose applications
    selector matches the set's name or one of its ``applications`` (a rollout spans clusters: the
    clusters selector does not apply)."""
    reasons = halts(tuple(sentences))
    if not reasons or not fleet.notifications:
        return ()
    names = (appset, *sorted(applications))
    out: list[Notice] = []
    for n in _sorted(fleet.notifications.values()):
        if not n.wants(ROLLOUT_HALTED) or not any(n.applications.matches(name, _labels(fleet, name))
                                                  for name in names):
            continue
        for reason in reasons:
            text = clip(f"ApplicationSet {appset}: rollout halted: {one_line(reason)}", MAX_MESSAGE)
            out.append(Notice(n.name, ROLLOUT_HALTED, appset, "", text, {"appset": appset}))
    return tuple(out)


def _labels(fleet: Fleet, application: str) -> Mapping[str, str]:
    found = fleet.applications.get(application)
    return found.labels if found is not None else {}


def _sorted(notifications: Iterable[Notification]) -> list[Notification]:
    return sorted(notifications, key=lambda n: n.name)


def message(event: str, status: TargetStatus, operation: Operation) -> str:
    """The fixed, readable sentence of ``event`` for the target of ``status``."""
    target = f"{status.application} on {status.cluster}"
    at = f"at {status.revision[:SHORT]}" if status.revision else "(no revision)"
    failure = one_line(status.failure.message) if status.failure is not None else "unknown error"
    if event == SYNC_SUCCEEDED:
        return f"{target} synced {at}: {status.sync}, {status.health}"
    if event == SYNC_FAILED:
        return f"sync of {target} failed {at}: {failure}"
    if event == VERIFICATION_FAILED:
        refusals = [f"{c.image}: {'; '.join(c.reasons) or 'refused'}"
                    for c in status.verification or () if c.status == "refused"]
        return f"images of {target} refused by the verification policy {at}: " + (
            one_line(", ".join(refusals[:EXAMPLES])) if refusals else failure)
    if event == HEALTH_DEGRADED:
        degraded = [o.object for o in operation.objects if o.health == "Degraded"]
        names = f" ({', '.join(degraded[:EXAMPLES])})" if degraded else ""
        return f"{target} is Degraded {at}{names}"
    if event == DRIFT_DETECTED:
        fields = [f"{d.object} {d.path}" + (f" (changed by {d.manager})" if d.manager else "")
                  for d in status.drift[:EXAMPLES]]
        return f"{target} drifted from {at}: {status.drift_count} field(s) differ" + (
            f", e.g. {'; '.join(fields)}" if fields else "")
    return f"{target}: {event} {at}; {clip_detail(operation.trigger_detail) or ''}".rstrip("; ")
