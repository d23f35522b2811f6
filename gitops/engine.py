"""Reconcile one target: source -> render -> verify -> plan -> apply -> prune -> health.

The one entry point workers/ and the CLI call: ``reconcile(request, ports) -> ReconcileResult``. It
reads like the flow in design.md and holds no logic of its own beyond deciding *whether* to write:
never in detect-only mode or a dry run; on a manual sync request; when automated, when Git asks for
something new (a new revision, an object missing or whose applied hash differs, something to prune;
so a failed sync of a revision is retried) or when self-heal is on (self-heal takes ownership back,
i.e. forces conflicts). Drift by another manager alone is only reported unless self-heal is on.
Every port is a small Protocol (fakes in gitops/testing/), so this module knows nothing of Git,
HTTP, Celery or Redis. Errors never escape: a failed reconcile is a ReconcileResult with ``error``
and ``temporary`` set, so callers decide about retries from one value; once anything was written,
the result keeps every object's outcome. The inventory is written ahead of the first write (old
plus desired) and shrunk after a complete prune, so an interrupted sync never loses track of what
it created.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gitops.errors import GitOpsError, RenderFailed
from gitops.kube import apply as applier
from gitops.kube import diff, prune
from gitops.kube.client import Cluster
from gitops.kube.health import assess
from gitops.kube.manifests import prepare, validate
from gitops.kube.rest import KubeClusters
from gitops.kube.results import FieldDrift, ObjectResult
from gitops.kube.wait import wait_healthy
from gitops.sources import GitSource, RepoSpec
from gitops.sources.remote_bases import RemoteBaseLoader, configured_hosts
from gitops.status import Action, HealthStatus, ObjectRef, SyncStatus, Target, Trigger
from renderers.api import RenderRequest, cluster_parameters
from renderers.api import render as render_manifests
from renderers.errors import RenderError

Manifest = dict[str, Any]
log = logging.getLogger(__name__)


RemoteLoader = Callable[[str], Path]


class Source(Protocol):
    """Git: the commit to reconcile, its read-only files, and a loader for remote Kustomize bases."""

    def resolve(self, repository: Any, revision: str | None) -> str: ...

    def checkout(self, repository: Any, revision: str) -> Path: ...

    def remote_loader(self, repository: Any) -> RemoteLoader | None: ...


class Renderer(Protocol):
    """Manifests of one application at one snapshot (raises RenderError or RenderFailed)."""

    def render(self, root: Path, source: Any, parameters: Mapping[str, Any],
               remote_loader: RemoteLoader | None = None) -> list[Manifest]: ...


class ClusterFactory(Protocol):
    def connect(self, cluster: Any) -> Cluster: ...


class Verifier(Protocol):
    """Image verification hook: raises VerificationFailed to stop the sync."""

    def verify(self, manifests: list[Manifest], target: Target) -> None: ...


class NoVerifier:
    """The default hook: verifies nothing."""

    def verify(self, manifests: list[Manifest], target: Target) -> None:
        return None


@dataclass(frozen=True)
class Ports:
    source: Source
    renderer: Renderer
    clusters: ClusterFactory
    verifier: Verifier = field(default_factory=NoVerifier)


@dataclass(frozen=True)
class ReconcileRequest:
    """One reconcile of ``application`` on ``cluster`` (gitops.config models).

    ``sync``: None lets the sync policy decide, True is a manual sync, False only compares.
    ``previous_revision`` is the revision last synced (from state), used by automated sync.
    ``wait_seconds`` waits for health after the sync; ``wave_timeout`` bounds the wait for each sync
    wave to become healthy before the next one is applied.
    """

    application: Any
    repository: Any
    cluster: Any
    trigger: Trigger = Trigger.POLL
    revision: str | None = None
    previous_revision: str | None = None
    sync: bool | None = None
    dry_run: bool = False
    prune: bool | None = None
    force: bool = False
    allow_mass_delete: bool = False
    wait_seconds: float = 0.0
    wave_timeout: float = 30.0
    propagation: str = "Background"  # how pruned objects' dependants go: Background, Foreground, Orphan

    @property
    def target(self) -> Target:
        return Target(self.application.name, self.cluster.name)


@dataclass(frozen=True)
class ReconcileResult:
    target: Target
    revision: str | None
    sync: SyncStatus
    health: HealthStatus
    objects: list[ObjectResult]
    drift: list[FieldDrift]
    error: str | None
    temporary: bool
    started: datetime
    finished: datetime
    applied: bool = False
    diff: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.key, "revision": self.revision, "sync": str(self.sync),
                "health": str(self.health), "objects": [o.to_dict() for o in self.objects],
                "drift": [d.to_dict() for d in self.drift], "error": self.error,
                "temporary": self.temporary, "started": self.started.isoformat(),
                "finished": self.finished.isoformat(), "applied": self.applied}


def _now() -> datetime:
    return datetime.now(UTC)


def should_write(request: ReconcileRequest, revision: str, planned: _Planned) -> bool:
    """Whether this reconcile may write (see the module docstring)."""
    policy = request.application.sync_policy
    if policy.detect_only or request.dry_run or request.sync is False:
        return False
    if request.sync is True:
        return True
    git_changed = revision != request.previous_revision or planned.plan.desired_changed or bool(
        planned.doomed and planned.do_prune)
    return bool(policy.automated and (policy.self_heal or git_changed))


def render(request: ReconcileRequest, ports: Ports, revision: str) -> list[Manifest]:
    """Snapshot and render; RenderError becomes RenderFailed here, once."""
    app, cluster = request.application, request.cluster
    root = ports.source.checkout(request.repository, revision)
    params = cluster_parameters(cluster=cluster.name, labels=getattr(cluster, "labels", None),
                                application=app.name, namespace=app.destination.namespace,
                                parameters=app.source.parameters)
    try:
        return ports.renderer.render(root, app.source, params, ports.source.remote_loader(request.repository))
    except RenderError as exc:
        # Name files as they are in the repository, not by where its snapshot sits in the cache.
        message = str(exc).replace(f"{root}/", "").replace(str(root), ".")
        raise RenderFailed(message, target=request.target.key, revision=revision) from exc


def _diff_options(request: ReconcileRequest) -> diff.DiffOptions:
    app = request.application
    policy = app.sync_policy
    return diff.DiffOptions(application=app.name, field_manager=policy.field_manager,
                            force=request.force or policy.self_heal, allow_recreate=policy.allow_recreate,
                            ignore=tuple(diff.IgnoreRule.from_config(r) for r in app.ignore_differences))


def _with_health(results: list[ObjectResult], objects: Mapping[diff.RefKey, Manifest], cluster: Cluster,
                 wait_seconds: float, desired: set[diff.RefKey]
                 ) -> tuple[list[ObjectResult], HealthStatus, GitOpsError | None]:
    """Results with their health; a failed wait falls back to the objects already held (and says so)."""
    present = [r for r in results if diff.ref_key(r.ref) in desired]
    healths = {r.ref: assess(objects.get(diff.ref_key(r.ref))) for r in present}
    failure = None
    if wait_seconds > 0:
        try:
            healths = wait_healthy(cluster, [r.ref for r in present], timeout=wait_seconds).health
        except GitOpsError as exc:
            failure = exc
    out = [dataclasses.replace(r, health=healths[r.ref].status) if r.ref in healths else r for r in results]
    return out, HealthStatus.worst(h.status for h in healths.values()), failure


@dataclass(frozen=True)
class _Synced:
    results: list[ObjectResult]
    objects: dict[diff.RefKey, Manifest]
    temporary: bool
    stopped: str | None = None  # why the sync stopped early although nothing failed


def _write_inventory(planned: _Planned, refs: list[ObjectRef], field_manager: str) -> GitOpsError | None:
    """Record ``refs`` as the target's inventory; the error, when that failed."""
    try:
        prune.write_inventory(planned.cluster, planned.target, refs, field_manager)
    except GitOpsError as exc:
        log.warning("inventory of %s not written: %s", planned.target, exc)
        return exc
    return None


