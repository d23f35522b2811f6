"""Apply: execute a Plan with server-side apply, stage by stage, one ObjectResult per object.

Called by gitops/engine.py and ``gitops sync`` after ``gitops.plan.plan``. Nothing is written when any
object failed planning (invalid manifest, refused immutable change): every other object is reported as
skipped, so a bad commit is never half-applied. Otherwise the objects go out in the plan's steps
(gitops.plan.ordering), the objects of one step concurrently (a bounded number in flight); unchanged objects
are not written (decided by the plan's dry-run diff); after CRDs and Namespaces the applier waits (bounded)
until they are Established / Active (gitops.health.wait), forgets cached discovery and waits (bounded) until
discovery serves the new CRDs' kinds; the first step with a failure stops the sync and the rest are
skipped. Between sync waves the applier waits (bounded by ``wave_timeout``) for the finished wave to be
healthy: a wave still Progressing stops the sync as temporary (the next reconcile continues where it
stopped), a Degraded one as failed; an object whose health is Unknown (a custom resource nothing judges)
does not hold a wave back, as in Argo CD. Health is judged by the application's rules (``rules``). A
temporary error that stopped the sync keeps the cluster's retry hint (``ApplyResult.retry_after``, from a
429 or 503 ``Retry-After``).
Conflicts are forced only when ``force`` says so; an immutable-field change is deleted and recreated when
the plan allowed it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gitops import keys
from gitops.cluster import Cluster
from gitops.cluster.parallel import DEFAULT_WORKERS, pmap
from gitops.errors import ClusterError, Conflict, ImmutableField, NotFound
from gitops.health import Rules, assess
from gitops.health.wait import wait_healthy
from gitops.plan import ObjectPlan, Plan, RefKey, ref_key
from gitops.plan.ordering import Stage, plan_steps
from gitops.results import ObjectResult
from gitops.vocabulary import Action, HealthStatus, ObjectRef
from renderers.manifest import Manifest


@dataclass(frozen=True)
class ApplyOptions:
    field_manager: str = keys.DEFAULT_FIELD_MANAGER
    force: bool = False
    dry_run: bool = False
    definition_timeout: float = 30.0
    poll_interval: float = 0.2
    workers: int = DEFAULT_WORKERS  # applies in flight at once within one step
    wave_timeout: float = 30.0  # how long a sync wave may take to become healthy (0: do not wait)
    rules: Rules | None = None  # the application's health rules (gitops.health.rules_for); None: library


@dataclass(frozen=True)
class ApplyResult:
    results: tuple[ObjectResult, ...]
    objects: dict[RefKey, Manifest] = field(default_factory=dict)  # latest known live objects
    temporary: bool = False  # a failure that retrying may fix
    stopped: str | None = None  # why later objects were skipped although nothing failed
    retry_after: float | None = None  # seconds the cluster asked us to wait (a temporary failure)

    @property
    def failed(self) -> list[ObjectResult]:
        return [r for r in self.results if r.action is Action.FAILED]


def _planned(p: ObjectPlan, dry_run: bool) -> ObjectResult:
    note = " (dry run)" if dry_run else ""
    if p.action is Action.FAILED:
        return ObjectResult(p.ref, Action.FAILED, p.message, p.error, drift=p.drift)
    return ObjectResult(p.ref, p.action, (p.message + note).strip(), drift=p.drift)


def preview(plan: Plan, *, dry_run: bool = True) -> list[ObjectResult]:
    """What applying ``plan`` would do, without any request (diff, dry runs, detect-only)."""
    return [_planned(p, dry_run) for p in plan.objects]


def _skipped(plan: Plan, why: str, done: set[RefKey]) -> list[ObjectResult]:
    return [ObjectResult(p.ref, Action.SKIPPED, why) for p in plan.objects if ref_key(p.ref) not in done]


def _recreate(cluster: Cluster, p: ObjectPlan, opts: ApplyOptions) -> Manifest:
    cluster.delete(p.ref, propagation="Foreground")
    deadline = time.monotonic() + opts.definition_timeout
    while cluster.get(p.ref) is not None:
        if time.monotonic() > deadline:
            raise ClusterError(f"{p.ref} was deleted for recreation but is still there", obj=str(p.ref),
                               temporary=True)
        time.sleep(opts.poll_interval)
    return cluster.apply(p.desired, field_manager=opts.field_manager, force=True)


def apply_one(cluster: Cluster, p: ObjectPlan, opts: ApplyOptions) -> tuple[ObjectResult, Manifest | None]:
    """Apply one planned object; failures become a failed result (temporary ones re-raised last)."""
    if not p.writes:
        return ObjectResult(p.ref, Action.UNCHANGED, p.message), p.live
    try:
        if p.action is Action.RECREATED:
            return ObjectResult(p.ref, Action.RECREATED, p.message), _recreate(cluster, p, opts)
        live = cluster.apply(p.desired, field_manager=opts.field_manager, force=opts.force)
    except Conflict as exc:
        owners = ", ".join(f"{f} owned by {m}" for m, f in exc.causes) or exc.message
        return ObjectResult(p.ref, Action.FAILED, "conflict", f"conflict: {owners}; use force to take "
                            "ownership", drift=p.drift), p.live
    except ImmutableField as exc:
        return ObjectResult(p.ref, Action.FAILED, "immutable field", f"immutable field "
                            f"{', '.join(exc.fields)} changed; recreate not allowed"), p.live
    action = Action.CREATED if p.live is None else (Action.UNCHANGED if p.action is Action.UNCHANGED
                                                    else Action.CONFIGURED)
    return ObjectResult(p.ref, action, p.message, drift=p.drift), live


def _attempt(cluster: Cluster, p: ObjectPlan,
             opts: ApplyOptions) -> tuple[ObjectResult, Manifest | None, ClusterError | None]:
    try:
        result, live = apply_one(cluster, p, opts)
    except ClusterError as exc:
        return ObjectResult(p.ref, Action.FAILED, "error", str(exc)), p.live, exc
    return result, live, None


_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")


def _served(cluster: Cluster, crd: Manifest) -> bool:
    """Whether discovery serves the kind of ``crd`` in each of its served versions."""
    spec = crd.get("spec") or {}
    kind = str((spec.get("names") or {}).get("kind", ""))
    versions = [str(v.get("name")) for v in spec.get("versions") or []
                if isinstance(v, dict) and v.get("served", True)]
    try:
        for version in versions:
            cluster.resource_for(f"{spec.get('group')}/{version}", kind)
    except NotFound:
        return False
    return True


def _wait_definitions(cluster: Cluster, written: list[ObjectPlan], opts: ApplyOptions) -> None:
    """Wait (bounded) until the CRDs and Namespaces just written are Established / Active, forget cached
    discovery, then wait (bounded) until discovery serves the kinds of the Established CRDs: the API
    server's discovery controller is asynchronous, so a CRD can be Established while
    ``/apis/<group>/<version>`` still answers 404, and a custom resource applied then would fail with
    "kind ... is not served"."""
    refs = [p.ref for p in written]
    health = wait_healthy(cluster, refs, timeout=opts.definition_timeout, interval=opts.poll_interval,
                          rules=opts.rules).health
    cluster.invalidate_discovery()
    crds = [p.desired for p in written if (p.ref.group, p.ref.kind) == _CRD
            and health[p.ref].status is HealthStatus.HEALTHY]
    deadline = time.monotonic() + opts.definition_timeout
    while crds:
        crds = [crd for crd in crds if not _served(cluster, crd)]
        if not crds or time.monotonic() > deadline:
            return  # a kind still not served fails its custom resources with the server's answer
        time.sleep(opts.poll_interval)


def _apply_step(cluster: Cluster, step_plans: list[ObjectPlan], opts: ApplyOptions,
                results: list[ObjectResult], objects: dict[RefKey, Manifest]) -> ClusterError | None:
    """Apply one step's objects concurrently; the first temporary error, if any."""
    outcomes = pmap(lambda p: _attempt(cluster, p, opts), step_plans, opts.workers)
    for p, (result, live, _) in zip(step_plans, outcomes, strict=True):
        results.append(result)
        if live is not None:
            objects[ref_key(p.ref)] = live
    return next((error for _, _, error in outcomes if error is not None and error.temporary), None)


