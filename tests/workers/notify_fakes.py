"""The worker runtime of the notification tests: worker_fakes' runtime (fake Git and engine, real
Redis store) on a clock the test can set (worker_kit.RedisClock), plus the configured Notifications of
``$GITOPS_CONFIG`` (a real configuration file) with the production delivery (Redis rate limits, httpx,
Apprise). A manual sync "writes" (``applied``), so a successful sync raises SyncSucceeded. Loaded by
worker subprocesses with ``GITOPS_RUNTIME=notify_fakes:runtime``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import redis
import worker_fakes
from worker_kit import RedisClock

from gitops.config import load_config, to_fleet
from gitops.notify.deliver import HttpSender, Notifier
from gitops.state.ratelimits import RedisRateLimits
from gitops.vocabulary import Target, Trigger
from workers.ports import Runtime
from workers.settings import Settings


@dataclass
class WritingReconciler(worker_fakes.FakeReconciler):
    def reconcile(self, target: Target, *, trigger: Trigger, prune: bool | None = None,
                  dry_run: bool = False, sync: bool | None = None, force: bool = False,
                  revision: str | None = None) -> worker_fakes.Result:
        result = super().reconcile(target, trigger=trigger, prune=prune, dry_run=dry_run, sync=sync,
                                   force=force, revision=revision)
        return dataclasses.replace(result, applied=bool(sync) and not dry_run)


def runtime() -> Runtime:
    settings = Settings.from_env()
    rt = worker_fakes.runtime()
    fleet = to_fleet(load_config(settings.config_path or ""))
    client = redis.Redis.from_url(settings.redis_url)
    return dataclasses.replace(rt, reconciler=WritingReconciler(client), clock=RedisClock(client),
                               notifier=Notifier(lambda: fleet, RedisRateLimits(client),
                                                 HttpSender(timeout=30.0)))
