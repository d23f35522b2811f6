"""Enqueueing work on the workers: the dispatcher behind ``gitops.dispatch`` and the web layer.

``CeleryDispatcher`` is registered in the ``gitops.dispatchers`` entry-point group and loaded by
gitops/dispatch.py, so the core CLI can enqueue a manual sync without importing Celery; the web layer
(webhooks, API) uses it directly. Key design choice: names are validated before a message is published,
and reconcile requests go through the per-target coalescing mark in Redis, so a storm of webhooks
enqueues one reconcile per target, not one per request. Implements the web layer's ``Actions``
(``web.context``): each action takes an optional trigger ``detail`` (who or what asked: "github
delivery 72d3162e", "alice via dashboard"), clipped here and validated again by the worker, which
stores it as the operation's ``trigger_detail``. ``rollback`` and ``resume`` also write the target's
suspension (:class:`gitops.state.suspensions.RedisSuspensions` on the same Redis, announced on the
event stream) around the enqueue. The first enqueue installs the router of workers/app.py over the
shards of the configuration (given by the web, else read from ``$GITOPS_CONFIG``), so a task of a
cluster in a shard goes to that shard's queue.
"""

from __future__ import annotations

import time
from types import ModuleType

from gitops.errors import StateError
from gitops.state import Coalescing, RedisStore, check_name, check_target
from gitops.state.model import clip_detail
from gitops.state.suspensions import RedisSuspensions, Suspension, Suspensions, rollback_reason, suspend_for
from gitops.vocabulary import Trigger
from workers.settings import Settings, Shards


class CeleryDispatcher:
    """Publishes tasks on the workers' queues; every method returns a task id (or None if coalesced).

    The tasks module (the Celery app, the runtime) is imported by each method, not at the top: the core
    CLI loads this class through the ``gitops.dispatchers`` entry point, and only an enqueue needs it
    (no import cycle: the tasks never import the dispatcher)."""

    def __init__(self, store: Coalescing | None = None, suspensions: Suspensions | None = None,
                 shards: Shards | None = None) -> None:
        self._store = store
        self._suspensions = suspensions
        self._shards = shards
        self._routed = False

    @property
    def shards(self) -> Shards:
        """The shards of the clusters (given, else those of the configuration in ``$GITOPS_CONFIG``;
        none without one)."""
        if self._shards is None:
            path = Settings.from_env().config_path
            if path:
                from gitops.config import load_config  # lazy: pydantic and the models, only to publish

                self._shards = Shards.of(load_config(path).clusters.values())
            else:
                self._shards = Shards()
        return self._shards

    def _tasks(self) -> ModuleType:
        """The tasks module, its app routed over :attr:`shards` (once)."""
        from workers import tasks
        from workers.app import app, route_by

        if not self._routed:
            route_by(app, self.shards)
            self._routed = True
        return tasks

    @property
    def store(self) -> Coalescing:
        """The coalescing marks (Redis on ``$GITOPS_REDIS_URL`` unless one was given)."""
        if self._store is None:
            self._store = RedisStore.from_url(Settings.from_env().redis_url)
        return self._store

    @property
    def suspensions(self) -> Suspensions:
        """The suspensions on the store's Redis (announced on its event stream) unless some were given."""
        if self._suspensions is None:
            store = self.store
            if not isinstance(store, RedisStore):
                raise StateError("no suspensions store: the dispatcher was built without Redis")
            self._suspensions = RedisSuspensions(store.redis, prefix=store.keys.prefix, events=store)
        return self._suspensions

    def rollback(self, app: str, cluster: str, *, revision: str, by: str) -> str:
        """Suspend automated sync of the target, then enqueue a manual sync pinned to ``revision`` (a full
        commit id; no prune, no dry run); the suspension is undone if the enqueue fails. ``by`` says who
        asked (``alice via api``). Returns the operation id."""
        target = check_target(app, cluster)
        reason = rollback_reason(revision)
        return suspend_for(self.suspensions, Suspension(target, reason, time.time(), revision, by),
                           lambda: self.enqueue_sync(target.application, target.cluster, prune=False,
                                                     dry_run=False, detail=f"{reason} by {by}",
                                                     revision=revision))

    def resume(self, app: str, cluster: str, *, by: str) -> str | None:
        """Lift the target's suspension and request a (coalesced) manual reconcile: the task id, or
        None when one is already queued."""
        target = check_target(app, cluster)
        self.suspensions.resume(target, by=by)
        return self.request_reconcile(target.application, target.cluster, Trigger.MANUAL,
                                      detail=f"resume by {by}")

    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool,
                     detail: str | None = None, force: bool = False, revision: str | None = None) -> str:
        """A manual sync (``gitops.sync`` on the sync queue); the task id is the operation id.
        ``force`` takes ownership of fields other managers hold (SSA ``force``); ``revision`` syncs that
        commit instead of the one the source names (a rollback; a full commit id, checked again by the
        worker)."""
        tasks = self._tasks()
        target = check_target(app, cluster)
        kwargs = {**(tasks.detail_kwargs(clip_detail(detail)) or {}), **({"force": True} if force else {}),
                  **({"revision": revision} if revision else {})}
        result = tasks.sync.apply_async((target.application, target.cluster, bool(prune), bool(dry_run)),
                                        kwargs or None)
        return str(result.id)

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None:
        """A coalesced reconcile: the task id, or None when one is already queued or running (the
        detail of a coalesced request is not kept: the queued reconcile serves it)."""
        tasks = self._tasks()
        target = check_target(app, cluster)
        trigger = Trigger(trigger)
        if not self.store.trigger(target, Settings.from_env().sched_ttl):
            return None
        return str(tasks.reconcile.apply_async((target.application, target.cluster, str(trigger)),
                                               tasks.detail_kwargs(clip_detail(detail))).id)

    def hard_refresh(self, app: str, cluster: str, detail: str | None = None) -> str:
        """Drop the target's render caches and reconcile it (``gitops.hard_refresh`` on the reconcile
        queue; never coalesced, so the caches are dropped even when a reconcile is already queued).
        The task id is the operation id."""
        tasks = self._tasks()
        target = check_target(app, cluster)
        return str(tasks.hard_refresh.apply_async((target.application, target.cluster),
                                                  tasks.detail_kwargs(clip_detail(detail))).id)

    def enqueue_poll(self, repository: str) -> str:
        """Check a repository's head now (a push webhook); only the apps a new commit touches follow."""
        tasks = self._tasks()
        return str(tasks.poll.apply_async((check_name(repository, "repository"),)).id)
