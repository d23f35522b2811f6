"""Production ports for the workers: the configuration as a Catalog, Git as a Poller, the engine.

Built by workers/runtime.py when no test runtime is installed: ``runtime_from_config`` loads
``$GITOPS_CONFIG`` (gitops.config), converts it to the engine's values once
(``gitops.config.to_fleet``, as the CLI does), opens the Redis store, and wires gitops.sources and
gitops.engine.reconcile through the engine's own wiring (``gitops.adapters.production_ports``, which
takes an optional image verifier). Key design choice: the only place in workers/ that knows the
engine request; tasks and service see Protocols only.

What a hard refresh drops (:meth:`EngineReconciler.hard_refresh`): the engine keeps no cache of rendered
output. The renderers' own caches (Kustomize's parsed files and built bases, in each render process)
are keyed by the content's hash and the resolved commit, so they cannot serve anything stale. What can
be stale is a Git snapshot on disk (and the stored file contents it links to), so a hard refresh drops
the snapshot of the revision the target is at and of the one it is about to render (the remote is
listed again), and the reconcile that follows builds it again from the Git objects.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gitops.appset.controller import ControllerPorts, RunReport, forget_set, run_appset
from gitops.appset.fleetview import LiveFleet
from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.config.application import ApplicationSet
from gitops.domain import Fleet
from gitops.engine import Ports, ReconcileRequest, ReconcileResult, reconcile
from gitops.errors import ConfigError, GitOpsError, InputError, Problem
from gitops.notify.deliver import Notifier
from gitops.state import RecordReader, RedisStore, TargetStatus
from gitops.state.appsets import AppSetStore, RedisAppSets
from gitops.state.ratelimits import RedisRateLimits
from gitops.state.suspensions import RedisSuspensions
from gitops.state.wakes import RedisWakes
from gitops.verify import Verifier
from gitops.vocabulary import Target, Trigger
from workers.ports import Retry, Runtime, TargetInfo
from workers.settings import Settings, Shards

if TYPE_CHECKING:  # for the annotations only: importing gitops.sources loads pygit2
    from gitops.sources import GitSource, RepoSpec

log = logging.getLogger(__name__)
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")


def current(fleet: Fleet | LiveFleet) -> Fleet:
    """The fleet now: a configured one as it is, a LiveFleet with the released generated applications."""
    return fleet.current() if isinstance(fleet, LiveFleet) else fleet


@dataclass
class ConfigCatalog:
    """Applications x their destination cluster, and repositories with their poll intervals; with a
    LiveFleet, the applications ApplicationSets released too (rebuilt when a set changed)."""

    fleet: Fleet | LiveFleet
    _targets: dict[Target, TargetInfo] = field(default_factory=dict)
    _built_from: Fleet | None = None

    def _index(self) -> dict[Target, TargetInfo]:
        now = current(self.fleet)
        if now is not self._built_from:
            targets = {}
            for name, app in sorted(now.applications.items()):
                target = Target(name, app.destination.cluster)
                policy = app.sync_policy.retry
                targets[target] = TargetInfo(
                    target, app.source.repository, app.source.path, follows_head=app.source.revision is None,
                    self_heal=app.sync_policy.self_heal,
                    retry=Retry(policy.limit, policy.backoff_seconds, policy.factor,
                                policy.max_backoff_seconds))
            self._targets, self._built_from = targets, now
        return self._targets

    def targets(self) -> list[TargetInfo]:
        return list(self._index().values())

    def target(self, target: Target) -> TargetInfo | None:
        return self._index().get(target)

    def repositories(self) -> Mapping[str, float]:
        return {name: repo.interval_seconds for name, repo in current(self.fleet).repositories.items()}


@dataclass
class GitPoller:
    """Remote head checks and changed paths through gitops.sources."""

    fleet: Fleet
    source: GitSource

    def _spec(self, repository: str) -> RepoSpec:
        # lazy: the sources package loads pygit2 (see runtime_from_config)
        from gitops.sources import RepoSpec

        return RepoSpec.from_config(self.fleet.repositories[repository])

    def head(self, repository: str) -> str:
        return self.source.head(self._spec(repository))

    def changed_paths(self, repository: str, old: str, new: str) -> frozenset[str]:
        return frozenset(self.source.changed_paths(self._spec(repository), old, new))


@dataclass
class EngineReconciler:
    """gitops.engine.reconcile for one target, with the revision last recorded in state.

    The ports come from the engine's one wiring (``production_ports``), built on first use over the
    shared ``git`` source, with ``verifier`` (None: no image verification)."""

    fleet: Fleet | LiveFleet
    git: GitSource
    store: RecordReader
    verifier: Verifier | None = None
    _ports: Ports | None = None

    def _engine_ports(self) -> Ports:
        if self._ports is None:
            from gitops.adapters import production_ports  # lazy: the adapters load kubernetes and pygit2

            # the configured repositories are the default allow-list for Kustomize remote bases
            self._ports = production_ports(self.git, self.verifier, current(self.fleet).repositories.values())
        return self._ports

    def reconcile(self, target: Target, *, trigger: Trigger, prune: bool | None = None,
                  dry_run: bool = False, sync: bool | None = None, force: bool = False,
                  revision: str | None = None) -> ReconcileResult:
        placement = current(self.fleet).lookup(target.application, target.cluster)
        request = ReconcileRequest(*placement, trigger=trigger, revision=revision,
                                   previous_revision=_last_good(self.store.status(target)),
                                   sync=sync, dry_run=dry_run, prune=prune, force=force)
        return reconcile(request, self._engine_ports())

    def hard_refresh(self, target: Target) -> str:
        """Drop the Git snapshots of the target's current revision and of the one its source names now
        (see the module docstring); says which were dropped."""
        from gitops.sources import RepoSpec  # lazy: the sources package loads pygit2

        application, repository, _ = current(self.fleet).lookup(target.application, target.cluster)
        spec = RepoSpec.from_config(repository)
        previous = self.store.status(target)
        revisions = {previous.revision} if previous is not None and previous.revision else set()
        notes = []
        wanted = application.source.revision
        try:
            revisions.add(wanted.lower() if wanted and _SHA.match(wanted) else
                          self.git.head(replace(spec, ref=wanted) if wanted else spec))
        except GitOpsError as exc:
            notes.append(f"head not listed ({exc.message})")
        dropped = [r for r in sorted(revisions) if self.git.drop_snapshot(spec, r)]
        kept = sorted(revisions - set(dropped))
        if dropped:
            notes.insert(0, "dropped the snapshot of " + ", ".join(r[:12] for r in dropped))
        if kept:
            notes.append("no snapshot to drop of " + ", ".join(r[:12] for r in kept) + " (none, or in use)")
        return "; ".join(notes) or "nothing cached"


def _last_good(previous: TargetStatus | None) -> str | None:
    """The revision an automated sync compares against: only a sync that ended without error counts,
    so a target whose sync failed (cluster down past its retries) is synced again on the next resync."""
    if previous is None or previous.error is not None:
        return None
    return previous.revision


@dataclass
class GitHeads:
    """The controller's Heads port over the Git source: the commit a ref names now."""

    fleet: Fleet
    source: GitSource

    def head(self, repository: str, ref: str | None) -> str:
        from gitops.sources import RepoSpec  # lazy: the sources package loads pygit2

        found = self.fleet.repositories.get(repository)
        if found is None:
            raise InputError(f"no repository named {repository!r} is configured", field="repository")
        spec = RepoSpec.from_config(found)
        return self.source.head(replace(spec, ref=ref) if ref else spec)


