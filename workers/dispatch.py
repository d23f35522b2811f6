"""Enqueueing work on the workers: the dispatcher behind ``gitops.dispatch`` and the web layer.

``CeleryDispatcher`` is registered in the ``gitops.dispatchers`` entry-point group and loaded by
gitops/dispatch.py, so the core CLI can enqueue a manual sync without importing Celery; the web layer
(webhooks, API) uses it directly. Key design choice: names are validated before a message is published,
and reconcile requests go through the per-target coalescing mark in Redis, so a storm of webhooks
enqueues one reconcile per target, not one per request.
"""

from __future__ import annotations

from gitops.state import Coalescing, RedisStore, check_name, check_target
from gitops.vocabulary import Trigger
from workers.settings import Settings


class CeleryDispatcher:
    """Publishes tasks on the workers' queues; every method returns a task id (or None if coalesced).

    The tasks module (the Celery app, the runtime) is imported by each method, not at the top: the core
    CLI loads this class through the ``gitops.dispatchers`` entry point, and only an enqueue needs it
    (no import cycle: the tasks never import the dispatcher)."""

    def __init__(self, store: Coalescing | None = None) -> None:
        self._store = store

    @property
    def store(self) -> Coalescing:
        """The coalescing marks (Redis on ``$GITOPS_REDIS_URL`` unless one was given)."""
        if self._store is None:
            self._store = RedisStore.from_url(Settings.from_env().redis_url)
        return self._store

    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool) -> str:
        """A manual sync (``gitops.sync`` on the sync queue); the task id is the operation id."""
        from workers import tasks

        target = check_target(app, cluster)
        result = tasks.sync.apply_async((target.application, target.cluster, bool(prune), bool(dry_run)))
        return str(result.id)

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK) -> str | None:
        """A coalesced reconcile: the task id, or None when one is already queued or running."""
        from workers import tasks

        target = check_target(app, cluster)
        if not self.store.trigger(target, Settings.from_env().sched_ttl):
            return None
        return str(tasks.reconcile.apply_async((target.application, target.cluster, str(trigger))).id)

    def enqueue_poll(self, repository: str) -> str:
        """Check a repository's head now (a push webhook); only the apps a new commit touches follow."""
        from workers import tasks

        return str(tasks.poll.apply_async((check_name(repository, "repository"),)).id)