def _sync(request: ReconcileRequest, planned: _Planned) -> _Synced:
    """Write the intended inventory, apply the plan, prune, shrink the inventory (the write path).

    The inventory is written ahead: before the first object is written it names the old inventory
    plus every desired object, so objects created by a sync that dies half way (lost connection, OOM,
    time limit) are still known to the next one. Only after a complete sync that pruned does it
    shrink (what prune deleted leaves it). A failed inventory write keeps the per-object results.
    """
    policy, target, cluster = request.application.sync_policy, planned.target, planned.cluster
    inventory, doomed, do_prune = planned.inventory, planned.doomed, planned.do_prune
    desired_refs = [p.ref for p in planned.plan.objects]
    intended = prune.merged(inventory, desired_refs)
    if not planned.plan.failed and intended != planned.recorded:
        failure = _write_inventory(planned, intended, policy.field_manager)
        if failure is not None:  # nothing is written before the inventory names it
            why = "not applied: the inventory could not be written first"
            results = [ObjectResult(r, Action.SKIPPED, why) for r in desired_refs + doomed]
            return _Synced(results, dict(planned.plan.live), failure.temporary,
                           f"inventory write failed: {failure}")
    opts = applier.ApplyOptions(field_manager=policy.field_manager, force=request.force or policy.self_heal,
                                wave_timeout=request.wave_timeout)
    done = applier.apply_plan(cluster, planned.plan, opts)
    results = list(done.results)
    if do_prune and doomed and not done.failed and not done.stopped:
        pruned = prune.prune(cluster, target, doomed, planned.prune_opts)
        results += pruned
        gone = {diff.ref_key(r.ref) for r in pruned if r.action is Action.DELETED}
        kept = [r for r in intended if diff.ref_key(r) not in gone]
        if kept != intended:
            failure = _write_inventory(planned, kept, policy.field_manager)
            if failure is not None:  # the inventory written ahead still names every object: retry
                return _Synced(results, done.objects, True, f"inventory write failed: {failure}")
    elif doomed:
        why = "requires pruning (prune disabled)" if not do_prune else "not pruned: the sync did not finish"
        results += [ObjectResult(r, Action.SKIPPED, why) for r in doomed]
    return _Synced(results, done.objects, done.temporary, done.stopped)


