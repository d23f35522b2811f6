"""Progressive rollout of an ApplicationSet's changes across clusters, step by step behind a gate.

Called by the ApplicationSet controller (:mod:`gitops.appset.controller`) on every pass over a set whose
strategy is ``RollingSync``: :func:`plan_rollout` turns the strategy and the set's clusters into ordered
:class:`Step` values, and :func:`advance` decides, from the stored :class:`RolloutState`, the desired and
the released applications, the targets' statuses and the optional Prometheus answer, which applications
are released to the fleet now (``Advance.release``), which targets the workers must sync
(``Advance.sync``), and the new state the controller saves in the set's record. ``gitops status`` and
``gitops appset status`` show ``RolloutState.message``.

How a rollout runs (the docstrings of :mod:`gitops.config.fanout` are the user's version):

* A rollout is identified by :func:`fingerprint_of` the desired set: a new desired set is a new
  rollout, which starts again at the first step (``onNewRevision: restart``, the default). With
  ``continue``, an unfinished rollout keeps its current step and the clusters it had already released
  get the new revision at once (they already took this rollout), without waiting for the concurrency
  limit; clusters of earlier steps that had nothing to release before join the current step.
* Within a step, clusters with changed applications are released in order, at most ``maxConcurrent`` in
  flight (released but not yet passed). A released cluster *passes* when every desired application on
  it reports, in a status reconciled at or after the cluster's release, the desired revision, Synced,
  Healthy and no error. A status older than the release never counts, whatever it says.
* When every cluster of the step passed, the step's gate holds: it must keep holding (and the Prometheus
  gate, if configured, must answer that it holds) for the step's bake time, then the next step starts.
  A step whose clusters have nothing to release is skipped (no approval, no bake).
* A fresh Degraded status, or a permanent error at the desired revision, on any cluster the rollout
  released halts it: nothing more is released until a new rollout or ``gitops appset resume``, which
  sets the phase back to Progressing and names the released clusters that had not passed
  (``RolloutState.retry``): the next pass syncs their applications again with a fresh release time, so
  the statuses that halted it no longer count, and the gate waits for new ones (halting again if the
  cause is still there).
* A step with ``approval: true`` waits (WaitingApproval) until ``gitops appset approve`` sets
  ``approved_step`` to its index; ``paused`` observes (passes, halts, gates) but releases nothing.

Key design choice: the module is pure and deterministic: no I/O and no clock (``now`` is an argument),
the whole memory of a rollout is the small JSON-safe :class:`RolloutState` (release and pass times per
cluster), so the controller can crash between any two passes and the next pass takes up exactly where
the record says. Unlike Argo CD's progressive syncs, the gate only ever trusts statuses reconciled after
the release, so the "Healthy" of the previous revision cannot open the next step.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gitops.appset.generated import GeneratedApp, fingerprint
from gitops.appset.spec import selector
from gitops.config.fanout import RollingSync
from gitops.state.model import TargetStatus
from gitops.vocabulary import HealthStatus, SyncStatus, Target

Phase = Literal["Progressing", "WaitingApproval", "Halted", "Completed"]
_PHASES: dict[str, Phase] = {"Progressing": "Progressing", "WaitingApproval": "WaitingApproval",
                             "Halted": "Halted", "Completed": "Completed"}
MAX_MESSAGE = 512
MAX_NAMED = 5  # cluster names listed in one event


@dataclass(frozen=True)
class PrometheusCheck:
    """The Prometheus gate of the strategy: an instant query that must hold during every bake."""

    url: str
    query: str
    timeout_seconds: float


@dataclass(frozen=True)
class Step:
    """One resolved step: its position in the plan (``index``, what ``approved_step`` names), its clusters
    in release order (by name), and its approval, bake and concurrency (the strategy's where the step
    does not set them). ``origin`` is the index of the configured step (None: the implicit final step
    of the clusters no configured step took)."""

    index: int
    clusters: tuple[str, ...]
    approval: bool
    bake_seconds: float
    max_concurrent: int
    origin: int | None = None


@dataclass(frozen=True)
class RolloutPlan:
    """The steps of a rollout (none empty, in order), the optional Prometheus gate, what a new revision
    does mid-rollout, and the strategy's bake and concurrency (for clusters the plan does not know)."""

    steps: tuple[Step, ...]
    prometheus: PrometheusCheck | None = None
    on_new_revision: Literal["restart", "continue"] = "restart"
    bake_seconds: float = 60.0
    max_concurrent: int = 10


