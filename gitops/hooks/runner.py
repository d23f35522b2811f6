"""Running the hooks of one phase on a cluster: create, wait until complete (bounded), delete by policy.

Called by gitops/engine.py on the write path (PreSync before the apply, Sync after the regular objects,
PostSync once the target is healthy, SyncFail when the sync failed) and by its deletion (PreDelete,
PostDelete). Hooks run wave by wave (lower first); the hooks of one wave are created together and
waited on together; a failed hook fails the phase and the later waves are not run (reported skipped).

For each hook: with BeforeHookCreation the previous instance is deleted first and waited on until it is
gone; then the hook is server-side applied with our field manager (created with a POST when it is named
by ``metadata.generateName``); then it is polled (backing off from 0.1 s to 2 s, on the injected clock)
until it completes: a Job Healthy is success and Degraded failure, a Pod Succeeded or Failed (or stuck
Degraded), another kind Healthy (Degraded: failure; Unknown, no rule judges it: complete once created,
as Argo CD counts a hook without a health check), judged by gitops.health.assess. It fails when its
timeout passes first. Then HookSucceeded or HookFailed deletes it. Each hook is one ObjectResult whose
message begins with its phase, so history and status show every hook and its outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import groupby

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.cluster import Cluster
from gitops.errors import ClusterError, GitOpsError
from gitops.health import Rules, assess
from gitops.hooks import DeletePolicy, Hook, Phase, of_phase
from gitops.results import ObjectResult
from gitops.vocabulary import Action, HealthStatus, ObjectRef
from renderers.manifest import Manifest

log = logging.getLogger(__name__)
FIRST_POLL = 0.1
MAX_POLL = 2.0


@dataclass(frozen=True)
class RunOptions:
    field_manager: str
    clock: Clock = SYSTEM_CLOCK
    propagation: str = "Background"  # how a deleted hook's dependants go (a Job's Pods)
    rules: Rules | None = None  # the application's health rules (None: the library's alone)


@dataclass(frozen=True)
class PhaseResult:
    """What one phase did: a result per hook of the phase; ``failure`` names the first hook that failed
    (None: every hook completed; why it failed is its result's ``error``, ``<phase> hook: why``);
    ``temporary`` when the cluster failed (a retry can help)."""

    phase: Phase
    results: list[ObjectResult]
    failure: str | None = None
    temporary: bool = False
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def completion(obj: Manifest | None, rules: Rules | None = None) -> tuple[bool | None, str]:
    """(True: succeeded, False: failed, None: still running; why) for a hook's live object, judged by
    ``rules`` (the application's health rules; None: the library's alone)."""
    if obj is None:
        return False, "deleted before it completed"
    health = assess(obj, rules)
    if obj.get("kind") == "Pod" and str(obj.get("apiVersion")) == "v1":
        phase = (obj.get("status") or {}).get("phase")
        if phase == "Succeeded":
            return True, "pod succeeded"
        if phase == "Failed" or health.status is HealthStatus.DEGRADED:
            return False, health.message or "pod failed"
        return None, f"pod is {phase or 'pending'}"
    if health.status is HealthStatus.HEALTHY:
        return True, health.message or "healthy"
    if health.status is HealthStatus.UNKNOWN:  # no rule judges it: created is complete (as Argo CD)
        return True, "created (no health rule for its kind)"
    if health.status is HealthStatus.DEGRADED:
        return False, health.message or "degraded"
    return None, health.message or str(health.status)


@dataclass
class _Running:
    hook: Hook
    ref: ObjectRef
    action: Action
    deadline: float
    outcome: ObjectResult | None = None
    temporary: bool = False
    retry_after: float | None = None


class Runner:
    """Runs the hooks of a target's phases on one cluster (one Runner per reconcile). ``active`` is the
    engine's decision whether this reconcile runs them at all; an inactive runner only reports them as
    not run (:meth:`skipped`)."""

    def __init__(self, cluster: Cluster, hooks: list[Hook], opts: RunOptions, *, active: bool = True) -> None:
        self.cluster, self.hooks, self.opts, self.active = cluster, hooks, opts, active

    def of(self, phase: Phase) -> list[Hook]:
        return of_phase(self.hooks, phase)

    def skipped(self, phase: Phase, why: str) -> list[ObjectResult]:
        """A SKIPPED result per hook of ``phase``: ``<phase> hook: not run: <why>``."""
        why = f"{phase} hook: not run: {why}"
        return [ObjectResult(h.shown, Action.SKIPPED, why) for h in self.of(phase)]

    def run(self, phase: Phase) -> PhaseResult:
        """Run the hooks of ``phase``, wave by wave; stop at the first wave with a failed hook."""
        results: list[ObjectResult] = []
        failure: _Running | None = None
        for _, wave in groupby(self.of(phase), key=lambda h: h.wave):
            hooks = list(wave)
            if failure is not None:
                why = f"{phase} hook: not run: an earlier hook failed"
                results += [ObjectResult(h.shown, Action.SKIPPED, why) for h in hooks]
                continue
            done = self._wave(phase, hooks)
            results += [r.outcome for r in done if r.outcome is not None]
            failure = next((r for r in done if r.outcome is not None and r.outcome.action is Action.FAILED),
                           None)
        if failure is None or failure.outcome is None:
            return PhaseResult(phase, results)
        message = f"{phase} hook {failure.ref} failed"  # why: in its result's error
        return PhaseResult(phase, results, message, failure.temporary, failure.retry_after)

    # -- one wave ---------------------------------------------------------------------------------
    def _wave(self, phase: Phase, hooks: list[Hook]) -> list[_Running]:
        running = [self._start(phase, h) for h in hooks]
        delay = FIRST_POLL
        clock = self.opts.clock
        while pending := [r for r in running if r.outcome is None]:
            for run in pending:
                self._check(phase, run)
            pending = [r for r in running if r.outcome is None]
            if not pending:
                break
            nearest = min(r.deadline for r in pending) - clock.monotonic()
            clock.sleep(max(0.0, min(delay, nearest)))
            delay = min(delay * 2, MAX_POLL)
        return running

    def _fail(self, run: _Running, phase: Phase, why: str, exc: GitOpsError | None = None) -> None:
        run.outcome = ObjectResult(run.ref, Action.FAILED, f"{phase} hook failed", f"{phase} hook: {why}")
        if exc is not None:
            run.temporary, run.retry_after = exc.temporary, exc.retry_after
        self._after(run, phase, succeeded=False)

    def _start(self, phase: Phase, hook: Hook) -> _Running:
        run = _Running(hook, hook.shown, Action.CREATED, self.opts.clock.monotonic() + hook.timeout)
        try:
            if not hook.generated and DeletePolicy.BEFORE_HOOK_CREATION in hook.delete_policies:
                existed, gone = self._delete_and_wait(hook.ref, run.deadline)
                if not gone:
                    why = f"its previous instance was not gone within {_duration(hook.timeout)}"
                    self._fail(run, phase, why)
                    return run
                run.action = Action.RECREATED if existed else Action.CREATED
            if hook.generated:
                created = self.cluster.create(hook.manifest, field_manager=self.opts.field_manager)
                run.ref = ObjectRef.of(created)
            else:
                self.cluster.apply(hook.manifest, field_manager=self.opts.field_manager, force=True)
        except GitOpsError as exc:
            self._fail(run, phase, f"could not be created: {exc}", exc)
        return run

    def _delete_and_wait(self, ref: ObjectRef, deadline: float) -> tuple[bool, bool]:
        """Delete ``ref`` when it exists and wait until it is gone: (it existed, it is gone by
        ``deadline``)."""
        existed = self.cluster.delete(ref, propagation=self.opts.propagation)
        delay, clock = FIRST_POLL, self.opts.clock
        while existed and self.cluster.get(ref) is not None:
            if clock.monotonic() >= deadline:
                return existed, False
            clock.sleep(max(0.0, min(delay, deadline - clock.monotonic())))
            delay = min(delay * 2, MAX_POLL)
        return existed, True

    def _check(self, phase: Phase, run: _Running) -> None:
        try:
            done, why = completion(self.cluster.get(run.ref), self.opts.rules)
        except ClusterError as exc:
            if exc.temporary and self.opts.clock.monotonic() < run.deadline:
                return  # look again on the next turn
            self._fail(run, phase, f"could not be read: {exc}", exc)
            return
        if done is None and self.opts.clock.monotonic() >= run.deadline:
            self._fail(run, phase, f"did not complete within {_duration(run.hook.timeout)} ({why})")
        elif done is True:
            run.outcome = ObjectResult(run.ref, run.action, f"{phase} hook succeeded: {why}",
                                       health=HealthStatus.HEALTHY)
            self._after(run, phase, succeeded=True)
        elif done is False:
            self._fail(run, phase, why)

    def _after(self, run: _Running, phase: Phase, *, succeeded: bool) -> None:
        """HookSucceeded / HookFailed: delete the hook; a failed delete is said, never fails the hook."""
        policy = DeletePolicy.HOOK_SUCCEEDED if succeeded else DeletePolicy.HOOK_FAILED
        never_created = run.hook.generated and run.ref == run.hook.shown  # the server never named it
        if policy not in run.hook.delete_policies or run.outcome is None or never_created:
            return
        try:
            gone = self.cluster.delete(run.ref, propagation=self.opts.propagation)
            note = f"; deleted ({policy})" if gone else ""
        except ClusterError as exc:
            log.warning("%s hook %s: delete (%s) failed: %s", phase, run.ref, policy, exc)
            note = f"; delete ({policy}) failed: {exc}"
        out = run.outcome
        run.outcome = ObjectResult(out.ref, out.action, out.message + note, out.error, out.health)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v) or "0s"
