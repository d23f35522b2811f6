"""The ApplicationSet controller: ``run_appset(appset, fleet, ports) -> RunReport``, one pass over one set,
and the user's verbs on a set (``approve``, ``pause``, ``resume``, ``restore``, ``delete``).

Called by the workers (the ``gitops.appset`` task, which the beat sends every
``GITOPS_APPSET_INTERVAL`` seconds per configured set) and by ``gitops appset`` (the verbs). It reads
like the algorithm:

1. load the set's record (:mod:`gitops.appset.record`) from the :class:`~gitops.state.appsets.AppSetStore`;
2. generate and render (:func:`gitops.appset.generate`, :func:`gitops.appset.render_applications`);
   names already used by a configured Application or another set are element errors;
3. under RollingSync, pin each application's source to the commit its ref names now (the
   :class:`Heads` port), so "the new revision" is one commit per application and a cluster not yet
   released keeps running the old one;
4. :func:`gitops.appset.lifecycle.decide`: the new desired set under the lifecycle policy and the
   deletion breaker;
5. AllAtOnce: everything desired is released at once. RollingSync:
   :func:`gitops.appset.rollout.advance` releases clusters step by step behind the gate (fresh
   statuses from the :class:`~gitops.state.base.RecordReader`, the optional Prometheus gate);
6. save the record with compare-and-set (another writer in between: a temporary StateError, the task
   retries), then bury a tombstone per deleted application;
7. report what the workers must do: reconcile what was created or changed (AllAtOnce), sync what a
   rollout step released, forget the targets no longer released.

Key design choice: the controller never talks to a cluster and never syncs; it only decides which
applications the fleet holds and asks the workers for reconciles, so every safety rule lives in pure
functions (lifecycle, rollout) and a crash between two steps loses nothing (the record is the truth,
saved before anything is enqueued; a reconcile asked twice is harmless).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gitops.appset.applications import Generated, render_applications
from gitops.appset.generate import ElementError, Inputs, generate
from gitops.appset.generated import GeneratedApp
from gitops.appset.lifecycle import decide
from gitops.appset.ports import GitTree
from gitops.appset.record import AppSetState, LastRun, parse_app
from gitops.appset.rollout import GateResult, PrometheusCheck, RolloutState, advance, plan_rollout, wants_gate
from gitops.clock import Clock
from gitops.config.application import ApplicationSet
from gitops.domain import Fleet
from gitops.errors import GitOpsError, InputError, StateError
from gitops.state.appsets import AppSetStore, Tombstone
from gitops.state.base import RecordReader
from gitops.state.model import TargetStatus
from gitops.vocabulary import Target

_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_LISTED = 20  # errors and notes kept on the record per run
CAS_ATTEMPTS = 5


class Heads(Protocol):
    """The commit a repository's ref names now (``ref`` None: the repository's configured ref)."""

    def head(self, repository: str, ref: str | None) -> str: ...


class Gate(Protocol):
    """The optional Prometheus gate (gitops.appset.prometheus)."""

    def check(self, gate: PrometheusCheck) -> GateResult: ...


@dataclass
class ControllerPorts:
    """What one controller pass reads and writes."""

    store: AppSetStore
    statuses: RecordReader
    git: GitTree
    heads: Heads
    clock: Clock
    gate: Gate | None = None


@dataclass(frozen=True)
class RunReport:
    """One pass: the saved record, the targets to reconcile (created or changed, AllAtOnce), to sync (a
    rollout step released them), to forget (no longer released), and what happened, in sentences."""

    state: AppSetState
    reconcile: tuple[Target, ...] = ()
    sync: tuple[Target, ...] = ()
    forget: tuple[Target, ...] = ()
    events: tuple[str, ...] = field(default=())


def load_state(store: AppSetStore, name: str) -> tuple[AppSetState, int]:
    """The set's record and its version (a fresh record and 0 when there is none)."""
    found = store.load(name)
    if found is None:
        return AppSetState(name), 0
    return AppSetState.from_json(name, found.text), found.version


