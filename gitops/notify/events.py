"""Which notification events a recorded operation raises: a pure function of the target's previous
status, its new status and the operation (and, for rollouts, of an ApplicationSet pass's sentences).

Called by :mod:`gitops.notify.route` for the workers (workers/notices.py) after every recorded
operation. Key design choice: transitions only, so a resync every few minutes does not repeat an
event: HealthDegraded when the health *became* Degraded, DriftDetected when the drift count went from
zero to more, SyncFailed and VerificationFailed when the failure is new (another kind or revision than
the previous status's, or the previous was a temporary failure still being retried, or a user asked for
this sync). SyncSucceeded is raised by every operation that wrote: each is a sync. A dry run raises
neither SyncSucceeded nor SyncFailed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from gitops.state import Operation, TargetStatus
from gitops.vocabulary import HealthStatus, OperationPhase, Trigger

SYNC_SUCCEEDED: Final = "SyncSucceeded"
SYNC_FAILED: Final = "SyncFailed"
HEALTH_DEGRADED: Final = "HealthDegraded"
DRIFT_DETECTED: Final = "DriftDetected"
VERIFICATION_FAILED: Final = "VerificationFailed"
ROLLOUT_HALTED: Final = "RolloutHalted"
HALT_PREFIX: Final = "rollout halted: "  # the sentence gitops.appset.rollout adds when a rollout halts


def raised(previous: TargetStatus | None, status: TargetStatus, operation: Operation) -> tuple[str, ...]:
    """The events of ``operation`` (recorded as ``status``; ``previous``: the status before it), in a
    fixed order. A still-running operation raises nothing."""
    if operation.phase is OperationPhase.RUNNING:
        return ()
    events: list[str] = []
    if operation.phase is OperationPhase.SUCCEEDED and operation.applied and not operation.dry_run:
        events.append(SYNC_SUCCEEDED)
    if (operation.phase is OperationPhase.FAILED and not operation.dry_run
            and _new_failure(previous, status, operation)):
        events.append(SYNC_FAILED)
        if refused(status):
            events.append(VERIFICATION_FAILED)
    if status.health is HealthStatus.DEGRADED and (previous is None
                                                  or previous.health is not HealthStatus.DEGRADED):
        events.append(HEALTH_DEGRADED)
    if (status.drift_count > 0 and (previous is None or previous.drift_count == 0)
            and not operation.applied):
        events.append(DRIFT_DETECTED)
    return tuple(events)


def refused(status: TargetStatus) -> bool:
    """Whether the failure is the verification policy's (its kind, or an image it refused)."""
    if status.failure is not None and status.failure.kind == "VerificationFailed":
        return True
    return any(check.status == "refused" for check in status.verification or ())


def _new_failure(previous: TargetStatus | None, status: TargetStatus, operation: Operation) -> bool:
    if operation.trigger is Trigger.MANUAL or previous is None or previous.failure is None:
        return True
    before, now = previous.failure, status.failure
    return (before.temporary or now is None or before.kind != now.kind
            or previous.revision != status.revision)


def halts(sentences: Sequence[str]) -> tuple[str, ...]:
    """Why a rollout halted in an ApplicationSet pass (its report's sentences; a halted rollout stays
    halted without new sentences until resumed, so each halt is reported once)."""
    return tuple(s[len(HALT_PREFIX):] for s in sentences if s.startswith(HALT_PREFIX))
