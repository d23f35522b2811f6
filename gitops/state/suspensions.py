"""Suspended automation per target: set by a rollback, cleared by ``gitops resume``.

Skeleton: the value and the port, and the in-memory implementation; the Redis one comes with the
feature (docs/rollback.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from gitops.vocabulary import Target


@dataclass(frozen=True)
class Suspension:
    """Automated syncs of ``target`` are suspended (since ``since``, epoch seconds) because ``reason``
    (a rollback to ``revision``)."""

    target: Target
    reason: str
    since: float
    revision: str | None = None
    by: str | None = None


class Suspensions(Protocol):
    def suspension(self, target: Target) -> Suspension | None: ...

    def suspend(self, suspension: Suspension) -> None: ...

    def resume(self, target: Target) -> bool:
        """Lift the suspension; True when there was one."""


class InMemorySuspensions:
    def __init__(self) -> None:
        self._held: dict[Target, Suspension] = {}
        self._lock = threading.Lock()

    def suspension(self, target: Target) -> Suspension | None:
        with self._lock:
            return self._held.get(target)

    def suspend(self, suspension: Suspension) -> None:
        with self._lock:
            self._held[suspension.target] = suspension

    def resume(self, target: Target) -> bool:
        with self._lock:
            return self._held.pop(target, None) is not None
