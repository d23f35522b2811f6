"""What every route of the web app works with: one :class:`WebContext` built at start.

Built by :func:`web.app.create_app` (production: :func:`web.wiring.production_context`; tests: their
own, with fakes or a real Redis). Routes read it with ``context(request)``. Key design choice: the web
layer verifies, reads and enqueues only: its ports are the state's read side (:class:`StateReader`),
the fleet (configuration, loaded once), :class:`Actions` (enqueue on the workers; a rollback and a
resume also set or lift the target's suspension there), the suspensions (read), accounts, the audit
log and webhook deliveries; nothing here can run a sync inline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.domain import Fleet
from gitops.state import RecordReader
from gitops.state.appsets import AppSetStore
from gitops.state.index import TargetIndex
from gitops.state.suspensions import SuspensionReader
from gitops.vocabulary import Trigger
from web.settings import WebSettings


class StateReader(RecordReader, TargetIndex, Protocol):
    """Status, history, operations, events and the target index: all a page or an API answer reads."""

    def ping(self) -> bool: ...


class Actions(Protocol):
    """Enqueue work on the workers (``workers.dispatch.CeleryDispatcher``); each returns a task
    (operation) id, or None when a reconcile of the target is already queued (coalesced)."""

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None: ...

    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool,
                     detail: str | None = None, force: bool = False) -> str: ...

    def rollback(self, app: str, cluster: str, *, revision: str, by: str) -> str:
        """Suspend automated sync of the target and enqueue a sync pinned to ``revision``."""

    def resume(self, app: str, cluster: str, *, by: str) -> str | None:
        """Lift the target's suspension and request a reconcile."""

    def hard_refresh(self, app: str, cluster: str, detail: str | None = None) -> str | None: ...


@dataclass
class WebContext:
    settings: WebSettings
    state: StateReader
    fleet: Callable[[], Fleet]
    actions: Actions
    # set by their packages' wiring (web.auth, web.webhooks); typed there, Any here to keep this
    # module free of their imports
    accounts: Any = None
    audit: Any = None
    deliveries: Any = None
    metrics: Any = None          # a prometheus_client Collector of the workers' figures, or None
    appsets: AppSetStore | None = None  # the ApplicationSet controller's records (web.api.appsets), or None
    suspensions: SuspensionReader | None = None  # targets a rollback suspended (read only); None: not shown
    clock: Clock = SYSTEM_CLOCK
    extras: dict[str, Any] = field(default_factory=dict)


def context(request: Request) -> WebContext:
    """The app's context (a FastAPI dependency)."""
    found: WebContext = request.app.state.context
    return found
