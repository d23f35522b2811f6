"""The Celery dispatcher behind ``gitops.dispatch.enqueue_sync`` (entry point ``gitops.dispatchers``).

Loaded by gitops/dispatch.py so the core CLI can enqueue a manual sync on a configured Redis without
importing Celery. Key design choice: names are validated here too, before a message is published.
"""

from __future__ import annotations

from gitops.state import check_target


class CeleryDispatcher:
    """Publishes ``gitops.sync`` on the sync queue; returns the task (= operation) id."""

    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool) -> str:
        from workers import tasks

        target = check_target(app, cluster)
        result = tasks.sync.apply_async((target.application, target.cluster, bool(prune), bool(dry_run)))
        return str(result.id)

    def enqueue_refresh(self, app: str, cluster: str) -> str:
        from workers import tasks

        target = check_target(app, cluster)
        return str(tasks.refresh.apply_async((target.application, target.cluster)).id)
