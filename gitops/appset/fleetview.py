"""``LiveFleet``: the configured fleet plus the applications every ApplicationSet has released.

Built by the workers' runtime (the catalog of targets and the reconciler's lookups) and by the web
wiring (the API and the dashboard list generated applications like configured ones). ``current()``
asks the :class:`~gitops.state.appsets.AppSetStore` only for its change counter and rebuilds the fleet
when a record changed, so a catalog can call it on every lookup.

Key design choice: a generated application is an ordinary :class:`gitops.domain.Application` once
released (the engine, the poller and the web need no notion of sets), labelled with
``gitops.dev/application-set: NAME`` so it can be selected by set; only sets still configured are
read, a configured application always wins a name, an application whose cluster or repository is no
longer configured is left out (nothing could reconcile it), and an unreadable record is skipped with a log
line (the last good fleet stays) rather than taking every generated application away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import replace

from gitops.appset.record import AppSetState
from gitops.domain import Application, Fleet
from gitops.errors import GitOpsError
from gitops.keys import PREFIX
from gitops.state.appsets import AppSetStore

APPSET_LABEL = f"{PREFIX}/application-set"
log = logging.getLogger(__name__)


class LiveFleet:
    """``static`` (the configuration) plus the released applications of the configured ``appsets``."""

    def __init__(self, static: Fleet, store: AppSetStore, appsets: Collection[str]) -> None:
        self.static = static
        self.store = store
        self.appsets = frozenset(appsets)
        self._lock = threading.Lock()
        self._seen: int | None = None
        self._fleet = static
        self._by_fingerprint: dict[str, Application] = {}
        self._last: dict[str, dict[str, Application]] = {}

    def current(self) -> Fleet:
        """The fleet now (the same object while no set changed)."""
        if not self.appsets:
            return self.static
        with self._lock:
            changes = self.store.changes()
            if changes != self._seen:
                self._fleet = self._build()
                self._seen = changes
            return self._fleet

    def _build(self) -> Fleet:
        generated: dict[str, Application] = {}
        fresh: dict[str, Application] = {}
        for name in sorted(self.appsets):
            try:
                found = self.store.load(name)
                apps = self._applications(name, found.text, fresh) if found is not None else {}
            except GitOpsError as exc:
                log.warning("ApplicationSet %s: keeping its last released applications: %s", name, exc)
                apps = self._last.get(name, {})
            self._last[name] = apps
            for app_name, app in apps.items():
                if app_name in self.static.applications or app_name in generated:
                    continue
                if app.destination.cluster not in self.static.clusters \
                        or app.source.repository not in self.static.repositories:
                    continue  # its cluster or repository left the configuration: nothing to reconcile
                generated[app_name] = app
        self._by_fingerprint = fresh  # only what some set still releases
        return replace(self.static, applications={**self.static.applications, **generated})

    def _applications(self, appset: str, text: str, fresh: dict[str, Application]) -> dict[str, Application]:
        state = AppSetState.from_json(appset, text)
        out: dict[str, Application] = {}
        for name, generated in state.released.items():
            key = f"{appset}/{generated.fingerprint}"
            app = self._by_fingerprint.get(key)
            if app is None:
                base = generated.application()
                app = replace(base, labels={**base.labels, APPSET_LABEL: appset})
            fresh[key] = app
            out[name] = app
        return out


__all__ = ["APPSET_LABEL", "LiveFleet"]
