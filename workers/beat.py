"""The beat: exactly one process schedules repository polls by interval and the self-heal resync.

Run by ``gitops beat`` and ``gitops up``. Key design choice: instead of Celery beat's static schedule, a
small loop ticks every few seconds and asks the store which repositories are due (``Store.claim_due``: a
sorted set of next-due times, updated atomically), so intervals come from the configuration and survive
restarts; it also claims the due wake-ups (``rt.wakes``: a target a sync window held, reconciled when
the window changes, workers/gates.py); every ``resync_seconds`` it asks for a reconcile of every target
(self-heal targets re-apply drift, the others refresh their drift status). Exactly one beat acts: each
tick first takes or renews a Redis leader lock (TTL ``beat_lock_ttl``, renewed every tick); a second
beat started against the same Redis waits as a hot standby and takes over within one TTL when the leader
dies. The loop's waits and its ``now`` come from the runtime's clock, so tests drive the beat with a
manual clock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gitops.clock import poll_until
from gitops.vocabulary import Target, Trigger
from workers import service
from workers.locks import LeaderLock
from workers.ports import Runtime

log = logging.getLogger(__name__)
BEAT_LOCK = "beat"
APPSET_PREFIX = "appset."
RESYNC_LOCK = "resync"


@dataclass
class Dispatch:
    """How the beat sends work (Celery in production, lists in tests)."""

    poll: Callable[[str], object]
    reconcile: Callable[[Target, Trigger], object]
    appset: Callable[[str], object] | None = None
    # a reconcile with a trigger detail (a wake-up: "sync window freeze closed"); None: ``reconcile``
    wake: Callable[[Target, str], object] | None = None


class Beat:
    def __init__(self, rt: Runtime, dispatch: Dispatch, *, owner: str | None = None) -> None:
        self.rt = rt
        self.dispatch = dispatch
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = LeaderLock(rt.store, BEAT_LOCK, self.owner, rt.settings.beat_lock_ttl)
        self.is_leader = False

    def tick(self, now: float | None = None) -> list[str]:
        """One round: if leader, enqueue due polls and (when due) the resync. Returns what was sent.

        ``now`` (default: the runtime's clock) is the time the polls are due against.
        """
        self.is_leader = self.leader.hold()
        if not self.is_leader:
            return []
        sent = []
        at = self.rt.clock.now() if now is None else now
        for repo in self.rt.store.claim_due(self.rt.catalog.repositories(), at):
            self.dispatch.poll(repo)
            sent.append(f"poll:{repo}")
        sent += self._appsets(at)
        sent += self._wakes(at)
        once = f"{self.owner}:{uuid.uuid4().hex[:8]}"  # a fresh owner: taking it never renews it
        if self.rt.store.acquire_named(RESYNC_LOCK, once, self.rt.settings.resync_seconds):
            # the resync lock is never released: its expiry is the resync interval
            sent += self._resync()
        return sent

    def _appsets(self, at: float) -> list[str]:
        """A controller pass per configured ApplicationSet every ``appset_interval`` (due times kept in
        the same schedule as the polls, as ``appset.NAME``: a repository name has no dot)."""
        if self.rt.appsets is None or self.dispatch.appset is None:
            return []
        names = self.rt.appsets.names()
        every = self.rt.settings.appset_interval
        due = self.rt.store.claim_due({f"{APPSET_PREFIX}{n}": every for n in names}, at)
        for key in due:
            self.dispatch.appset(key.removeprefix(APPSET_PREFIX))
        return [f"appset:{key.removeprefix(APPSET_PREFIX)}" for key in due]

    def _wakes(self, at: float) -> list[str]:
        """Reconcile the targets whose wake-up is due (a sync window that held them changed: see
        workers/gates.py), through the coalescing marks, with the wake's reason as trigger detail."""
        sent = []
        for wake in self.rt.wakes.claim_due(at):
            if self.rt.catalog.target(wake.target) is None:  # no longer configured
                continue
            for target in service.request(self.rt, [wake.target], Trigger.POLL, wake.reason).enqueue:
                if self.dispatch.wake is not None:
                    self.dispatch.wake(target, wake.reason)
                else:
                    self.dispatch.reconcile(target, Trigger.POLL)
                sent.append(f"wake:{target}")
        return sent

    def _resync(self) -> list[str]:
        """Every target again: self-heal ones re-apply drift, the others refresh their drift status.

        Targets that have a status but are no longer configured are forgotten (status and history).
        """
        infos = self.rt.catalog.targets()
        configured = {i.target for i in infos}
        if self.rt.appsets is not None:  # sets removed from the configuration: tombstones, record dropped
            self.rt.appsets.forget_removed()  # (their targets are not in the catalog: forgotten below)
        sent = [f"forget:{s.target}" for s in self.rt.store.statuses()
                if s.target not in configured and self.rt.store.forget(s.target)]
        for trigger, chosen in ((Trigger.SELF_HEAL, [i.target for i in infos if i.self_heal]),
                                (Trigger.POLL, [i.target for i in infos if not i.self_heal])):
            for target in service.request(self.rt, chosen, trigger).enqueue:
                self.dispatch.reconcile(target, trigger)
                sent.append(f"reconcile:{target}")
        return sent

    def run(self, stop: threading.Event) -> None:
        log.info("beat %s started", self.owner)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # Redis away, config problem: log and keep ticking
                    log.exception("beat tick failed")
                self.rt.clock.wait(stop, self.rt.settings.beat_tick)
        finally:
            self.leader.release()
            log.info("beat %s stopped", self.owner)


def celery_dispatch() -> Dispatch:
    from workers import tasks  # lazy: the beat itself (and its tests) runs without the Celery app

    return Dispatch(poll=lambda repo: tasks.poll.apply_async((repo,)),
                    reconcile=lambda t, trig: tasks.reconcile.apply_async(
                        (t.application, t.cluster, str(trig))),
                    appset=lambda name: tasks.appset.apply_async((name,)),
                    wake=lambda t, detail: tasks.enqueue_reconciles((t,), Trigger.POLL, 0.0, detail))


def wait_for_leader(beat: Beat, timeout: float) -> bool:
    return bool(poll_until(beat.leader.hold, timeout, every=0.1, clock=beat.rt.clock))