_SETTLED_OK = (HealthStatus.HEALTHY, HealthStatus.SUSPENDED, HealthStatus.UNKNOWN)


def _wave_gate(cluster: Cluster, wave: int, refs: list[ObjectRef], opts: ApplyOptions,
               known: dict[RefKey, Manifest]) -> tuple[str, bool, float | None] | None:
    """None when wave ``wave`` is healthy in time, else (why, temporary, retry hint) to stop the sync."""
    if all(assess(known.get(ref_key(r)), opts.rules).status in _SETTLED_OK for r in refs):
        return None  # what we already hold says healthy: no request needed
    waited = wait_healthy(cluster, refs, timeout=opts.wave_timeout, interval=opts.poll_interval,
                          rules=opts.rules)
    blocking = {r: h for r, h in waited.health.items() if h.status not in _SETTLED_OK}
    if not blocking:
        return None
    status = HealthStatus.worst(h.status for h in blocking.values())
    bad = next(r for r, h in sorted(blocking.items()) if h.status is status)
    temporary = status is not HealthStatus.DEGRADED
    return f"sync wave {wave} is {status} ({bad}: {blocking[bad].message})", temporary, None


def apply_plan(cluster: Cluster, plan: Plan, opts: ApplyOptions) -> ApplyResult:
    """Execute ``plan``; see the module docstring for the staging and failure rules."""
    if plan.failed:
        why = f"not applied: {len(plan.failed)} object(s) failed planning"
        return ApplyResult(tuple([_planned(p, False) for p in plan.failed] + _skipped(
            plan, why, {ref_key(p.ref) for p in plan.failed})), dict(plan.live))  # as they are: untouched
    if opts.dry_run:
        return ApplyResult(tuple(preview(plan)), dict(plan.live))
    by_key = {ref_key(p.ref): p for p in plan.objects}
    results: list[ObjectResult] = []
    objects: dict[RefKey, Manifest] = {}
    steps = plan_steps([p.desired for p in plan.objects])
    for index, step in enumerate(steps):
        step_plans = [by_key[ref_key(ObjectRef.of(obj))] for obj in step.objects]
        error = _apply_step(cluster, step_plans, opts, results, objects)
        if error is not None:
            return _stop(plan, results, objects, temporary=True, retry_after=error.retry_after)
        if any(r.action is Action.FAILED for r in results):
            return _stop(plan, results, objects, temporary=False)
        try:  # a failed read between steps stops the sync; what was applied stays reported
            if step.stage is Stage.DEFINITIONS and any(p.writes for p in step_plans):
                _wait_definitions(cluster, [p for p in step_plans if p.writes], opts)
            gate = None
            if index + 1 < len(steps) and steps[index + 1].wave != step.wave and opts.wave_timeout > 0:
                wave_refs = [ObjectRef.of(o) for s in steps[:index + 1] if s.wave == step.wave
                             for o in s.objects]
                gate = _wave_gate(cluster, step.wave, wave_refs, opts, objects)
        except ClusterError as exc:
            gate = (f"waiting after step {index + 1} failed: {exc}", exc.temporary, exc.retry_after)
        if gate is not None:
            return _stop(plan, results, objects, temporary=gate[1], why=gate[0], retry_after=gate[2])
    return ApplyResult(tuple(results), objects)


def _stop(plan: Plan, results: list[ObjectResult], objects: dict[RefKey, Manifest], *,
          temporary: bool, why: str | None = None, retry_after: float | None = None) -> ApplyResult:
    done = {ref_key(r.ref) for r in results}
    rest = _skipped(plan, f"skipped: {why}" if why else "skipped: an earlier object failed", done)
    # the objects not reached are as the plan read them: health is judged on them, never on nothing
    return ApplyResult(tuple(results + rest), {**plan.live, **objects}, temporary, why,
                       retry_after if temporary else None)
