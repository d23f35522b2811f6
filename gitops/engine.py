"""Reconcile one target: source -> render -> verify -> plan -> apply -> prune -> health (-> hooks);
delete one (:func:`delete`, ``gitops delete``).

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

Sync hooks (gitops.hooks, docs/hooks.md) are split from the rendered objects before anything is
planned; they run only on the write path, in this order: PreSync hooks (a failure stops the sync
before anything is written), the inventory written ahead, the apply, Sync hooks, the prune, the
health wait (extended to the PostSync hooks' timeout), PostSync hooks once the target is Healthy, and
SyncFail hooks when any of these failed. :func:`delete` runs PreDelete hooks, deletes the inventory's
objects as prune does, then runs PostDelete hooks.

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

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gitops import apply as applier
from gitops import domain, outcome, prune, verify
from gitops import hooks as hooking
from gitops import plan as planner
from gitops import render as rendering
from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.cluster import Cluster, ClusterFactory
from gitops.errors import Failure, GitOpsError
from gitops.health import Health, Rules, rules_for
from gitops.health.wait import wait_healthy
from gitops.hooks import Hook, Phase
from gitops.hooks.runner import PhaseResult, Runner, RunOptions
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
        revision, manifests, hooked = resolve_and_render(request, ports, trace, seen)
        manifests, hooked = verified(ports.verifier, manifests, hooked, target, trace, seen)
        with trace("plan") as span:
            cluster = ports.clusters.connect(request.cluster)
            desired = prepare(manifests, cluster, target, app.destination.namespace)
            hooks = hooking.prepare(hooked.hooks, cluster, target, app.destination.namespace)
            plan = planner.plan(cluster, desired, diff_options(request))
            pruning = prune.plan(cluster, target, plan, prune_options(request),
                                 enabled=prune_enabled(request), namespace=app.destination.namespace)
            span.update(drift=str(len(plan.drift)), prune=str(len(pruning.doomed)))
        write = should_write(request, revision, plan, pruning)
        runner = hook_runner(request, ports, cluster, hooks, revision, plan, pruning, write=write)
        with trace("apply") as span:  # or compare only; PreSync hooks before, Sync hooks and prune after
            synced = (sync(request, cluster, plan, pruning, runner) if write
                      else compare(cluster, plan, pruning, runner))
            span.update(write=str(write).lower(), changed=str(changed(synced.results)))
        with trace("health"):
            healths, unhealthy = health(cluster, plan, synced, health_wait(request, write, runner, synced),
                                        rules_for(app.health_checks))
        if runner is not None and runner.active:
            with trace("hooks"):  # PostSync once healthy; SyncFail when the sync failed
                synced = after_sync(runner, synced, healths, unhealthy)
        return report(request, revision, plan, pruning, synced, healths, unhealthy, write, started, trace,
                      seen)
    except GitOpsError as exc:
        log.info("reconcile of %s failed: %s", target, exc)
        return ReconcileResult(target, seen.revision, SyncStatus.UNKNOWN, HealthStatus.UNKNOWN, [], [],
                               Failure.of(exc), started, trace.now(), **seen.recorded(trace))


def delete(request: ReconcileRequest, ports: Ports) -> ReconcileResult:
    """Delete the application from its cluster (``gitops delete``); never raises GitOpsError.

    Renders the current revision to find its PreDelete and PostDelete hooks, runs the PreDelete hooks (a
    failure stops the deletion: nothing is deleted), deletes every object of the target's inventory
    (recovered from the ownership marks when it is missing) that still carries our ownership mark,
    dependants first, as prune does (the mass-delete guard does not apply: the user asked for it),
    waits until they are gone (bounded), runs the PostDelete hooks, then removes the inventory. A dry
    run (``request.dry_run``) only reports what would be deleted.
    """
    app, target, trace, seen = request.application, request.target, Trace(ports.clock), Seen()
    started = trace.now()
    try:
        revision, manifests, hooked = resolve_and_render(request, ports, trace, seen)
        _, hooked = verified(ports.verifier, [], hooked, target, trace, seen)  # only the hooks will run
        with trace("plan") as span:
            cluster = ports.clusters.connect(request.cluster)
            hooks = hooking.prepare(hooked.hooks, cluster, target, app.destination.namespace)
            desired = prepare(manifests, cluster, target, app.destination.namespace)
            doomed = inventory_of(cluster, target, desired)
            span["delete"] = str(len(doomed))
        runner = Runner(cluster, hooks, RunOptions(app.sync_policy.field_manager, ports.clock,
                                                   rules=rules_for(app.health_checks)),
                        active=not request.dry_run)
        with trace("delete"):
            removed = remove(request, ports, cluster, doomed, runner)
        failure = outcome.failure(removed.results, stopped=removed.stopped, unhealthy=None,
                                  temporary=removed.temporary, retry_after=removed.retry_after)
        return ReconcileResult(target, revision, SyncStatus.UNKNOWN if failure else SyncStatus.OUT_OF_SYNC,
                               HealthStatus.UNKNOWN if failure else HealthStatus.MISSING, removed.results, [],
                               failure, started, trace.now(), applied=not request.dry_run,
                               **seen.recorded(trace))
    except GitOpsError as exc:
        log.info("deletion of %s failed: %s", target, exc)
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


def resolve_and_render(request: ReconcileRequest, ports: Ports, trace: Trace, seen: Seen
                       ) -> tuple[str, list[Manifest], hooking.Split]:
    """The first two stages of a reconcile and of a deletion: the revision, its regular objects and
    its hooks."""
    with trace("resolve") as span:
        wanted = request.revision or request.application.source.revision
        revision = ports.source.resolve(request.repository, wanted)
        seen.revision = span["revision"] = revision
    with trace("render") as span:
        manifests, hooked = rendered(request, ports, revision, seen)
        span["objects"] = str(len(manifests))
    return revision, manifests, hooked


def verified(verifier: verify.Verifier, manifests: list[Manifest], hooked: hooking.Split, target: Target,
             trace: Trace, seen: Seen) -> tuple[list[Manifest], hooking.Split]:
    """The verify stage over the regular objects and the hooks (a deletion passes no regular object:
    only its hooks run); the verifier's copies pinned to the digests it verified, when it pins."""
    with trace("verify") as span:
        checked = verify_images(verifier, manifests + hooked.manifests(), target, seen)
        if checked is None:
            return manifests, hooked
        span["images"] = str(checked.images)
        if checked.warnings:  # mode: warn: recorded, never stopping the sync
            span["warnings"] = "; ".join(checked.warnings)[:2000]
            log.warning("verification of %s: %s", target, span["warnings"])
        if checked.manifests is None:
            return manifests, hooked
        span["pinned"] = "true"
        return pinned(checked.manifests, hooked)


