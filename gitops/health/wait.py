"""Waiting for objects to become healthy, with a deadline (never forever).

Called by gitops.apply (CRDs Established and Namespaces Active before the objects that need them) and by
gitops/engine.py when a request asks to wait for health. Polls with GETs at ``interval`` until every
object reaches a settled health (Healthy, Suspended, Degraded, Unknown: nothing judges the object, so
waiting cannot change it) or the deadline passes; then it returns
what it last saw (objects still Progressing say so) instead of blocking the worker. Clock and sleep
are injectable so tests need no real waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gitops.cluster import Cluster
from gitops.health import Health, Rules, assess
from gitops.vocabulary import HealthStatus, ObjectRef

SETTLED = frozenset({HealthStatus.HEALTHY, HealthStatus.SUSPENDED, HealthStatus.DEGRADED,
                     HealthStatus.UNKNOWN})


@dataclass(frozen=True)
class WaitResult:
    health: dict[ObjectRef, Health]
    timed_out: bool

    @property
    def status(self) -> HealthStatus:
        return HealthStatus.worst(h.status for h in self.health.values())


def poll_health(cluster: Cluster, refs: Iterable[ObjectRef],
                rules: Rules | None = None) -> dict[ObjectRef, Health]:
    """One pass: the current health of each object (Missing when it does not exist), by ``rules``."""
    return {ref: assess(cluster.get(ref), rules) for ref in refs}


def wait_healthy(cluster: Cluster, refs: Iterable[ObjectRef], *, timeout: float, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, rules: Rules | None = None) -> WaitResult:
    """Poll until every object is settled or ``timeout`` seconds pass (then ``timed_out``); health is
    judged by the application's ``rules`` (the library's alone when None)."""
    pending = list(refs)
    deadline = clock() + timeout
    seen: dict[ObjectRef, Health] = {}
    while True:
        seen.update(poll_health(cluster, pending, rules))
        pending = [r for r in pending if seen[r].status not in SETTLED]
        if not pending:
            return WaitResult(seen, False)
        remaining = deadline - clock()
        if remaining <= 0:
            return WaitResult(seen, True)
        sleep(min(interval, remaining))
