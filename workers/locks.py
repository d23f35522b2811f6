"""Keeping a lease alive while work runs, and the one-beat leader lock.

Used by workers/service.py (per-target lease around one reconcile) and workers/beat.py (the single
beat). Key design choice: leases expire on their own (so a killed worker never blocks a target for
longer than the TTL) and are renewed by a daemon thread every TTL/3 while the holder is alive; when a
renewal fails the keeper records that the lease was lost, and the fencing token makes any later write
by the old holder harmless anyway. Both depend only on the :class:`gitops.state.Leases` role, and wait
on an injected :class:`gitops.clock.Clock` (a manual one in tests).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import GitOpsError
from gitops.state import Lease, Leases

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Context manager renewing ``lease`` every ``ttl / 3`` seconds until exit."""

    def __init__(self, store: Leases, lease: Lease, ttl: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store, self.lease, self.ttl, self.clock = store, lease, ttl, clock
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.target}", daemon=True)

    def _run(self) -> None:
        while not self.clock.wait(self._stop, self.ttl / 3):
            try:
                if not self.store.renew(self.lease, self.ttl):
                    log.warning("lease on %s lost (token %s)", self.lease.target, self.lease.token)
                    self.lost.set()
                    return
            except GitOpsError as exc:  # Redis away: keep trying until the TTL runs out
                log.warning("renewing lease on %s: %s", self.lease.target, exc)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class LeaderLock:
    """A named lock held by one process (the beat); ``hold()`` takes or renews it."""

    def __init__(self, store: Leases, name: str, owner: str, ttl: float) -> None:
        self.store, self.name, self.owner, self.ttl = store, name, owner, ttl

    def hold(self) -> bool:
        try:
            return self.store.acquire_named(self.name, self.owner, self.ttl)
        except GitOpsError as exc:
            log.warning("leader lock %s: %s", self.name, exc)
            return False

    def release(self) -> None:
        try:
            self.store.release_named(self.name, self.owner)
        except GitOpsError as exc:
            log.warning("releasing leader lock %s: %s", self.name, exc)