def rendered(request: ReconcileRequest, ports: Ports, revision: str,
             seen: Seen) -> tuple[list[Manifest], hooking.Split]:
    """Render, separate the hooks (gitops.hooks.split: a bad hook annotation fails the render) and
    validate the regular objects; ``seen`` keeps the digest of both."""
    where = request.application.source.path or "."
    hooked = hooking.split(render(request, ports, revision), source=where)
    manifests = validate(hooked.regular, source=where)
    seen.rendered_from(manifests + hooked.manifests(),
                       ports.source.commit_time(request.repository, revision))
    return manifests, hooked


def pinned(verified: list[Manifest], hooked: hooking.Split) -> tuple[list[Manifest], hooking.Split]:
    """The verifier's pinned copies of the regular objects then the hooks, split back (same order)."""
    cut = len(verified) - len(hooked.hooks)
    hooks = [dataclasses.replace(h, manifest=m) for h, m in zip(hooked.hooks, verified[cut:], strict=True)]
    return verified[:cut], dataclasses.replace(hooked, hooks=hooks)


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


def hooks_due(request: ReconcileRequest, revision: str, plan: planner.Plan, pruning: prune.PrunePlan) -> bool:
    """Whether a writing reconcile runs the hooks: a manual sync, a new revision, or something to
    apply or prune; never a self-heal pass that finds the target in sync (hooks are not re-run on
    every poll)."""
    return (request.sync is True or revision != request.previous_revision or not plan.in_sync
            or bool(pruning.doomed and pruning.enabled))


def hook_runner(request: ReconcileRequest, ports: Ports, cluster: Cluster, hooks: list[Hook], revision: str,
                plan: planner.Plan, pruning: prune.PrunePlan, *, write: bool) -> Runner | None:
    """The target's hooks on ``cluster`` (None without hooks), active when this reconcile writes and
    :func:`hooks_due`; only an active runner runs hooks (an inactive one lists them for a dry run)."""
    if not hooks:
        return None
    opts = RunOptions(request.application.sync_policy.field_manager, ports.clock,
                      rules=rules_for(request.application.health_checks))
    return Runner(cluster, hooks, opts, active=write and hooks_due(request, revision, plan, pruning))


@dataclass(frozen=True)
class Synced:
    """What the write (or compare-only) path did."""

    results: list[ObjectResult]
    objects: Mapping[RefKey, Manifest]  # the latest live objects known
    temporary: bool = False
    stopped: str | None = None  # why the sync stopped early although nothing failed
    retry_after: float | None = None  # the cluster's retry hint, when a temporary error stopped it


