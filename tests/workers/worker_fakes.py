"""Fakes for the worker tests: a catalog, a Git poller and a reconciler controlled through Redis.

Worker subprocesses load them with ``GITOPS_RUNTIME=worker_fakes:runtime`` (``PYTHONPATH`` = this directory).
The fake reconciler "applies" by writing the revision to ``fake:applied:<target>`` and counts runs and
overlaps (two reconciles of one target at the same time) so tests can assert the locking held; every run
appends its target to ``fake:log`` (the order runs started in). Behaviour per application is set in
Redis: ``fake:hold:<app>`` set = each run waits, mid-reconcile, until the test pushes to
``fake:go:<target>`` (so a test knows a run is in progress for as long as it needs, without timing);
``fake:fail:<app>`` = number of temporary failures left, ``fake:head:<repo>`` the remote head (``down`` =
unreachable), ``fake:committed:<revision>`` its commit time. A run's result carries a trace (resolve,
render, apply spans), the rendered manifests (a ConfigMap naming the revision) and their digest; each
run pushes the ``sync`` it was asked for to ``fake:sync:<target>``; a hard refresh is counted in
``fake:hard:<target>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops.errors import ClusterUnavailable, Failure, SourceUnavailable
from gitops.results import FieldDrift, ImageCheck, ObjectResult, Span
from gitops.state import RedisStore, connect
from gitops.vocabulary import HealthStatus, SyncStatus, Target, Trigger
from workers.ports import Runtime, TargetInfo
from workers.settings import Settings

DEFAULT_TARGETS = ["web@prod", "web@dev", "api@prod", "slow@prod", "flaky@prod"]


@dataclass(frozen=True)
class Result:
    target: Target
    revision: str | None
    sync: SyncStatus = SyncStatus.SYNCED
    health: HealthStatus = HealthStatus.HEALTHY
    objects: tuple[ObjectResult, ...] = ()
    drift: tuple[FieldDrift, ...] = ()
    failure: Failure | None = None
    started: float = field(default_factory=time.time)
    finished: float = field(default_factory=time.time)
    spans: tuple[Span, ...] = ()
    commit_time: float | None = None
    manifests_digest: str | None = None
    rendered: str = ""
    rendered_truncated: bool = False
    corrected: tuple[FieldDrift, ...] = ()
    verification: tuple[ImageCheck, ...] | None = None
    applied: bool = False


@dataclass
class FakeCatalog:
    infos: dict[Target, TargetInfo]
    intervals: dict[str, float]

    @staticmethod
    def of(keys: list[str], paths: Mapping[str, str] | None = None, interval: float = 1.0) -> FakeCatalog:
        infos: dict[Target, TargetInfo] = {}
        for key in keys:
            app, _, cluster = key.partition("@")
            t = Target(app, cluster)
            infos[t] = TargetInfo(t, "repo", (paths or {}).get(app, f"apps/{app}"), self_heal=True)
        return FakeCatalog(infos, {"repo": interval})

    def targets(self) -> list[TargetInfo]:
        return list(self.infos.values())

    def target(self, target: Target) -> TargetInfo | None:
        return self.infos.get(target)

    def repositories(self) -> Mapping[str, float]:
        return self.intervals


@dataclass
class FakeGit:
    client: Any
    changes: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def head(self, repository: str) -> str:
        head = self.client.get(f"fake:head:{repository}")
        if head is None or head == b"down":
            raise SourceUnavailable(f"git server for {repository} unreachable")
        return str(head.decode())

    def changed_paths(self, repository: str, old: str, new: str) -> frozenset[str]:
        raw = self.client.get(f"fake:changed:{old}:{new}")
        return frozenset(json.loads(raw)) if raw else self.changes.get((old, new), frozenset())


@dataclass
class FakeReconciler:
    client: Any

    def reconcile(self, target: Target, *, trigger: Trigger, prune: bool | None = None,
                  dry_run: bool = False, sync: bool | None = None, force: bool = False,
                  revision: str | None = None) -> Result:
        c, key = self.client, target.key
        started = time.time()
        if c.incr(f"fake:active:{key}") > 1:
            c.incr(f"fake:overlap:{key}")
        try:
            c.incr(f"fake:runs:{key}")
            c.rpush(f"fake:triggers:{key}", str(trigger))
            c.rpush("fake:log", key)
            if c.get(f"fake:hold:{target.application}") is not None:
                c.blpop([f"fake:go:{key}"], timeout=60)
            head = c.get("fake:head:repo")
            if head is None or head == b"down":
                raise SourceUnavailable("git server unreachable: connection refused")
            if c.decr(f"fake:fail:{target.application}") >= 0:
                raise ClusterUnavailable("500 Internal Server Error from the API server", status=500)
            if not dry_run:
                c.set(f"fake:applied:{key}", head)
            c.rpush(f"fake:sync:{key}", str(sync))
            return self._result(target, head.decode(), started)
        finally:
            c.decr(f"fake:active:{key}")

    def _result(self, target: Target, revision: str, started: float) -> Result:
        committed = self.client.get(f"fake:committed:{revision}")
        rendered = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {target.application}\ndata:\n" \
                   f"  revision: {revision}\n"
        finished = time.time()
        middle = started + (finished - started) / 2
        spans = (Span("resolve", started, 0.0, attributes={"revision": revision}),
                 Span("render", started, middle - started, attributes={"objects": "1"}),
                 Span("apply", middle, finished - middle, attributes={"write": "true"}))
        return Result(target, revision, started=started, finished=finished, spans=spans,
                      commit_time=float(committed) if committed else None,
                      manifests_digest=hashlib.sha256(rendered.encode()).hexdigest(), rendered=rendered)

    def hard_refresh(self, target: Target) -> str:
        self.client.incr(f"fake:hard:{target.key}")
        return "dropped the fake snapshot"


def runtime() -> Runtime:
    """The runtime worker subprocesses build (``GITOPS_RUNTIME=worker_fakes:runtime``)."""
    settings = Settings.from_env()
    client = connect(settings.redis_url)  # plain Redis or Sentinel (tests/workers/test_sentinel_workers.py)
    targets = json.loads(os.environ.get("FAKE_TARGETS", "null")) or DEFAULT_TARGETS
    return Runtime(store=RedisStore(client), catalog=FakeCatalog.of(targets), poller=FakeGit(client),
                   reconciler=FakeReconciler(client), settings=settings)