def run_appset(appset: ApplicationSet, fleet: Fleet, ports: ControllerPorts) -> RunReport:
    """One pass of the controller over ``appset`` (see the module docstring)."""
    now = ports.clock.now()
    state, version = load_state(ports.store, appset.name)
    generation = generate(appset, Inputs(fleet, ports.git))
    rendered = render_applications(appset, generation, fleet)
    taken = _taken(ports.store, fleet, appset.name)
    errors: list[str] = [str(e) for e in generation.errors]
    generated: dict[str, GeneratedApp] = {}
    rolling = appset.strategy.rolling_sync
    pins: dict[tuple[str, str | None], str | Exception] = {}
    pin_failed = 0
    for item in rendered:
        if isinstance(item, ElementError):
            errors.append(str(item))
            continue
        assert isinstance(item, Generated)
        name = item.application.name
        if name in taken:
            errors.append(f"template: element {item.index}: application name {name!r} is already used by "
                          f"{taken[name]}")
            continue
        document: Mapping[str, Any] = item.document
        if rolling is not None:
            pinned = _pin(document, ports.heads, pins)
            if isinstance(pinned, str):
                errors.append(f"template: element {item.index}: {pinned}")
                pin_failed += 1
                continue
            document = pinned
        generated[name] = GeneratedApp.of(document)
    complete = generation.complete and not pin_failed
    decision = decide(state.desired, generated, complete=complete, element_errors=len(errors),
                      policy=appset.sync_policy, pending=state.pending, now=now, kept=state.kept)
    events = list(decision.notes)
    reconcile: tuple[Target, ...] = ()
    sync: tuple[Target, ...] = ()
    rollout: RolloutState | None = None
    if rolling is None:
        released = dict(decision.desired)
        reconcile = tuple(_target(decision.desired[n]) for n in (*decision.created, *decision.updated))
    else:
        released = {n: a for n, a in state.released.items() if n in decision.desired}
        plan = plan_rollout(rolling, {a.cluster: dict(fleet.clusters[a.cluster].labels)
                                      for a in decision.desired.values() if a.cluster in fleet.clusters})
        statuses = _statuses(ports.statuses, decision.desired, state.rollout)
        gate = None
        if wants_gate(plan, state.rollout) and plan.prometheus is not None and ports.gate is not None:
            gate = ports.gate.check(plan.prometheus)
        step = advance(plan, state.rollout, decision.desired, released, statuses, gate, now,
                       paused=state.paused)
        for name in step.release:
            released[name] = decision.desired[name]
        rollout, sync, events = step.state, step.sync, events + list(step.events)
    dropped = {_target(a) for a in state.released.values()} - {_target(a) for a in released.values()}
    forget = tuple(sorted(dropped, key=str))
    last = LastRun(now, complete, tuple(errors[:MAX_LISTED]), tuple(str(f) for f in generation.failures),
                   tuple(events[:MAX_LISTED]), len(decision.created), len(decision.updated),
                   len(decision.deleted))
    kept = tuple(n for n in state.kept if n not in generated and n in decision.desired)
    new = state.with_(desired=decision.desired, released=released, pending=decision.pending, rollout=rollout,
                      last_run=last, kept=kept)
    if ports.store.save(appset.name, new.to_json(), version) is None:
        raise StateError(f"ApplicationSet {appset.name!r} was changed by another writer during this pass; "
                         "it runs again", temporary=True)
    retention = appset.sync_policy.tombstone_retention_seconds
    for name in decision.deleted:
        gone = state.desired[name]
        ports.store.bury(Tombstone(appset.name, name, json.dumps(gone.to_dict(), sort_keys=True), now,
                                   now + retention, "no longer generated"))
    return RunReport(new, reconcile, sync, forget, tuple(events))


def forget_set(store: AppSetStore, name: str, now: float, retention: float) -> tuple[Target, ...]:
    """An ApplicationSet removed from the configuration: tombstone its applications, drop its record;
    the targets it released, for the workers to forget."""
    found = store.load(name)
    if found is None:
        return ()
    state = AppSetState.from_json(name, found.text)
    for app in state.desired.values():
        store.bury(Tombstone(name, app.name, json.dumps(app.to_dict(), sort_keys=True), now, now + retention,
                             "ApplicationSet removed from the configuration"))
    store.drop(name)
    return tuple(sorted((_target(a) for a in state.released.values()), key=str))


def _taken(store: AppSetStore, fleet: Fleet, own: str) -> dict[str, str]:
    taken = {name: "a configured Application" for name in fleet.applications}
    for other in store.names():
        if other == own:
            continue
        found = store.load(other)
        if found is None:
            continue
        try:
            names = json.loads(found.text).get("desired", [])
        except ValueError:
            continue
        for doc in names:
            if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                taken.setdefault(doc["name"], f"ApplicationSet {other!r}")
    return taken


def _pin(document: Mapping[str, Any], heads: Heads,
         cache: dict[tuple[str, str | None], str | Exception]) -> Mapping[str, Any] | str:
    """The document with its source revision pinned to a commit, or why that failed (text)."""
    source = dict(document.get("source", {}))
    revision = source.get("revision")
    if isinstance(revision, str) and _SHA.match(revision.lower()):
        return document
    key = (str(source.get("repository")), revision if isinstance(revision, str) else None)
    if key not in cache:
        try:
            cache[key] = heads.head(*key)
        except GitOpsError as exc:
            cache[key] = exc
    found = cache[key]
    if isinstance(found, Exception):
        return f"the head of repository {key[0]!r} could not be resolved: {found}"
    return {**document, "source": {**source, "revision": found}}


def _target(app: GeneratedApp) -> Target:
    return Target(app.name, app.cluster)