def _compare_only(planned: _Planned, dry_run: bool) -> list[ObjectResult]:
    """Results without writing: the plan, plus what prune would do (ownership checked) or skip."""
    results = applier.preview(planned.plan, dry_run=dry_run)
    if dry_run and planned.do_prune:
        return results + prune.prune(planned.cluster, planned.target, planned.doomed, planned.prune_opts)
    return results + [ObjectResult(r, Action.SKIPPED, "requires pruning") for r in planned.doomed]


@dataclass(frozen=True)
class _Planned:
    target: Target
    cluster: Cluster
    plan: diff.Plan
    inventory: list[ObjectRef] | None  # as recorded, or recovered from ownership marks when missing
    doomed: list[ObjectRef]
    prune_opts: prune.PruneOptions
    do_prune: bool
    recorded: list[ObjectRef] | None = None  # the inventory ConfigMap's content (None: missing)


def plan_target(request: ReconcileRequest, ports: Ports, revision: str) -> _Planned:
    """Render, verify, connect, plan and check the prune guard (reads only)."""
    target, policy = request.target, request.application.sync_policy
    manifests = validate(render(request, ports, revision), source=request.application.source.path or ".")
    ports.verifier.verify(manifests, target)
    cluster = ports.clusters.connect(request.cluster)
    desired = prepare(manifests, cluster, target, request.application.destination.namespace)
    the_plan = diff.plan(cluster, desired, _diff_options(request))
    do_prune = request.prune if request.prune is not None else policy.prune
    recorded = inventory = prune.read_inventory(cluster, target)
    if recorded is None:  # lost, or a new target: find what carries our marks
        namespaces = {p.ref.namespace for p in the_plan.objects} | {request.application.destination.namespace}
        inventory = prune.recover(cluster, target, the_plan.live.values(), {n for n in namespaces if n})
    doomed = prune.candidates(inventory, [p.ref for p in the_plan.objects])
    opts = prune.PruneOptions(policy.prune_max_share, policy.allow_empty, request.allow_mass_delete,
                              propagation=request.propagation, dry_run=request.dry_run)
    if do_prune:
        prune.guard(inventory, [p.ref for p in the_plan.objects], doomed, opts, target)
    return _Planned(target, cluster, the_plan, inventory, doomed, opts, do_prune, recorded)


def _execute(request: ReconcileRequest, planned: _Planned, write: bool) -> _Synced:
    if not write:
        return _Synced(_compare_only(planned, request.dry_run), planned.plan.live, False)
    return _sync(request, planned)


