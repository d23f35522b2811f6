"""Notifications from the workers: the notices a recorded operation raises, and their delivery task.

Called by workers/service.py after every recorded operation and ApplicationSet pass; the delivery runs
in the ``gitops.notify`` task. Skeleton: nothing is raised, nothing delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops.appset.controller import RunReport
from gitops.notify import Notice
from gitops.state import Operation, TargetStatus
from workers.ports import Runtime


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt came to: ``status`` done | rejected | retry | dropped, and the wait
    before the retry (the ``gitops.notify`` task turns it into its outcome)."""

    status: str
    detail: str = ""
    countdown: float = 0.0


def notices_for(rt: Runtime, previous: TargetStatus | None, status: TargetStatus,
                operation: Operation) -> tuple[Notice, ...]:
    return ()


def for_appset(rt: Runtime, name: str, report: RunReport) -> tuple[Notice, ...]:
    return ()


def deliver(rt: Runtime, attempt: int, message: object) -> Delivery:
    """Deliver one queued notice (``message``: :meth:`Notice.to_message`, untrusted until checked)."""
    return Delivery("rejected", "notifications are not configured")
