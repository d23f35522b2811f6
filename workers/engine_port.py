"""Production ports for the workers: the configuration as a Catalog, Git as a Poller, the engine.

Built by workers/runtime.py when no test runtime is installed: ``runtime_from_config`` loads
``$GITOPS_CONFIG`` (gitops.config), opens the Redis store, and wires gitops.sources and
gitops.engine.reconcile. Key design choice: the only place in workers/ that knows the shapes of the
config models and the engine request; tasks and service see Protocols only.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.errors import ConfigError, GitOpsError, Problem
from gitops.state import RedisStore
from gitops.state.model import ResultLike
from gitops.status import Target, Trigger
from workers.ports import TargetInfo
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
            self._targets[target] = TargetInfo(
                target, app.source.repository, app.source.path, follows_head=app.source.revision is None,
                self_heal=bool(app.sync_policy.self_heal))

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
    """gitops.engine.reconcile for one target; automated policy decides apply vs detect-only."""

    config: Any
    source: Any
    data_dir: Path
    _engine: Any = None

    def _module(self) -> Any:
        if self._engine is None:
            try:
                self._engine = importlib.import_module("gitops.engine")
            except ImportError as exc:
                raise GitOpsError(f"the reconcile engine is not available: {exc}") from exc
        return self._engine

    def reconcile(self, target: Target, *, trigger: Trigger, prune: bool | None = None,
                  dry_run: bool = False) -> ResultLike:
        engine = self._module()
        app = self.config.applications[target.application]
        automatic = trigger in (Trigger.POLL, Trigger.WEBHOOK, Trigger.SELF_HEAL)
        detect = dry_run or (automatic and not app.sync_policy.automated)
        build = getattr(engine, "request_for", None)
        if build is None:
            raise GitOpsError("gitops.engine has no request_for(config, app, cluster, ...) yet")
        request = build(self.config, target.application, target.cluster, trigger=trigger,
                        prune=prune, dry_run=detect)
        ports = engine.default_ports(self.config, source=self.source, data_dir=self.data_dir)
        result: ResultLike = engine.reconcile(request, ports)
        return result


def runtime_from_config(settings: Settings) -> Runtime:
    """The production runtime: config from ``$GITOPS_CONFIG``, Redis store, Git source, engine."""
    from gitops.config import load_config
    from gitops.sources import GitSource

    if not settings.config_path:
        raise ConfigError([Problem("no configuration: set GITOPS_CONFIG (or pass -c to gitops up)")])
    config = load_config(settings.config_path)
    data_dir = Path(settings.data_dir or Path(settings.config_path).resolve().parent / ".gitops")
    source = GitSource(data_dir / "git")
    return Runtime(store=RedisStore.from_url(settings.redis_url), catalog=ConfigCatalog(config),
                   poller=GitPoller(config, source), reconciler=EngineReconciler(config, source, data_dir),
                   settings=settings)