def _finish(request: ReconcileRequest, revision: str, planned: _Planned, synced: _Synced, write: bool,
            started: datetime) -> ReconcileResult:
    desired = {diff.ref_key(p.ref) for p in planned.plan.objects}
    results, health, unhealthy = _with_health(synced.results, synced.objects, planned.cluster,
                                              request.wait_seconds if write else 0.0, desired)
    failed = [r for r in results if r.action is Action.FAILED]
    pruned = not planned.doomed or (write and planned.do_prune)
    in_sync = not failed and not synced.stopped and (write or planned.plan.in_sync) and pruned
    errors = [f"{len(failed)} object(s) failed; first {failed[0].ref}: {failed[0].error}" if failed else "",
              synced.stopped or "", f"waiting for health failed: {unhealthy}" if unhealthy else ""]
    error = "; ".join(e for e in errors if e) or None
    temporary = synced.temporary or bool(unhealthy and unhealthy.temporary)
    changed = sum(1 for r in results if r.action not in (Action.UNCHANGED, Action.SKIPPED))
    log.info("reconciled %s at %s: %s, %s, %d object(s) %s", request.target, revision[:12],
             "synced" if in_sync else "out of sync", health, changed, "changed" if write else "would change")
    return ReconcileResult(request.target, revision, SyncStatus.SYNCED if in_sync else SyncStatus.OUT_OF_SYNC,
                           health, results, planned.plan.drift, error, temporary, started, _now(),
                           write, planned.plan.unified_diff())


def reconcile(request: ReconcileRequest, ports: Ports) -> ReconcileResult:
    """Run the flow once for one target; never raises GitOpsError (it is in the result)."""
    started, revision = _now(), None
    try:
        revision = ports.source.resolve(request.repository, request.revision
                                        or request.application.source.revision)
        planned = plan_target(request, ports, revision)
        write = should_write(request, revision, planned)
        return _finish(request, revision, planned, _execute(request, planned, write), write, started)
    except GitOpsError as exc:
        log.info("reconcile of %s failed: %s", request.target, exc)
        return ReconcileResult(request.target, revision, SyncStatus.UNKNOWN, HealthStatus.UNKNOWN, [], [],
                               str(exc), exc.temporary, started, _now())


# -- default adapters: Git, the renderers, real clusters ------------------------------------------
class GitSourcePort:
    """The Source port over gitops.sources.GitSource. ``repositories`` (the configured ones) give the
    default allow-list of hosts for Kustomize remote bases."""

    def __init__(self, git: GitSource, repositories: Iterable[Any] = ()) -> None:
        self.git = git
        self.remote_base_hosts = configured_hosts(repositories)

    def resolve(self, repository: Any, revision: str | None) -> str:
        spec = RepoSpec.from_config(repository)
        if revision is None:
            return self.git.head(spec)
        return self.git.snapshot(spec, revision).revision

    def checkout(self, repository: Any, revision: str) -> Path:
        return self.git.snapshot(RepoSpec.from_config(repository), revision).path

    def remote_loader(self, repository: Any) -> RemoteLoader:
        return RemoteBaseLoader(self.git, RepoSpec.from_config(repository),
                                default_hosts=self.remote_base_hosts)


class RenderersPort:
    """The Renderer port over renderers.api.render."""

    def render(self, root: Path, source: Any, parameters: Mapping[str, Any],
               remote_loader: RemoteLoader | None = None) -> list[Manifest]:
        budget = getattr(source, "budget", None)  # the application's render budget (config: source.budget)
        return render_manifests(RenderRequest(root=root, path=source.path, renderer=str(source.renderer),
                                              options=dict(source.options or {}), parameters=parameters,
                                              remote_loader=remote_loader,
                                              budget=budget.to_budget() if budget is not None else None))


def default_ports(cache_dir: Path, verifier: Verifier | None = None,
                  repositories: Iterable[Any] = ()) -> Ports:
    """Real ports: Git under ``cache_dir``, the renderers, clusters over HTTP; ``repositories`` (the
    configured ones) give the default allow-list for Kustomize remote bases."""
    return Ports(GitSourcePort(GitSource(cache_dir), repositories), RenderersPort(), KubeClusters(),
                 verifier or NoVerifier())