@dataclass(frozen=True)
class GateResult:
    """The answer of the optional Prometheus gate: ``holds`` and why (None answer: no gate asked)."""

    holds: bool
    detail: str


@dataclass(frozen=True)
class RolloutState:
    """What a rollout remembers between passes: its ``id`` (:func:`fingerprint_of` the desired set), when it
    started, the current step (its index in the plan), the phase, the release and pass times per
    cluster, since when the current step's gate holds, the step the user approved, and a one-line
    summary for ``gitops status``."""

    id: str
    started_at: float
    step: int
    phase: Phase
    released: Mapping[str, float] = field(default_factory=dict, hash=False)
    done: Mapping[str, float] = field(default_factory=dict, hash=False)
    gate_since: float | None = None
    approved_step: int | None = None
    message: str = ""
    retry: tuple[str, ...] = ()  # clusters to sync again on the next pass (``gitops appset resume``)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "started_at": self.started_at, "step": self.step, "phase": self.phase,
                "released": dict(sorted(self.released.items())), "done": dict(sorted(self.done.items())),
                "gate_since": self.gate_since, "approved_step": self.approved_step, "message": self.message,
                "retry": list(self.retry)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> RolloutState:
        """The state :meth:`to_dict` wrote. ``id``, ``step`` and ``phase`` are required, the rest default;
        anything malformed raises ValueError, KeyError or TypeError."""
        if not isinstance(data, Mapping):
            raise TypeError("a rollout state is not a mapping")
        ident = data["id"]
        if not isinstance(ident, str) or not ident:
            raise TypeError("rollout id is not a non-empty string")
        phase = data["phase"]
        if not isinstance(phase, str) or phase not in _PHASES:
            raise ValueError(f"unknown rollout phase {str(phase)[:40]!r}")
        gate_since = data.get("gate_since")
        approved = data.get("approved_step")
        message = data.get("message", "")
        if not isinstance(message, str):
            raise TypeError("rollout message is not a string")
        retry = data.get("retry", [])
        if not isinstance(retry, list) or not all(isinstance(c, str) for c in retry):
            raise TypeError("rollout retry is not a list of cluster names")
        return RolloutState(ident, _number(data.get("started_at", 0.0), "started_at"),
                            _index(data["step"], "step"), _PHASES[phase],
                            _times(data.get("released", {}), "released"),
                            _times(data.get("done", {}), "done"),
                            None if gate_since is None else _number(gate_since, "gate_since"),
                            None if approved is None else _index(approved, "approved_step"),
                            message[:MAX_MESSAGE], tuple(retry))


@dataclass(frozen=True)
class Advance:
    """The outcome of one :func:`advance`: the new state (None: no rollout), the names of the applications
    released now, the targets to sync now, and what happened, in short sentences."""

    state: RolloutState | None
    release: tuple[str, ...] = ()
    sync: tuple[Target, ...] = ()
    events: tuple[str, ...] = ()


# --- planning -------------------------------------------------------------------------------------------


