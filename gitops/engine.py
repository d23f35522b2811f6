"""Reconcile one target: source -> render -> verify -> plan -> apply -> prune -> health.

The one entry point workers/ and the CLI call: ``reconcile(request, ports) -> ReconcileResult``.
:func:`reconcile` below is the whole algorithm; each line is one port call or one stage of the
pipeline, a package of its own (gitops.sources behind the Source port, gitops.render,
gitops.verify, gitops.plan, gitops.apply, gitops.prune, gitops.health; clusters through
gitops.cluster), and :mod:`gitops.outcome` derives what is reported. The
only decision made here is *whether* to write (:func:`should_write`): never in detect-only mode or a
dry run; on a manual sync request; when automated, when Git asks for something new (a new revision,
an object missing or whose applied hash differs, something to prune; so a failed sync of a revision
is retried) or when self-heal is on (self-heal takes ownership back, i.e. forces conflicts). Drift by
another manager alone is only reported unless self-heal is on.

Inputs are typed values (:mod:`gitops.domain`, converted from the configuration once); every port
is a small Protocol over them, defined by the stage it serves (Source here, Renderer in
gitops.render, ClusterFactory in gitops.cluster, Verifier in gitops.verify; fakes in
gitops/testing/, production adapters in gitops/adapters.py,
which this module never imports: importing the engine loads neither pygit2 nor kubernetes). Errors
never escape: a failed reconcile is a ReconcileResult whose ``failure`` (a gitops.errors.Failure)
says what kind of error it was, whether a retry can help and after how long the cluster asked us to
retry; once anything was written, the result keeps every object's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gitops import apply as applier
from gitops import domain, outcome, prune, verify
from gitops import plan as planner
from gitops import render as rendering
from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.cluster import Cluster, ClusterFactory
from gitops.errors import Failure, GitOpsError
from gitops.health import Health
from gitops.health.wait import wait_healthy
from gitops.outcome import Trace
from gitops.plan import RefKey
from gitops.render import RemoteLoader, Renderer
from gitops.render.manifests import prepare, validate
from gitops.results import FieldDrift, ImageCheck, ObjectResult, Span
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus, Target, Trigger
from renderers.manifest import Manifest

log = logging.getLogger(__name__)


def reconcile(request: ReconcileRequest, ports: Ports) -> ReconcileResult:
    """Run the flow once for one target; never raises GitOpsError (it is in the result)."""
    app, target, trace, seen = request.application, request.target, Trace(ports.clock), Seen()
    started = trace.now()
    try:
        with trace("resolve") as span:
            revision = ports.source.resolve(request.repository, request.revision or app.source.revision)
            seen.revision = span["revision"] = revision
        with trace("render") as span:
            manifests = validate(render(request, ports, revision), source=app.source.path or ".")
            seen.rendered_from(manifests, ports.source.commit_time(request.repository, revision))
            span["objects"] = str(len(manifests))
        with trace("verify") as span:
            checked = verify_images(ports.verifier, manifests, target, seen)
            if checked is not None:
                span["images"] = str(checked.images)
                if checked.manifests is not None:  # images pinned to the digests that were verified
                    manifests, span["pinned"] = checked.manifests, "true"
                if checked.warnings:  # mode: warn: recorded, never stopping the sync
                    span["warnings"] = "; ".join(checked.warnings)[:2000]
                    log.warning("verification of %s: %s", target, span["warnings"])
        with trace("plan") as span:
            cluster = ports.clusters.connect(request.cluster)
            desired = prepare(manifests, cluster, target, app.destination.namespace)
            plan = planner.plan(cluster, desired, diff_options(request))
            pruning = prune.plan(cluster, target, plan, prune_options(request),
                                 enabled=prune_enabled(request), namespace=app.destination.namespace)
            span.update(drift=str(len(plan.drift)), prune=str(len(pruning.doomed)))
        write = should_write(request, revision, plan, pruning)
        with trace("apply") as span:  # or compare only; prune included
            synced = sync(request, cluster, plan, pruning) if write else compare(cluster, plan, pruning)
            span.update(write=str(write).lower(), changed=str(changed(synced.results)))
        with trace("health"):
            healths, unhealthy = health(cluster, plan, synced, request.wait_seconds if write else 0.0)
        return report(request, revision, plan, pruning, synced, healths, unhealthy, write, started, trace,
                      seen)
    except GitOpsError as exc:
        log.info("reconcile of %s failed: %s", target, exc)
        return ReconcileResult(target, seen.revision, SyncStatus.UNKNOWN, HealthStatus.UNKNOWN, [], [],
                               Failure.of(exc), started, trace.now(), **seen.recorded(trace))


# -- the ports ------------------------------------------------------------------------------------
class Source(Protocol):
    """Git: the commit to reconcile, its read-only files, and a loader for remote Kustomize bases."""

    def resolve(self, repository: domain.Repository, revision: str | None) -> str: ...

    def checkout(self, repository: domain.Repository, revision: str) -> Path: ...

    def remote_loader(self, repository: domain.Repository) -> RemoteLoader | None: ...

    def commit_time(self, repository: domain.Repository, revision: str) -> float | None:
        """The committer time of ``revision`` (epoch seconds) once it was checked out; None if unknown."""


@dataclass(frozen=True)
class Ports:
    """The engine's ports: Git (:class:`Source`), the renderers (:class:`gitops.render.Renderer`),
    clusters (:class:`gitops.cluster.ClusterFactory`), image verification
    (:class:`gitops.verify.Verifier`, none by default) and the clock the trace is timed on."""

    source: Source
    renderer: Renderer
    clusters: ClusterFactory
    verifier: verify.Verifier = field(default_factory=verify.NoVerifier)
    clock: Clock = SYSTEM_CLOCK


# -- request and result ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReconcileRequest:
    """One reconcile of ``application`` on ``cluster`` (gitops.domain values; ``Fleet.lookup`` gives
    the three).

    ``sync``: None lets the sync policy decide, True is a manual sync, False only compares.
    ``previous_revision`` is the revision last synced (from state), used by automated sync.
    ``wait_seconds`` waits for health after the sync; ``wave_timeout`` bounds the wait for each sync
    wave to become healthy before the next one is applied.
    """

    application: domain.Application
    repository: domain.Repository
    cluster: domain.Cluster
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
    """What one reconcile did; ``failure`` is None when it completed (``error`` and ``temporary``
    read it)."""

    target: Target
    revision: str | None
    sync: SyncStatus
    health: HealthStatus
    objects: list[ObjectResult]
    drift: list[FieldDrift]
    failure: Failure | None
    started: datetime
    finished: datetime
    applied: bool = False
    diff: str = ""
    spans: tuple[Span, ...] = ()          # the trace: one per stage that ran, in order
    commit_time: float | None = None      # committer time of ``revision`` (epoch seconds)
    manifests_digest: str = ""            # sha256 of the rendered, validated manifests ("" if none)
    rendered: str = ""                    # those manifests as YAML, Secret values masked, bounded
    rendered_truncated: bool = False      # documents were left out of ``rendered`` (over its bound)
    corrected: tuple[FieldDrift, ...] = ()  # drift found before the write that the write undid
    verification: tuple[ImageCheck, ...] | None = None  # the verdict per image (None: not verified)

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure is not None else None

    @property
    def temporary(self) -> bool:
        return self.failure is not None and self.failure.temporary

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.key, "revision": self.revision, "sync": str(self.sync),
                "health": str(self.health), "objects": [o.to_dict() for o in self.objects],
                "drift": [d.to_dict() for d in self.drift], "error": self.error,
                "temporary": self.temporary, "started": self.started.isoformat(),
                "finished": self.finished.isoformat(), "applied": self.applied,
                "spans": [s.to_dict() for s in self.spans], "commit_time": self.commit_time,
                "manifests_digest": self.manifests_digest,
                "verification": None if self.verification is None
                else [c.to_dict() for c in self.verification]}


@dataclass
class Seen:
    """What the stages found so far, kept for the result even when a later stage fails."""

    revision: str | None = None
    commit_time: float | None = None
    rendered: outcome.Rendered = field(default_factory=outcome.Rendered)
    verification: tuple[ImageCheck, ...] | None = None  # None: no policy verified this target

    def rendered_from(self, manifests: list[Manifest], commit_time: float | None) -> None:
        self.commit_time, self.rendered = commit_time, outcome.rendered(manifests)

    def recorded(self, trace: Trace) -> dict[str, Any]:
        """The result's trace fields (keyword arguments of :class:`ReconcileResult`)."""
        return {"spans": tuple(trace.spans), "commit_time": self.commit_time,
                "manifests_digest": self.rendered.digest, "rendered": self.rendered.text,
                "rendered_truncated": self.rendered.truncated, "verification": self.verification}


