"""The ports the workers call: what is configured, what Git says, the reconcile itself, and who is told
when an operation finished; and the :class:`Runtime` that bundles them with the store, the settings and
the clock.

Implemented for production by workers/engine_port.py (config + gitops.sources + gitops.engine) and by
small fakes in the tests. Key design choice: tasks depend only on these Protocols, so the Celery
machinery (locking, coalescing, retries, redelivery) is tested with real workers and a fake engine,
and the engine is tested without Celery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gitops.appset.controller import RunReport
from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.domain import Fleet
from gitops.notify.deliver import Notifier
from gitops.state import Operation, Store, TargetStatus
from gitops.state.model import ResultLike
from gitops.state.suspensions import InMemorySuspensions, Suspensions
from gitops.state.wakes import InMemoryWakes, Wakes
from gitops.vocabulary import Target, Trigger
from workers.settings import Settings, Shards


@dataclass(frozen=True)
class Retry:
    """Backoff of temporary failures: ``base * factor**(attempt-1)`` capped at ``cap``, ``limit`` retries."""

    limit: int
    base: float
    factor: float
    cap: float


@dataclass(frozen=True)
class TargetInfo:
    """A configured target: its repository, the app's path in it, and whether it follows the head."""

    target: Target
    repository: str
    path: str
    follows_head: bool = True
    self_heal: bool = False
    retry: Retry | None = None  # None: the worker settings (GITOPS_RETRY_*)


class Catalog(Protocol):
    """What is configured (applications x clusters, repositories and their poll intervals)."""

    def targets(self) -> list[TargetInfo]: ...

    def target(self, target: Target) -> TargetInfo | None: ...

    def repositories(self) -> Mapping[str, float]:
        """Repository name -> poll interval in seconds."""


class Poller(Protocol):
    """Cheap questions to Git: the head of a repository and the paths changed between commits."""

    def head(self, repository: str) -> str: ...

    def changed_paths(self, repository: str, old: str, new: str) -> frozenset[str]: ...


class WorkResult(ResultLike, Protocol):
    """What a reconcile returns to the workers: what state records, plus the rendered manifests the
    store keeps beside it (YAML, Secret values masked, bounded; "" when nothing was rendered)."""

    @property
    def rendered(self) -> str: ...
    @property
    def rendered_truncated(self) -> bool: ...


class Reconciler(Protocol):
    """One reconcile of one target (gitops.engine.reconcile behind it)."""

    def reconcile(self, target: Target, *, trigger: Trigger, prune: bool | None = None,
                  dry_run: bool = False, sync: bool | None = None, force: bool = False,
                  revision: str | None = None) -> WorkResult:
        """``sync``: True for a manual sync (apply even when not automated); None: the policy decides;
        False: only compare (a hold: dependencies, a sync window, suspended).
        ``force``: take ownership of fields another manager holds (a sync asked with force).
        ``revision``: the commit to sync instead of the one the source names (a rollback)."""

    def hard_refresh(self, target: Target) -> str:
        """Drop what is cached for the target's next render (see ``EngineReconciler.hard_refresh``);
        says what was dropped."""


class Observer(Protocol):
    """Told of every finished operation, after it was recorded (metrics, trace export). Must not block
    for long; an exception is logged and never fails the operation."""

    def finished(self, operation: Operation, status: TargetStatus) -> None: ...


class AppSets(Protocol):
    """The ApplicationSet controller over the configured sets (gitops.appset.controller behind it)."""

    def names(self) -> list[str]:
        """The configured ApplicationSets, sorted."""

    def run(self, name: str) -> RunReport:
        """One controller pass over the set (InputError for a set that is not configured)."""

    def forget_removed(self) -> tuple[Target, ...]:
        """Tombstone and drop the records of sets no longer configured; their released targets."""


class Permits(Protocol):
    """The configuration the gates read (workers/gates.py): applications with their dependencies and
    labels, clusters with their labels, the sync windows. A LiveFleet in production (generated
    applications included); :class:`StaticPermits` over a fixed fleet in tests."""

    def current(self) -> Fleet: ...


@dataclass(frozen=True)
class StaticPermits:
    fleet: Fleet

    def current(self) -> Fleet:
        return self.fleet


@dataclass
class Runtime:
    """Everything a task needs in one worker process (built by workers/runtime.py)."""

    store: Store  # every role: records, leases, coalescing, schedule
    catalog: Catalog
    poller: Poller
    reconciler: Reconciler
    settings: Settings
    clock: Clock = field(default=SYSTEM_CLOCK)  # the beat's ticks and ``now``; a ManualClock in tests
    # told of every finished operation; None: the defaults (workers.observers), attached by get_runtime
    observers: tuple[Observer, ...] | None = None
    appsets: AppSets | None = None  # None: no ApplicationSet is configured
    # automated syncs suspended per target (a rollback); the Redis one in production
    suspensions: Suspensions = field(default_factory=InMemorySuspensions)
    notifier: Notifier | None = None  # the configured Notifications' delivery; None: none configured
    # dependencies and sync windows (workers/gates.py); None: nothing configured, nothing holds
    permits: Permits | None = None
    wakes: Wakes = field(default_factory=InMemoryWakes)  # reconciles due when a window closes
    # which clusters' per-target tasks go to a shard's queues (workers/app.py routes by it)
    shards: Shards = field(default_factory=Shards)