def plan_rollout(strategy: RollingSync, clusters: Mapping[str, Mapping[str, str]]) -> RolloutPlan:
    """The steps of ``strategy`` over ``clusters`` (each cluster of the set with its labels).

    A ``clusters`` step takes the clusters its selector matches that no earlier step took; a ``share``
    step takes the first ``ceil(share * N)`` clusters by name (cumulative) that no earlier step took,
    and at least one if any is left and the share is not zero. The clusters no step took form a final
    step with the strategy's bake and concurrency. Empty steps are dropped; ``index`` is the position
    in the resulting plan."""
    names = sorted(clusters)
    taken: set[str] = set()
    resolved: list[tuple[int | None, tuple[str, ...], bool, float, int]] = []
    for origin, step in enumerate(strategy.steps):
        if step.clusters is not None:
            match = selector(step.clusters)
            chosen = [n for n in names if n not in taken and match.matches(clusters[n])]
        else:
            share = step.share or 0.0
            count = min(len(names), math.ceil(round(share * len(names), 9)))
            chosen = [n for n in names[:count] if n not in taken]
            if not chosen and share > 0.0:
                chosen = [n for n in names if n not in taken][:1]
        taken.update(chosen)
        resolved.append((origin, tuple(chosen), step.approval,
                         strategy.bake_seconds if step.bake_seconds is None else step.bake_seconds,
                         strategy.max_concurrent if step.max_concurrent is None else step.max_concurrent))
    rest = tuple(n for n in names if n not in taken)
    resolved.append((None, rest, False, strategy.bake_seconds, strategy.max_concurrent))
    steps = tuple(Step(i, chosen, approval, bake, concurrent, origin)
                  for i, (origin, chosen, approval, bake, concurrent)
                  in enumerate(r for r in resolved if r[1]))
    gate = strategy.prometheus
    check = None if gate is None else PrometheusCheck(gate.url, gate.query, gate.timeout_seconds)
    return RolloutPlan(steps, check, strategy.on_new_revision, strategy.bake_seconds, strategy.max_concurrent)


def fingerprint_of(desired: Mapping[str, GeneratedApp]) -> str:
    """The identity of what is being rolled out: SHA-256 over the (name, fingerprint) of every desired
    application, in name order."""
    pairs = sorted((name, _fingerprint(app)) for name, app in desired.items())
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()


def changed_apps(desired: Mapping[str, GeneratedApp],
                 released: Mapping[str, GeneratedApp]) -> dict[str, GeneratedApp]:
    """The desired applications the fleet does not run as desired yet (new, or another document)."""
    return {name: app for name, app in desired.items()
            if name not in released or _fingerprint(released[name]) != _fingerprint(app)}


def wants_gate(plan: RolloutPlan, state: RolloutState | None) -> bool:
    """Whether the controller should ask the Prometheus gate before this pass (a gate is configured and
    the rollout is progressing: only a progressing rollout can bake)."""
    return plan.prometheus is not None and state is not None and state.phase == "Progressing"


# --- advancing ------------------------------------------------------------------------------------------


def advance(plan: RolloutPlan, state: RolloutState | None, desired: Mapping[str, GeneratedApp],
            released: Mapping[str, GeneratedApp], statuses: Mapping[Target, TargetStatus | None],
            gate: GateResult | None, now: float, *, paused: bool = False) -> Advance:
    """One pass of the rollout (see the module docstring): what to release and sync now, and the new state.

    ``released`` is what the fleet runs now (the controller adds ``Advance.release`` to it); applications
    only in ``released`` (being deleted) are not the rollout's business. With nothing to roll out the
    state is None, or the Completed state of the same desired set. A rollout whose desired set is
    unchanged but whose last clusters are still being verified or baked goes on until it completes."""
    ident = fingerprint_of(desired)
    changed = changed_apps(desired, released)
    current = state if state is not None and state.id == ident else None
    if current is not None and current.phase == "Completed" and not changed:
        return Advance(current)
    if current is None or current.phase == "Completed":
        if not changed:
            return Advance(None)
        run = _Run(plan, desired, changed, statuses, gate, now, paused)
        if plan.on_new_revision == "continue" and state is not None and state.phase != "Completed":
            run.continue_from(state, ident)
        else:
            run.start(ident)
    else:
        if current.phase == "Halted":
            return Advance(current)
        run = _Run(plan, desired, changed, statuses, gate, now, paused)
        run.resume(current)
    run.go()
    return run.outcome()


