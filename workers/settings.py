"""Worker settings from the environment: Redis URL, config path, time limits, lock and coalescing TTLs;
the queue names, and :class:`Shards` (which clusters' tasks go to a shard's own queues).

Read by workers/app.py (Celery configuration), the tasks (lock/coalescing TTLs, retry backoff) and
``gitops up`` (which sets the environment for its children). Key design choice: every knob is an
environment variable with a production default, so ``gitops up``, ``gitops worker`` subprocesses and
tests (short visibility timeouts) configure the same code the same way without a settings file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from gitops import env
from gitops.env import ENV_CONFIG, ENV_DATA_DIR, ENV_REDIS_URL
from gitops.keys import SHARD

# The queues the tasks are routed to (workers/app.py) and a worker consumes by default (workers/argv.py).
QUEUES = ("poll", "reconcile", "sync")
# The queues of per-target tasks: a shard has its own copy of each ("reconcile.eu", "sync.eu").
SHARDED_QUEUES = ("reconcile", "sync")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class Labelled(Protocol):
    """A cluster as the configuration (``gitops.config.Cluster``) or the fleet (``gitops.domain.Cluster``)
    holds it: a name and labels."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Shards:
    """Which shard serves each cluster: the ``gitops.dev/shard`` label of its Cluster (a DNS label, checked
    by the configuration). A per-target task of a cluster in a shard goes to ``<queue>.<shard>``; every
    other cluster (and a name that is not configured) keeps the plain queue. Built once per process
    from the configuration it loaded (:meth:`of`); read by the router of workers/app.py."""

    by_cluster: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @staticmethod
    def of(clusters: Iterable[Labelled]) -> Shards:
        return Shards(MappingProxyType({c.name: c.labels[SHARD] for c in clusters if SHARD in c.labels}))

    def queue(self, base: str, cluster: object) -> str:
        """The queue of a per-target task of ``cluster`` whose plain queue is ``base``."""
        shard = self.by_cluster.get(cluster) if isinstance(cluster, str) else None
        return f"{base}.{shard}" if shard and base in SHARDED_QUEUES else base

    def queues(self) -> tuple[str, ...]:
        """Every shard queue the configured clusters use, sorted (``gitops up`` consumes them too)."""
        return tuple(sorted({f"{q}.{s}" for s in self.by_cluster.values() for q in SHARDED_QUEUES}))


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS
    config_path: str | None = None
    data_dir: str | None = None
    visibility_timeout: float = 3600.0   # > hard time limit + longest retry countdown
    restore_interval: float = 10.0       # how often a worker looks for messages of dead workers
    soft_time_limit: float = 600.0
    hard_time_limit: float = 660.0
    lock_ttl: float = 60.0               # renewed every lock_ttl / 3 while a reconcile runs
    sched_ttl: float = 300.0             # a queued/running mark expires if its task is lost
    debounce: float = 1.0                # a follow-up run for triggers that came during a run waits this
    retry_base: float = 5.0
    retry_max: float = 300.0
    retry_limit: int = 5
    resync_seconds: float = 300.0        # self-heal: every target re-reconciled this often
    health_recheck: float = 10.0         # first look again at a target a sync left Progressing (0: off)
    beat_tick: float = 2.0
    beat_lock_ttl: float = 15.0
    appset_interval: float = 15.0        # how often the controller runs each ApplicationSet

    @staticmethod
    def from_env() -> Settings:
        d = Settings()
        return Settings(
            redis_url=os.environ.get(ENV_REDIS_URL) or d.redis_url,
            config_path=os.environ.get(ENV_CONFIG) or None,
            data_dir=os.environ.get(ENV_DATA_DIR) or None,
            visibility_timeout=_float(env.ENV_VISIBILITY_TIMEOUT, d.visibility_timeout),
            restore_interval=_float(env.ENV_RESTORE_INTERVAL, d.restore_interval),
            soft_time_limit=_float(env.ENV_SOFT_TIME_LIMIT, d.soft_time_limit),
            hard_time_limit=_float(env.ENV_HARD_TIME_LIMIT, d.hard_time_limit),
            lock_ttl=_float(env.ENV_LOCK_TTL, d.lock_ttl),
            sched_ttl=_float(env.ENV_SCHED_TTL, d.sched_ttl),
            debounce=_float(env.ENV_DEBOUNCE, d.debounce),
            retry_base=_float(env.ENV_RETRY_BASE, d.retry_base),
            retry_max=_float(env.ENV_RETRY_MAX, d.retry_max),
            retry_limit=int(_float(env.ENV_RETRY_LIMIT, d.retry_limit)),
            resync_seconds=_float(env.ENV_RESYNC_SECONDS, d.resync_seconds),
            health_recheck=max(0.0, _float(env.ENV_HEALTH_RECHECK, d.health_recheck)),
            beat_tick=_float(env.ENV_BEAT_TICK, d.beat_tick),
            beat_lock_ttl=_float(env.ENV_BEAT_LOCK_TTL, d.beat_lock_ttl),
            appset_interval=max(0.5, _float(env.ENV_APPSET_INTERVAL, d.appset_interval)),
        )