def _statuses(reader: RecordReader, desired: Mapping[str, GeneratedApp],
              rollout: RolloutState | None) -> dict[Target, TargetStatus | None]:
    """Fresh statuses of the applications on the clusters the running rollout released (only those
    can decide the gate)."""
    if rollout is None or not rollout.released:
        return {}
    clusters = set(rollout.released)
    return {_target(a): reader.status(_target(a)) for a in desired.values() if a.cluster in clusters}


# --- the user's verbs ------------------------------------------------------------------------------------


def _update(store: AppSetStore, name: str, change: Callable[[AppSetState], tuple[AppSetState, str]]) -> str:
    """Read, change and save with compare-and-set (retried on a concurrent write); the change's message.
    InputError when the set has no record yet (the controller has not run for it)."""
    for _ in range(CAS_ATTEMPTS):
        found = store.load(name)
        if found is None:
            raise InputError(f"ApplicationSet {name!r} has no state yet (is it configured, and has the "
                             "engine run it?)", field="appset")
        state = AppSetState.from_json(name, found.text)
        new, message = change(state)
        if new == state:
            return message
        if store.save(name, new.to_json(), found.version) is not None:
            return message
    raise StateError(f"ApplicationSet {name!r} kept changing; try again", temporary=True)


def approve(store: AppSetStore, name: str, change_id: str | None = None) -> str:
    """Approve the held change (deletions over the breaker), or else the rollout step waiting for an
    approval. ``change_id``: approve only that change (what ``gitops appset status`` showed)."""
    def act(state: AppSetState) -> tuple[AppSetState, str]:
        if state.pending is not None:
            if change_id and change_id != state.pending.id:
                raise InputError(f"the held change is {state.pending.id}, not {change_id}", field="change")
            return (state.with_(pending=replace(state.pending, approved=True)),
                    f"approved change {state.pending.id}: {len(state.pending.deletes)} deletion(s), "
                    f"{len(state.pending.moves)} move(s), applied on the next pass")
        if state.rollout is not None and state.rollout.phase == "WaitingApproval":
            return (state.with_(rollout=replace(state.rollout, approved_step=state.rollout.step)),
                    f"approved step {state.rollout.step + 1} of the rollout")
        raise InputError(f"ApplicationSet {name!r} has nothing waiting for an approval", field="appset")
    return _update(store, name, act)


def pause(store: AppSetStore, name: str) -> str:
    """Release nothing more until ``resume`` (statuses are still observed)."""
    return _update(store, name, lambda s: (s.with_(paused=True), f"ApplicationSet {name!r} paused"))


def resume(store: AppSetStore, name: str) -> str:
    """Undo ``pause``, and take a halted rollout up again at its current step."""
    def act(state: AppSetState) -> tuple[AppSetState, str]:
        rollout = state.rollout
        if rollout is not None and rollout.phase == "Halted":
            again = tuple(sorted(c for c in rollout.released if c not in rollout.done))
            rollout = replace(rollout, phase="Progressing", gate_since=None, retry=again,
                              message=f"resumed at step {rollout.step + 1}: syncing {len(again)} "
                                      "cluster(s) again")
        return state.with_(paused=False, rollout=rollout), f"ApplicationSet {name!r} resumed"
    return _update(store, name, act)


def restore(store: AppSetStore, name: str, application: str) -> str:
    """Bring back a deleted application from its tombstone; it is kept even while no element generates
    it (until ``delete``)."""
    def act(state: AppSetState) -> tuple[AppSetState, str]:
        if application in state.desired:
            raise InputError(f"application {application!r} is in the set already", field="application")
        stone = next((t for t in store.tombstones(name) if t.application == application), None)
        if stone is None:
            raise InputError(f"no tombstone of {application!r} in ApplicationSet {name!r} (expired, or "
                             "never deleted)", field="application")
        try:
            app = parse_app(json.loads(stone.document))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"the tombstone of {application!r} is unreadable: {exc}") from None
        return (state.with_(desired={**state.desired, app.name: app},
                            released={**state.released, app.name: app},
                            kept=tuple(sorted({*state.kept, app.name}))),
                f"restored {application!r} on cluster {app.cluster!r}; it is kept until "
                f"`gitops appset delete {name} {application}`")
    message = _update(store, name, act)
    store.exhume(name, application)
    return message


def delete(store: AppSetStore, name: str, application: str) -> str:
    """Stop keeping a restored application: the next pass deletes it unless an element generates it."""
    def act(state: AppSetState) -> tuple[AppSetState, str]:
        if application not in state.kept:
            raise InputError(f"application {application!r} is not a kept (restored) application of "
                             f"{name!r}", field="application")
        return (state.with_(kept=tuple(n for n in state.kept if n != application)),
                f"{application!r} is no longer kept; the next pass deletes it unless it is generated")
    return _update(store, name, act)


__all__ = ["ControllerPorts", "Gate", "Heads", "RunReport", "approve", "delete", "forget_set", "load_state",
           "pause", "restore", "resume", "run_appset"]