class _Run:
    """One pass of :func:`advance`: the working copy of the state and what the pass does."""

    def __init__(self, plan: RolloutPlan, desired: Mapping[str, GeneratedApp],
                 changed: Mapping[str, GeneratedApp], statuses: Mapping[Target, TargetStatus | None],
                 gate: GateResult | None, now: float, paused: bool) -> None:
        self.plan, self.statuses, self.gate, self.now, self.paused = plan, statuses, gate, now, paused
        self.on = _by_cluster(desired.values())
        self.changed_on = _by_cluster(changed.values())
        self.steps = _effective_steps(plan, self.on)
        self.step_of = {c: s.index for s in self.steps for c in s.clusters}
        self.id, self.started_at, self.step = "", now, 0
        self.phase: Phase = "Progressing"
        self.released: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.gate_since: float | None = None
        self.approved: int | None = None
        self.message = ""
        self.entered = -1  # the step the state was at before this pass (-1: a new rollout)
        self.was_waiting = False
        self.rerelease: list[str] = []
        self.retry: list[str] = []  # resumed: released clusters that did not pass, to sync again
        self.release: list[str] = []
        self.sync: list[Target] = []
        self.events: list[str] = []

    # - how the pass begins

    def start(self, ident: str) -> None:
        self.id = ident
        self.events.append(f"rollout {ident[:12]} started: {sum(map(len, self.changed_on.values()))} "
                           f"application(s) to update on {len(self.changed_on)} cluster(s), "
                           f"{len(self.steps)} step(s)")

    def continue_from(self, old: RolloutState, ident: str) -> None:
        """``onNewRevision: continue``: keep the step (and its approval); the clusters released before get
        the new revision at once (:meth:`go`), the others keep their release and pass times."""
        self.id, self.approved = ident, old.approved_step
        self.step = min(old.step, max(0, len(self.steps) - 1))
        self.entered = self.step
        self.was_waiting = old.phase == "WaitingApproval"
        for cluster, at in old.released.items():
            if cluster in self.changed_on:
                self.rerelease.append(cluster)
            else:
                self.released[cluster] = at
                if cluster in old.done:
                    self.done[cluster] = old.done[cluster]
        self.rerelease.sort(key=self._order)
        self.events.append(f"new revision: rollout {ident[:12]} continues at step "
                           f"{self.step + 1}/{len(self.steps)}")

    def resume(self, state: RolloutState) -> None:
        self.id, self.started_at, self.phase = state.id, state.started_at, state.phase
        self.step = min(state.step, max(0, len(self.steps) - 1))
        self.entered = self.step
        self.was_waiting = state.phase == "WaitingApproval"
        self.released, self.done = dict(state.released), dict(state.done)
        self.gate_since, self.approved, self.message = state.gate_since, state.approved_step, state.message
        self.retry = [c for c in state.retry if c in self.released]

    # - the pass

    def go(self) -> None:
        if self.retry and not self.paused:
            for cluster in self.retry:  # a fresh release time: the statuses that halted it are stale now
                self.released[cluster] = self.now
                self.done.pop(cluster, None)
                self.sync += [Target(app.name, app.cluster) for app in self.on.get(cluster, ())]
            self.events.append(f"resumed: syncing {_names(self.retry)} again")
            self.retry = []
        halt = self._halt()
        if halt is not None:
            for cluster in self.released:  # what passed is recorded: a resume syncs only the others
                if cluster not in self.done and self._blocker(cluster) is None:
                    self.done[cluster] = self.now
            self.phase = "Halted"
            self.gate_since = None
            self.message = f"halted at step {self.step + 1}/{len(self.steps)}: {halt}"
            self.events.append(f"rollout halted: {halt}")
            return
        if self.rerelease and not self.paused:
            for cluster in self.rerelease:
                self._release(cluster)
            self.events.append(f"re-released {_names(self.rerelease)} with the new revision")
        while self.step < len(self.steps):
            if not self._step(self.steps[self.step]):
                return
            self.step += 1
            self.gate_since = None
        self.phase = "Completed"
        self.message = f"completed: {len(self.released)} cluster(s) released, all passed"
        self.events.append("rollout completed")

    def _step(self, step: Step) -> bool:
        """Work on ``step``; True when it is done (go on with the next)."""
        label = f"step {step.index + 1}/{len(self.steps)}"
        work = self._work(step)
        if not work:
            self.events.append(f"{label} skipped: nothing to release on its clusters")
            return True
        entering = step.index != self.entered
        self.entered = step.index
        broke = self._observe(work)
        started = any(c in self.released for c in step.clusters)
        if step.approval and self.approved != step.index and not started:
            if entering or not self.was_waiting:
                self.events.append(f"{label} waits for approval (gitops appset approve)")
            self.phase = "WaitingApproval"
            self.message = f"{label} waits for approval (gitops appset approve): {len(work)} cluster(s)"
            return False
        if entering:
            self.events.append(f"{label} started: {_names(work)}")
        elif self.was_waiting:
            self.events.append(f"{label} approved")
        self.phase, self.was_waiting = "Progressing", False
        if not self.paused:
            in_flight = sum(1 for c in work if c in self.released and c not in self.done)
            for cluster in work:
                if in_flight >= step.max_concurrent:
                    break
                if cluster in self.changed_on and cluster not in self.released:
                    self._release(cluster)
                    self.events.append(f"released cluster {cluster} ({label})")
                    in_flight += 1
        waiting = [c for c in work if c not in self.released or c not in self.done]
        if waiting:
            if self.gate_since is not None:
                self.events.append(f"{label} gate no longer holds: {broke or waiting[0]} stopped passing")
                self.gate_since = None
            self.message = self._progress(label, work, waiting)
            return False
        return self._bake(step, label)

    def _bake(self, step: Step, label: str) -> bool:
        """Every cluster of the step passed: the gate must hold for the bake time (and Prometheus agree)."""
        prometheus = self.plan.prometheus
        if prometheus is not None and self.gate is not None and not self.gate.holds:
            if self.gate_since is not None or not self.message.startswith(f"{label}: Prometheus"):
                self.events.append(f"{label}: the Prometheus gate does not hold, the bake starts again: "
                                   f"{_line(self.gate.detail)}")
            self.gate_since = None
            self.message = f"{label}: Prometheus gate does not hold: {_line(self.gate.detail)}"
            return False
        if self.gate_since is None:
            self.gate_since = self.now
            self.events.append(f"{label} gate holds; baking {_seconds(step.bake_seconds)}")
        elapsed = self.now - self.gate_since
        if elapsed >= step.bake_seconds and (prometheus is None or self.gate is not None):
            self.events.append(f"{label} done")
            return True
        if prometheus is not None and self.gate is None:
            self.message = f"{label} baking, waiting for an answer of the Prometheus gate"
        else:
            self.message = (f"{label} baking: {_seconds(elapsed)} of {_seconds(step.bake_seconds)}"
                            + (" (paused)" if self.paused else ""))
        return False

    def _work(self, step: Step) -> list[str]:
        """The clusters the step's gate waits for: the clusters of earlier steps still to release or to
        pass (only after ``continue``, or when labels moved a cluster), then the step's own clusters
        with something to release or released by this rollout."""
        earlier = sorted((c for s in self.steps[:step.index] for c in s.clusters
                          if (c in self.changed_on and c not in self.released)
                          or (c in self.released and c not in self.done)), key=self._order)
        own = [c for c in step.clusters if c in self.changed_on or c in self.released]
        return earlier + own

    def _observe(self, work: list[str]) -> str | None:
        """Record which released clusters of ``work`` pass now (``done``); a cluster that stopped passing
        leaves ``done``. The first cluster that stopped passing, if any."""
        stopped = None
        for cluster in work:
            if cluster not in self.released:
                continue
            if self._blocker(cluster) is None:
                self.done.setdefault(cluster, self.now)
            elif self.done.pop(cluster, None) is not None and stopped is None:
                stopped = cluster
        return stopped

    def _blocker(self, cluster: str) -> str | None:
        """Why ``cluster`` does not pass (None: it passes): the first desired application on it without a
        good status reconciled since the cluster's release."""
        since = self.released[cluster]
        for app in self.on.get(cluster, ()):
            status = self.statuses.get(Target(app.name, app.cluster))
            where = f"{app.name} on {cluster}"
            if status is None or status.reconciled_at < since:
                return f"{where}: no status since its release"
            if app.revision is not None and status.revision != app.revision:
                return f"{where}: at revision {str(status.revision)[:12]}, not {app.revision[:12]}"
            if status.error is not None:
                return f"{where}: {_line(status.error, 120)}"
            if status.sync != SyncStatus.SYNCED or status.health != HealthStatus.HEALTHY:
                return f"{where}: {status.sync}, {status.health}"
        return None

    def _halt(self) -> str | None:
        """Why the rollout must halt (None: it need not): a status reconciled since its cluster's release
        that is Degraded, or failed for good at the desired revision."""
        for cluster in sorted(self.released):
            since = self.released[cluster]
            for app in self.on.get(cluster, ()):
                status = self.statuses.get(Target(app.name, app.cluster))
                if status is None or status.reconciled_at < since:
                    continue
                if status.health == HealthStatus.DEGRADED:
                    return f"application {app.name} on cluster {cluster} is Degraded"
                if (status.error is not None and not status.temporary
                        and (app.revision is None or status.revision == app.revision)):
                    return (f"application {app.name} on cluster {cluster} failed at revision "
                            f"{(status.revision or '?')[:12]}: {_line(status.error, 200)}")
        return None

    def _release(self, cluster: str) -> None:
        for app in self.changed_on.get(cluster, ()):
            self.release.append(app.name)
            self.sync.append(Target(app.name, app.cluster))
        self.released[cluster] = self.now
        self.done.pop(cluster, None)

    def _progress(self, label: str, work: list[str], waiting: list[str]) -> str:
        passed = len(work) - len(waiting)
        flying = [c for c in waiting if c in self.released]
        text = f"{label}: {passed}/{len(work)} cluster(s) passed, {len(flying)} in flight"
        if flying:
            text += f"; waiting for {self._blocker(flying[0])}"
        elif self.paused:
            text += "; paused"
        return text[:MAX_MESSAGE]

    def _order(self, cluster: str) -> tuple[int, str]:
        return self.step_of.get(cluster, len(self.steps)), cluster

    def outcome(self) -> Advance:
        state = RolloutState(self.id, self.started_at, self.step, self.phase, dict(self.released),
                             dict(self.done), self.gate_since, self.approved, self.message[:MAX_MESSAGE],
                             tuple(self.retry))
        return Advance(state, tuple(self.release), tuple(self.sync), tuple(self.events))