@dataclass
class ControllerAppSets:
    """The configured ApplicationSets run by gitops.appset.controller over the Git source, the state
    store (statuses) and the ApplicationSet store. A pass reads Git through a fresh SnapshotTree, so a
    branch is listed again every pass (the snapshots themselves are shared and cached per commit)."""

    fleet: Fleet
    appsets: Mapping[str, ApplicationSet]
    git: GitSource
    store: AppSetStore
    statuses: RecordReader
    clock: Clock = field(default=SYSTEM_CLOCK)

    def names(self) -> list[str]:
        return sorted(self.appsets)

    def run(self, name: str) -> RunReport:
        from gitops.appset.prometheus import PrometheusGateClient  # lazy: only a worker running sets
        from gitops.appset.snapshots import SnapshotTree  # lazy: loads pygit2

        appset = self.appsets.get(name)
        if appset is None:
            raise InputError(f"no ApplicationSet named {name!r} is configured", field="appset")
        tree = SnapshotTree(self.git, self.fleet.repositories.values())
        ports = ControllerPorts(self.store, self.statuses, tree, GitHeads(self.fleet, self.git), self.clock,
                                PrometheusGateClient())
        return run_appset(appset, self.fleet, ports)

    def forget_removed(self) -> tuple[Target, ...]:
        gone: list[Target] = []
        for name in self.store.names():
            if name not in self.appsets:
                gone += forget_set(self.store, name, self.clock.now(), RETENTION_OF_REMOVED)
        return tuple(gone)


RETENTION_OF_REMOVED = 7 * 86400.0  # a removed set's applications stay restorable this long


def runtime_from_config(settings: Settings) -> Runtime:
    """The production runtime: config from ``$GITOPS_CONFIG``, Redis store, Git source, engine."""
    # Lazy, not to dodge a cycle: the configuration and the sources load pygit2, which a process with a
    # test runtime ($GITOPS_RUNTIME) never needs.
    from gitops.config import load_config, to_fleet
    from gitops.sources import GitSource
    from gitops.verify.policy import policy_verifier

    if not settings.config_path:
        raise ConfigError([Problem("no configuration: set GITOPS_CONFIG (or pass -c to gitops up)")])
    config = load_config(settings.config_path)
    fleet = to_fleet(config)
    data_dir = Path(settings.data_dir or Path(settings.config_path).resolve().parent / ".gitops")
    source = GitSource(data_dir / "git")
    store = RedisStore.from_url(settings.redis_url)
    appset_store = RedisAppSets(store.redis)
    live = LiveFleet(fleet, appset_store, config.application_sets)
    appsets = ControllerAppSets(fleet, dict(config.application_sets), source, appset_store, store)
    # the configured VerificationPolicy objects, enforced before anything is planned (None: no policy)
    verifier = policy_verifier(config.verification_policies, live.current)
    return Runtime(store=store, catalog=ConfigCatalog(live), poller=GitPoller(fleet, source),
                   reconciler=EngineReconciler(live, source, store, verifier), settings=settings,
                   suspensions=RedisSuspensions(store.redis, prefix=store.keys.prefix, events=store),
                   permits=live, wakes=RedisWakes(store.redis, prefix=store.keys.prefix),
                   notifier=Notifier(live.current, RedisRateLimits(store.redis, prefix=store.keys.prefix))
                   if fleet.notifications else None,
                   appsets=appsets if config.application_sets or _stored_sets(appset_store) else None,
                   shards=Shards.of(fleet.clusters.values()))


def _stored_sets(store: AppSetStore) -> bool:
    """Whether sets removed from the configuration still have records to tombstone (Redis away at start:
    assume not; the next start looks again)."""
    try:
        return bool(store.names())
    except GitOpsError as exc:
        log.warning("ApplicationSet records not listed: %s", exc)
        return False