def sync(request: ReconcileRequest, cluster: Cluster, plan: planner.Plan, pruning: prune.PrunePlan,
         runner: Runner | None = None) -> Synced:
    """Run the PreSync hooks, write the intended inventory, apply the plan, run the Sync hooks, prune
    and shrink the inventory (the write path).

    A failed PreSync hook stops the sync before anything else is written. Nothing is applied before the
    inventory names it (a sync that dies half way never loses track of what it created); a failed
    inventory write keeps the per-object results. Sync hooks run after every wave of the regular
    objects was applied, before the prune (which a failed Sync hook holds back).
    """
    policy = request.application.sync_policy
    hooks = runner if runner is not None and runner.active else None
    before = hooks.run(Phase.PRE_SYNC) if hooks is not None else PhaseResult(Phase.PRE_SYNC, [])
    if hooks is not None and not before.ok:
        why = f"not applied: {before.failure}"
        skipped = [ObjectResult(r, Action.SKIPPED, why) for r in pruning.desired + pruning.doomed]
        return Synced(before.results + skipped + hooks.skipped(Phase.SYNC, "a PreSync hook failed"),
                      plan.live, before.temporary, before.failure, before.retry_after)
    ran = before.results
    ahead = None if plan.failed else prune.write_ahead(cluster, pruning, policy.field_manager)
    if ahead is not None:
        why = "not applied: the inventory could not be written first"
        skipped = [ObjectResult(r, Action.SKIPPED, why) for r in pruning.desired + pruning.doomed]
        return Synced(ran + skipped, plan.live, ahead.temporary, f"inventory write failed: {ahead}",
                      ahead.retry_after)
    done = applier.apply_plan(cluster, plan, applier.ApplyOptions(
        field_manager=policy.field_manager, force=request.force or policy.self_heal,
        wave_timeout=request.wave_timeout, rules=rules_for(request.application.health_checks)))
    applied = not done.failed and not done.stopped
    during = during_sync(hooks, applied)
    pruned = prune.execute(cluster, pruning, complete=applied and (during is None or during.ok),
                           field_manager=policy.field_manager)
    results = ran + list(done.results) + (during.results if during is not None else []) + pruned.results
    if pruned.failure is not None:  # the inventory written ahead still names every object: retry
        return Synced(results, done.objects, True, f"inventory write failed: {pruned.failure}",
                      pruned.failure.retry_after)
    if during is not None and not during.ok:
        return Synced(results, done.objects, during.temporary, during.failure, during.retry_after)
    return Synced(results, done.objects, done.temporary, done.stopped, done.retry_after)


def during_sync(runner: Runner | None, applied: bool) -> PhaseResult | None:
    """The Sync hooks, run once the regular objects were applied (reported not run otherwise)."""
    if runner is None:
        return None
    if not applied:
        return PhaseResult(Phase.SYNC, runner.skipped(Phase.SYNC, "the apply did not complete"))
    return runner.run(Phase.SYNC)


def compare(cluster: Cluster, plan: planner.Plan, pruning: prune.PrunePlan,
            runner: Runner | None = None) -> Synced:
    """Without writing: the plan, plus what prune would do (ownership checked) or skip; on a dry run,
    the hooks a sync would run, reported as not run (a sync with hooks is never a no-op). A compare
    that is not a dry run (``gitops diff``, detect-only, a hold) lists no hook: hooks never drift."""
    previews = applier.preview(plan, dry_run=pruning.options.dry_run)
    not_run = []
    if runner is not None and pruning.options.dry_run:
        not_run = [r for phase in (Phase.PRE_SYNC, Phase.SYNC, Phase.POST_SYNC)
                   for r in runner.skipped(phase, "dry run")]
    return Synced(previews + prune.preview(cluster, pruning) + not_run, plan.live)


def health_wait(request: ReconcileRequest, write: bool, runner: Runner | None, synced: Synced) -> float:
    """Seconds to wait for health: what the request asks on the write path, and, when PostSync hooks
    are to run after a sync that went through, at least the longest of their timeouts."""
    if not write:
        return 0.0
    post = runner.of(Phase.POST_SYNC) if runner is not None and runner.active else []
    if not post or synced.stopped or any(r.action is Action.FAILED for r in synced.results):
        return request.wait_seconds
    return max(request.wait_seconds, max(h.timeout for h in post))