# --- helpers --------------------------------------------------------------------------------------------


def _effective_steps(plan: RolloutPlan, on: Mapping[str, list[GeneratedApp]]) -> tuple[Step, ...]:
    """The plan's steps, with the clusters of desired applications the plan does not know added to the
    last step (a step of its own, with the strategy's bake and concurrency, if the plan has none)."""
    known = {c for s in plan.steps for c in s.clusters}
    unknown = tuple(sorted(c for c in on if c not in known))
    if not unknown:
        return plan.steps
    if not plan.steps:
        return (Step(0, unknown, False, plan.bake_seconds, plan.max_concurrent),)
    last = plan.steps[-1]
    return (*plan.steps[:-1], Step(last.index, last.clusters + unknown, last.approval, last.bake_seconds,
                                   last.max_concurrent, last.origin))


def _by_cluster(apps: Iterable[GeneratedApp]) -> dict[str, list[GeneratedApp]]:
    grouped: dict[str, list[GeneratedApp]] = {}
    for app in sorted(apps, key=lambda a: a.name):
        grouped.setdefault(app.cluster, []).append(app)
    return grouped


def _fingerprint(app: GeneratedApp) -> str:
    return app.fingerprint or fingerprint(app.document)


def _names(clusters: list[str]) -> str:
    shown = ", ".join(clusters[:MAX_NAMED])
    more = len(clusters) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _line(text: str, limit: int = 200) -> str:
    """``text`` as one line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is not finite")
    return number


def _index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} is not an integer")
    if value < 0:
        raise ValueError(f"{what} is negative")
    return value


def _times(value: object, what: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} is not a mapping of cluster names to times")
    times: dict[str, float] = {}
    for cluster, at in value.items():
        if not isinstance(cluster, str):
            raise TypeError(f"{what} has a cluster name that is not a string")
        times[cluster] = _number(at, f"{what}[{cluster[:40]!r}]")
    return times
