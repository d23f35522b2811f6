"""Enqueue work on the workers from the core (``gitops sync --async``, the API) without importing Celery.

Called by core commands and the web layer. Key design choice: the implementation is found through the
``gitops.dispatchers`` entry-point group (workers registers ``celery = workers.dispatch:CeleryDispatcher``),
so gitops/ keeps its import contract (no Celery) and a missing workers layer is a clear error rather
than an ImportError deep in a stack.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, cast

from gitops.errors import GitOpsError
from gitops.state.names import check_target
from gitops.vocabulary import Trigger

GROUP = "gitops.dispatchers"


class Dispatcher(Protocol):
    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool,
                     detail: str | None = None, force: bool = False, revision: str | None = None) -> str: ...

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None: ...


def load_dispatcher(name: str | None = None) -> Dispatcher:
    """The installed dispatcher (``name`` picks one when several are installed)."""
    found = sorted(entry_points(group=GROUP), key=lambda e: e.name)
    if name is not None:
        found = [e for e in found if e.name == name]
    if not found:
        raise GitOpsError(f"no dispatcher installed in entry-point group {GROUP!r}: install the workers "
                          "layer (pip install -e .) to enqueue syncs")
    try:
        factory = found[0].load()
    except ImportError as exc:
        raise GitOpsError(f"dispatcher {found[0].name!r} could not be loaded: {exc}") from exc
    return cast(Dispatcher, factory())


def enqueue_sync(app: str, cluster: str, *, prune: bool, dry_run: bool, detail: str | None = None,
                 revision: str | None = None) -> str:
    """Enqueue a manual sync of (app, cluster) on the workers (of ``revision`` instead of the source's:
    a rollback); returns the task (operation) id."""
    target = check_target(app, cluster)
    return load_dispatcher().enqueue_sync(target.application, target.cluster, prune=prune, dry_run=dry_run,
                                          detail=detail, revision=revision)


def request_reconcile(app: str, cluster: str, *, detail: str | None = None) -> str | None:
    """Ask the workers for a (coalesced) manual reconcile of (app, cluster), as ``gitops resume`` does;
    returns the task id, or None when one is already queued."""
    target = check_target(app, cluster)
    return load_dispatcher().request_reconcile(target.application, target.cluster, Trigger.MANUAL,
                                               detail=detail)