# -- the steps ------------------------------------------------------------------------------------
def verify_images(verifier: verify.Verifier, manifests: list[Manifest], target: Target,
                  seen: Seen) -> verify.Verification | None:
    """The verifier's verdicts, kept in ``seen`` whether they let the sync go on or stop it (raised)."""
    checked = verifier.verify(manifests, target)
    seen.verification = checked.checks if checked is not None else None
    if checked is not None and checked.failure is not None:
        raise checked.failure
    return checked


def changed(results: list[ObjectResult]) -> int:
    return sum(1 for r in results if r.action not in (Action.UNCHANGED, Action.SKIPPED))


def render(request: ReconcileRequest, ports: Ports, revision: str) -> list[Manifest]:
    """Snapshot and render (:func:`gitops.render.render`: RenderError becomes a redacted RenderFailed
    there)."""
    root = ports.source.checkout(request.repository, revision)
    return rendering.render(ports.renderer, root, request.application, request.cluster, revision=revision,
                            remote_loader=ports.source.remote_loader(request.repository))


def diff_options(request: ReconcileRequest) -> planner.DiffOptions:
    app = request.application
    policy = app.sync_policy
    return planner.DiffOptions(application=app.name, field_manager=policy.field_manager,
                            force=request.force or policy.self_heal, allow_recreate=policy.allow_recreate,
                            ignore=app.ignore_differences)