def after_sync(runner: Runner, synced: Synced, healths: Mapping[ObjectRef, Health],
               unhealthy: GitOpsError | None) -> Synced:
    """PostSync hooks once the target is Healthy; SyncFail hooks when the sync failed at any point
    (PreSync, apply, Sync hooks, the health wait, PostSync); the result stays failed."""
    results, stopped = list(synced.results), synced.stopped
    failed = bool(stopped or unhealthy or any(r.action is Action.FAILED for r in results))
    status = outcome.target_health(healths)
    if failed:
        results += runner.skipped(Phase.POST_SYNC, "the sync failed")
    elif runner.of(Phase.POST_SYNC) and status is not HealthStatus.HEALTHY:
        failed, stopped = True, f"PostSync hooks not run: the target is {status}, not Healthy"
        results += runner.skipped(Phase.POST_SYNC, f"the target is {status}")
    else:
        post = runner.run(Phase.POST_SYNC)
        results += post.results
        failed, stopped = not post.ok, post.failure
    if failed:
        on_fail = runner.run(Phase.SYNC_FAIL)
        results += on_fail.results
        stopped = "; ".join(p for p in (stopped, on_fail.failure) if p) or None
    else:
        results += runner.skipped(Phase.SYNC_FAIL, "the sync succeeded")
    return dataclasses.replace(synced, results=results, stopped=stopped)


def inventory_of(cluster: Cluster, target: Target, desired: list[Manifest]) -> list[ObjectRef]:
    """What a deletion deletes: the recorded inventory, else what carries the target's ownership marks
    (the desired objects read first decide whether more must be listed, as prune's recovery does)."""
    recorded = prune.read_inventory(cluster, target)
    if recorded is not None:
        return recorded
    live = [obj for obj in (cluster.get(ObjectRef.of(m)) for m in desired) if obj is not None]
    namespaces = {ObjectRef.of(m).namespace for m in desired}
    return prune.recover(cluster, target, live, namespaces) or []


def remove(request: ReconcileRequest, ports: Ports, cluster: Cluster, doomed: list[ObjectRef],
           runner: Runner) -> Synced:
    """PreDelete hooks, the deletion (dependants first, ownership checked), the wait until the objects
    are gone, PostDelete hooks, the inventory removed; each step only when the one before succeeded."""
    before = runner.run(Phase.PRE_DELETE) if runner.active else None
    if before is not None and not before.ok:
        skipped = [ObjectResult(r, Action.SKIPPED, f"not deleted: {before.failure}") for r in doomed]
        return Synced(before.results + skipped + runner.skipped(Phase.POST_DELETE, "a PreDelete hook failed"),
                      {}, before.temporary, before.failure, before.retry_after)
    ran = before.results if before is not None else runner.skipped(Phase.PRE_DELETE, "dry run")
    opts = prune.PruneOptions(allow_mass_delete=True, propagation=request.propagation,
                              dry_run=request.dry_run, deleting=True)
    deleted = prune.prune(cluster, request.target, doomed, opts)
    if request.dry_run:
        return Synced(ran + deleted + runner.skipped(Phase.POST_DELETE, "dry run"), {})
    if any(r.action is Action.FAILED for r in deleted):
        return Synced(ran + deleted + runner.skipped(Phase.POST_DELETE, "objects could not be deleted"), {})
    gone = [r.ref for r in deleted if r.action is Action.DELETED]
    left = wait_gone(cluster, gone, max(request.wait_seconds, DELETE_WAIT), ports.clock)
    if left:
        why = f"{len(left)} object(s) still being deleted after {max(request.wait_seconds, DELETE_WAIT):.0f}s"
        return Synced(ran + deleted + runner.skipped(Phase.POST_DELETE, why), {}, True,
                      f"{why}, first {left[0]}; the inventory is kept")
    after = runner.run(Phase.POST_DELETE)
    if not after.ok:
        return Synced(ran + deleted + after.results, {}, after.temporary, after.failure, after.retry_after)
    prune.remove_inventory(cluster, request.target)
    return Synced(ran + deleted + after.results, {})


DELETE_WAIT = 60.0  # seconds a deletion waits for its objects to be gone before the PostDelete hooks


def wait_gone(cluster: Cluster, refs: list[ObjectRef], timeout: float, clock: Clock) -> list[ObjectRef]:
    """Poll until none of ``refs`` exists or ``timeout`` passes; those still there."""
    deadline, delay = clock.monotonic() + timeout, 0.05
    while left := [r for r in refs if cluster.get(r) is not None]:
        if clock.monotonic() >= deadline:
            return left
        clock.sleep(max(0.0, min(delay, deadline - clock.monotonic())))
        delay = min(delay * 2, 2.0)
    return []


def health(cluster: Cluster, plan: planner.Plan, synced: Synced, wait_seconds: float,
           rules: Rules | None = None) -> tuple[dict[ObjectRef, Health], GitOpsError | None]:
    """Each desired object's health: judged from the objects held, or waited for (bounded) when asked;
    a failed wait falls back to the objects held and is returned."""
    refs = outcome.desired_refs(synced.results, plan)
    held = outcome.held_health(refs, synced.objects, rules)
    if wait_seconds <= 0:
        return held, None
    try:
        return wait_healthy(cluster, refs, timeout=wait_seconds, rules=rules).health, None
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
