"""Production ports for the workers: the configuration as a Catalog, Git as a Poller, the engine.

Built by workers/runtime.py when no test runtime is installed: ``runtime_from_config`` loads
``$GITOPS_CONFIG`` (gitops.config), opens the Redis store, and wires gitops.sources and
gitops.engine.reconcile. Key design choice: the only place in workers/ that knows the shapes of the
config models and the engine request; tasks and service see Protocols only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.errors import ConfigError, Problem
from gitops.state import RecordReader, RedisStore, TargetStatus
from gitops.state.model import ResultLike
from gitops.status import Target, Trigger
from workers.ports import Retry, TargetInfo
from workers.runtime import Runtime
from workers.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ConfigCatalog:
    """Applications x their destination cluster, and repositories with their poll intervals."""

    config: Any
    _targets: dict[Target, TargetInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, app in sorted(self.config.applications.items()):
            target = Target(name, app.destination.cluster)
            policy = app.sync_policy.retry
            self._targets[target] = TargetInfo(
                target, app.source.repository, app.source.path, follows_head=app.source.revision is None,
                self_heal=bool(app.sync_policy.self_heal),
                retry=Retry(int(policy.limit), float(policy.backoff_seconds), float(policy.factor),
                            float(policy.max_backoff_seconds)))

    def targets(self) -> list[TargetInfo]:
        return list(self._targets.values())

    def target(self, target: Target) -> TargetInfo | None:
        return self._targets.get(target)

    def repositories(self) -> Mapping[str, float]:
        return {name: float(repo.interval_seconds) for name, repo in self.config.repositories.items()}


@dataclass
class GitPoller:
    """Remote head checks and changed paths through gitops.sources."""

    config: Any
    source: Any

    def _spec(self, repository: str) -> Any:
        from gitops.sources import RepoSpec

        return RepoSpec.from_config(self.config.repositories[repository])

    def head(self, repository: str) -> str:
        return str(self.source.head(self._spec(repository)))

    def changed_paths(self, repository: str, old: str, new: str) -> frozenset[str]:
        return frozenset(self.source.changed_paths(self._spec(repository), old, new))


@dataclass
class EngineReconciler:
    """gitops.engine.reconcile for one target, with the revision last recorded in state."""

    config: Any
    git: Any
    store: RecordReader
    _ports: Any = None

    def _engine_ports(self) -> Any:
        if self._ports is None:
            from gitops.engine import GitSourcePort, Ports, RenderersPort
            from gitops.kube.rest import KubeClusters

            # the configured repositories are the default allow-list for Kustomize remote bases
            self._ports = Ports(GitSourcePort(self.git, self.config.repositories.values()), RenderersPort(),
                                KubeClusters())
        return self._ports

    def reconcile(self, target: Target, *, trigger: Trigger, prune: bool | None = None,
                  dry_run: bool = False, sync: bool | None = None) -> ResultLike:
        from gitops.engine import ReconcileRequest, reconcile

        app = self.config.applications[target.application]
        previous = self.store.status(target)
        request = ReconcileRequest(
            application=app, repository=self.config.repositories[app.source.repository],
            cluster=self.config.clusters[target.cluster], trigger=trigger,
            previous_revision=_last_good(previous),
            sync=sync, dry_run=dry_run, prune=prune)
        result: ResultLike = reconcile(request, self._engine_ports())
        return result


def _last_good(previous: TargetStatus | None) -> str | None:
    """The revision an automated sync compares against: only a sync that ended without error counts,
    so a target whose sync failed (cluster down past its retries) is synced again on the next resync."""
    if previous is None or previous.error is not None:
        return None
    return previous.revision


def runtime_from_config(settings: Settings) -> Runtime:
    """The production runtime: config from ``$GITOPS_CONFIG``, Redis store, Git source, engine."""
    from gitops.config import load_config
    from gitops.sources import GitSource

    if not settings.config_path:
        raise ConfigError([Problem("no configuration: set GITOPS_CONFIG (or pass -c to gitops up)")])
    config = load_config(settings.config_path)
    data_dir = Path(settings.data_dir or Path(settings.config_path).resolve().parent / ".gitops")
    source = GitSource(data_dir / "git")
    store = RedisStore.from_url(settings.redis_url)
    return Runtime(store=store, catalog=ConfigCatalog(config), poller=GitPoller(config, source),
                   reconciler=EngineReconciler(config, source, store), settings=settings)