def prune_enabled(request: ReconcileRequest) -> bool:
    return request.prune if request.prune is not None else request.application.sync_policy.prune


def prune_options(request: ReconcileRequest) -> prune.PruneOptions:
    policy = request.application.sync_policy
    return prune.PruneOptions(policy.prune_max_share, policy.allow_empty, request.allow_mass_delete,
                              propagation=request.propagation, dry_run=request.dry_run)


def should_write(request: ReconcileRequest, revision: str, plan: planner.Plan,
                 pruning: prune.PrunePlan) -> bool:
    """Whether this reconcile may write (see the module docstring)."""
    policy = request.application.sync_policy
    if policy.detect_only or request.dry_run or request.sync is False:
        return False
    if request.sync is True:
        return True
    git_changed = revision != request.previous_revision or plan.desired_changed or bool(
        pruning.doomed and pruning.enabled)
    return bool(policy.automated and (policy.self_heal or git_changed))


@dataclass(frozen=True)
class Synced:
    """What the write (or compare-only) path did."""

    results: list[ObjectResult]
    objects: Mapping[RefKey, Manifest]  # the latest live objects known
    temporary: bool = False
    stopped: str | None = None  # why the sync stopped early although nothing failed
    retry_after: float | None = None  # the cluster's retry hint, when a temporary error stopped it


def sync(request: ReconcileRequest, cluster: Cluster, plan: planner.Plan, pruning: prune.PrunePlan) -> Synced:
    """Write the intended inventory, apply the plan, prune and shrink the inventory (the write path).

    Nothing is applied before the inventory names it (a sync that dies half way never loses track of
    what it created); a failed inventory write keeps the per-object results.
    """
    policy = request.application.sync_policy
    ahead = None if plan.failed else prune.write_ahead(cluster, pruning, policy.field_manager)
    if ahead is not None:
        why = "not applied: the inventory could not be written first"
        skipped = [ObjectResult(r, Action.SKIPPED, why) for r in pruning.desired + pruning.doomed]
        return Synced(skipped, plan.live, ahead.temporary, f"inventory write failed: {ahead}",
                      ahead.retry_after)
    done = applier.apply_plan(cluster, plan, applier.ApplyOptions(
        field_manager=policy.field_manager, force=request.force or policy.self_heal,
        wave_timeout=request.wave_timeout))
    pruned = prune.execute(cluster, pruning, complete=not done.failed and not done.stopped,
                           field_manager=policy.field_manager)
    results = list(done.results) + pruned.results
    if pruned.failure is not None:  # the inventory written ahead still names every object: retry
        return Synced(results, done.objects, True, f"inventory write failed: {pruned.failure}",
                      pruned.failure.retry_after)
    return Synced(results, done.objects, done.temporary, done.stopped, done.retry_after)


def compare(cluster: Cluster, plan: planner.Plan, pruning: prune.PrunePlan) -> Synced:
    """Without writing: the plan, plus what prune would do (ownership checked) or skip."""
    previews = applier.preview(plan, dry_run=pruning.options.dry_run)
    return Synced(previews + prune.preview(cluster, pruning), plan.live)


def health(cluster: Cluster, plan: planner.Plan, synced: Synced, wait_seconds: float
           ) -> tuple[dict[ObjectRef, Health], GitOpsError | None]:
    """Each desired object's health: judged from the objects held, or waited for (bounded) when asked;
    a failed wait falls back to the objects held and is returned."""
    refs = outcome.desired_refs(synced.results, plan)
    held = outcome.held_health(refs, synced.objects)
    if wait_seconds <= 0:
        return held, None
    try:
        return wait_healthy(cluster, refs, timeout=wait_seconds).health, None
    except GitOpsError as exc:
        return held, exc


def report(request: ReconcileRequest, revision: str, plan: planner.Plan, pruning: prune.PrunePlan,
           synced: Synced, healths: Mapping[ObjectRef, Health], unhealthy: GitOpsError | None, wrote: bool,
           started: datetime, trace: Trace, seen: Seen) -> ReconcileResult:
    results = outcome.with_health(synced.results, healths)
    sync_status = outcome.sync_status(
        results, wrote=wrote, stopped=synced.stopped, plan_in_sync=plan.in_sync,
        prune_pending=bool(pruning.doomed) and not (wrote and pruning.enabled))
    failure = outcome.failure(results, stopped=synced.stopped, unhealthy=unhealthy,
                              temporary=synced.temporary, retry_after=synced.retry_after)
    target_health = outcome.target_health(healths)
    log.info("reconciled %s at %s: %s, %s, %d object(s) %s", request.target, revision[:12], sync_status,
             target_health, changed(results), "changed" if wrote else "would change")
    remaining, corrected = outcome.split_drift(plan.drift, results, wrote=wrote)
    return ReconcileResult(request.target, revision, sync_status, target_health, results, remaining,
                           failure, started, trace.now(), wrote, plan.unified_diff(),
                           corrected=tuple(corrected), **seen.recorded(trace))
