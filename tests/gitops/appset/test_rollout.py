"""The progressive rollout (gitops.appset.rollout): planning the steps and advancing through them.

Pure and fast: applications are built by hand, statuses are TargetStatus values with explicit
``reconciled_at`` times, and the clock is a number the test moves (no sleeps). :class:`Sim` plays the
controller: it keeps the desired and released sets and the stored state, and applies each Advance.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.appset.generated import GeneratedApp, fingerprint
from gitops.appset.rollout import (
    Advance,
    GateResult,
    PrometheusCheck,
    RolloutPlan,
    RolloutState,
    Step,
    advance,
    changed_apps,
    fingerprint_of,
    plan_rollout,
    wants_gate,
)
from gitops.config.fanout import RollingSync
from gitops.state.model import TargetStatus
from gitops.vocabulary import HealthStatus, SyncStatus, Target

TEN = [f"c{i}" for i in range(10)]


def app(cluster: str, revision: str | None = "r2", name: str = "web") -> GeneratedApp:
    document = {"name": f"{name}-{cluster}", "destination": {"cluster": cluster},
                "source": {"repository": "apps", "revision": revision}}
    return GeneratedApp(f"{name}-{cluster}", cluster, revision, document, fingerprint(document))


def apps(clusters: Iterable[str], revision: str | None = "r2", name: str = "web") -> dict[str, GeneratedApp]:
    return {a.name: a for a in (app(c, revision, name) for c in clusters)}


def strategy(*steps: dict[str, Any], **options: Any) -> RollingSync:
    return RollingSync.model_validate({"steps": list(steps), **options})


def status(a: GeneratedApp, at: float, *, health: HealthStatus = HealthStatus.HEALTHY,
           sync: SyncStatus = SyncStatus.SYNCED, revision: str | None = "same", error: str | None = None,
           temporary: bool = False) -> TargetStatus:
    return TargetStatus(a.name, a.cluster, a.revision if revision == "same" else revision, sync, health,
                        error=error, temporary=temporary, reconciled_at=at)


class Sim:
    """The controller's side: desired and released sets, the stored state, statuses, the clock."""

    def __init__(self, plan: RolloutPlan, desired: Mapping[str, GeneratedApp],
                 released: Mapping[str, GeneratedApp], now: float = 1000.0) -> None:
        self.plan, self.desired, self.released = plan, dict(desired), dict(released)
        self.state: RolloutState | None = None
        self.statuses: dict[Target, TargetStatus | None] = {}
        self.now = now
        self.releases: list[str] = []  # clusters, in release order

    def run(self, *, dt: float = 1.0, gate: GateResult | None = None, paused: bool = False) -> Advance:
        self.now += dt
        out = advance(self.plan, self.state, self.desired, self.released, self.statuses, gate, self.now,
                      paused=paused)
        for name in out.release:
            self.released[name] = self.desired[name]
        assert sorted(out.release) == sorted(t.application for t in out.sync)
        self.releases += sorted({t.cluster for t in out.sync}, key=lambda c: out.sync.index(
            next(t for t in out.sync if t.cluster == c)))
        self.state = out.state
        return out

    def report(self, *clusters: str, **kwargs: Any) -> None:
        """Every desired application of ``clusters`` reports a status reconciled now (after a release)."""
        for a in self.desired.values():
            if a.cluster in clusters:
                self.statuses[Target(a.name, a.cluster)] = status(a, self.now + 0.5, **kwargs)

    @property
    def phase(self) -> str | None:
        return None if self.state is None else self.state.phase


def ten(steps: tuple[dict[str, Any], ...] = ({"share": "10%"}, {"share": "40%"}, {"share": "100%"}),
        **options: Any) -> Sim:
    plan = plan_rollout(strategy(*steps, **options), {c: {} for c in TEN})
    return Sim(plan, apps(TEN, "r2"), apps(TEN, "r1"))


# --- planning --------------------------------------------------------------------------------------------


def test_shares_are_cumulative_over_the_clusters_by_name() -> None:
    plan = plan_rollout(strategy({"share": "5%"}, {"share": "30%"}, {"share": "100%"}),
                        {c: {} for c in reversed(TEN)})
    assert [s.clusters for s in plan.steps] == [("c0",), ("c1", "c2"), tuple(TEN[3:])]
    assert [s.index for s in plan.steps] == [0, 1, 2]


def test_selector_steps_take_what_no_earlier_step_took_and_the_rest_is_an_implicit_step() -> None:
    labels = {"a": {"tier": "canary"}, "b": {"tier": "prod", "region": "eu"}, "c": {"tier": "prod"},
              "d": {"tier": "canary", "region": "eu"}, "e": {}}
    plan = plan_rollout(strategy({"clusters": {"tier": "canary"}, "approval": True, "bake": "10s"},
                                 {"clusters": {"matchExpressions": [{"key": "region", "operator": "Exists"}]},
                                  "maxConcurrent": 1},
                                 {"clusters": {"tier": "staging"}},
                                 bake="2m", maxConcurrent=3),
                        labels)
    resolved = [(s.index, s.clusters, s.approval, s.bake_seconds, s.max_concurrent, s.origin)
                for s in plan.steps]
    assert resolved == [(0, ("a", "d"), True, 10.0, 3, 0), (1, ("b",), False, 120.0, 1, 1),
                        (2, ("c", "e"), False, 120.0, 3, None)]


def test_a_share_takes_at_least_one_cluster_and_empty_steps_are_dropped() -> None:
    labels = {c: {"tier": "canary" if c in ("c0", "c1") else "prod"} for c in TEN}
    plan = plan_rollout(strategy({"clusters": {"tier": "canary"}}, {"share": "10%"}, {"share": "0%"},
                                 {"share": "100%"}, {"share": "100%"}), labels)
    assert [s.clusters for s in plan.steps] == [("c0", "c1"), ("c2",), tuple(TEN[3:])]
    assert [s.origin for s in plan.steps] == [0, 1, 3]


def test_the_plan_carries_the_prometheus_gate_and_the_new_revision_mode() -> None:
    plan = plan_rollout(strategy({"share": "50%"}, prometheus={"url": "http://prom:9090", "query": "up == 1"},
                                 onNewRevision="continue"), {"x": {}})
    assert plan.prometheus == PrometheusCheck("http://prom:9090", "up == 1", 10.0)
    assert plan.on_new_revision == "continue"
    assert plan.steps == (Step(0, ("x",), False, 60.0, 10, 0),)
    assert plan_rollout(strategy({"share": "50%"}), {}).steps == ()


def test_fingerprint_of_is_the_identity_of_the_desired_set() -> None:
    one = apps(["a", "b"])
    assert fingerprint_of(one) == fingerprint_of(dict(reversed(list(one.items()))))
    assert fingerprint_of(one) != fingerprint_of(apps(["a", "b"], "r3"))
    assert fingerprint_of(one) != fingerprint_of(apps(["a"]))
    assert changed_apps(one, apps(["a"], "r1")) == one
    assert changed_apps(one, one) == {}


# --- advancing -------------------------------------------------------------------------------------------


def test_nothing_changed_means_no_rollout() -> None:
    desired = apps(TEN)
    plan = plan_rollout(strategy({"share": "50%"}), {c: {} for c in TEN})
    assert advance(plan, None, desired, desired, {}, None, 1.0) == Advance(None)
    other = RolloutState("another", 0.0, 1, "Halted")
    assert advance(plan, other, desired, desired, {}, None, 1.0) == Advance(None)
    finished = RolloutState(fingerprint_of(desired), 0.0, 1, "Completed", message="completed")
    assert advance(plan, finished, desired, desired, {}, None, 1.0) == Advance(finished)


def test_clusters_are_released_at_most_max_concurrent_in_flight() -> None:
    sim = ten(({"share": "100%"},), maxConcurrent=3, bake=0)
    out = sim.run()
    assert sim.releases == ["c0", "c1", "c2"]
    assert out.release == ("web-c0", "web-c1", "web-c2")
    assert out.sync == tuple(Target(f"web-c{i}", f"c{i}") for i in range(3))
    assert sim.state is not None and sim.state.released == {"c0": sim.now, "c1": sim.now, "c2": sim.now}
    sim.run()
    assert sim.releases == ["c0", "c1", "c2"]  # none passed yet: nothing more in flight
    sim.report("c1")
    out = sim.run()
    assert sim.releases == ["c0", "c1", "c2", "c3"]
    assert "released cluster c3 (step 1/1)" in out.events
    assert sim.state is not None and set(sim.state.done) == {"c1"}


def test_a_status_older_than_the_release_never_passes() -> None:
    sim = ten(({"share": "10%"}, {"share": "100%"}), bake=0)
    sim.run()
    released_at = sim.now
    target = Target("web-c0", "c0")
    # the right revision, Synced and Healthy, but reconciled before the release: not a pass
    sim.statuses[target] = status(sim.desired["web-c0"], released_at - 0.1)
    sim.run(dt=100)
    assert sim.releases == ["c0"]
    assert sim.state is not None and sim.state.done == {}
    assert "no status since its release" in sim.state.message
    # fresh, but still at the old revision: not a pass either
    sim.statuses[target] = status(sim.desired["web-c0"], sim.now, revision="r1")
    sim.run()
    assert sim.releases == ["c0"]
    sim.report("c0")
    sim.run()
    assert sim.releases[:2] == ["c0", "c1"]


def test_the_gate_bakes_for_the_step_bake_time_then_the_next_step_starts() -> None:
    sim = ten(({"share": "10%"}, {"share": "100%"}), bake="60s", maxConcurrent=1)
    sim.run()
    sim.report("c0")
    out = sim.run(dt=10)
    assert sim.state is not None and sim.state.gate_since == sim.now
    assert "step 1/2 gate holds; baking 60s" in out.events
    since = sim.now
    sim.run(dt=59)
    assert sim.releases == ["c0"] and sim.state.message == "step 1/2 baking: 59s of 60s"
    out = sim.run(dt=1)
    assert sim.releases == ["c0", "c1"]
    assert out.events[:2] == ("step 1/2 done", "step 2/2 started: c1, c2, c3, c4, c5 and 4 more")
    assert sim.state is not None and sim.state.step == 1 and sim.state.gate_since is None
    assert sim.state.done == {"c0": since}


def test_a_cluster_that_stops_passing_during_the_bake_resets_it() -> None:
    sim = ten(({"share": "10%"}, {"share": "100%"}), bake="60s")
    sim.run()
    sim.report("c0")
    sim.run()
    sim.run(dt=30)
    sim.report("c0", health=HealthStatus.PROGRESSING)
    out = sim.run(dt=30)
    assert sim.state is not None and sim.state.gate_since is None and sim.state.done == {}
    assert "step 1/2 gate no longer holds: c0 stopped passing" in out.events
    sim.report("c0")
    sim.run(dt=1)
    assert sim.state.gate_since == sim.now and sim.releases == ["c0"]


def test_a_degraded_cluster_in_step_two_halts_and_later_steps_are_never_released() -> None:
    sim = ten(bake="5m", maxConcurrent=2)
    sim.run()
    assert sim.releases == ["c0"]
    sim.report("c0")
    sim.run()
    sim.run(dt=300)
    assert sim.releases == ["c0", "c1", "c2"]
    sim.report("c1")
    sim.run()
    assert sim.releases == ["c0", "c1", "c2", "c3"]
    sim.report("c2", health=HealthStatus.DEGRADED, sync=SyncStatus.SYNCED)
    out = sim.run()
    assert sim.state is not None and sim.state.phase == "Halted"
    assert sim.state.message == "halted at step 2/3: application web-c2 on cluster c2 is Degraded"
    assert out.events == ("rollout halted: application web-c2 on cluster c2 is Degraded",)
    assert out.release == ()
    halted = sim.state
    sim.report(*TEN)  # everything healthy now: a halted rollout stays halted
    for _ in range(5):
        assert sim.run(dt=1000) == Advance(halted)
    assert sim.releases == ["c0", "c1", "c2", "c3"]
    assert all(sim.released[f"web-c{i}"].revision == "r1" for i in range(4, 10))


def test_resume_re_evaluates_from_the_current_state() -> None:
    sim = ten(bake=0, maxConcurrent=5)
    sim.run()
    sim.report("c0", health=HealthStatus.DEGRADED)
    sim.run()
    assert sim.phase == "Halted"
    assert sim.state is not None
    sim.state = replace(sim.state, phase="Progressing", gate_since=None, message="resumed at step 1")
    sim.run()  # still degraded: halts again
    assert sim.phase == "Halted" and sim.releases == ["c0"]
    sim.state = replace(sim.state, phase="Progressing")
    sim.report("c0")
    out = sim.run()
    assert sim.phase == "Progressing" and sim.releases == ["c0", "c1", "c2", "c3"]
    assert out.events[0] == "step 1/3 gate holds; baking 0s"


def test_a_permanent_error_at_the_desired_revision_halts_a_temporary_one_waits() -> None:
    sim = ten(({"share": "100%"},), maxConcurrent=2)
    sim.run()
    sim.report("c0", error="git unreachable", temporary=True, health=HealthStatus.UNKNOWN)
    sim.report("c1", error="render failed: bad\nvalues", revision="r1")  # at another revision: not ours
    sim.run()
    assert sim.phase == "Progressing" and sim.releases == ["c0", "c1"]
    assert sim.state is not None and "git unreachable" in sim.state.message
    sim.report("c1", error="render failed: bad\nvalues")
    sim.run()
    assert sim.phase == "Halted"
    assert sim.state.message.endswith("application web-c1 on cluster c1 failed at revision r2: "
                                      "render failed: bad values")


def test_a_new_revision_mid_rollout_restarts_from_the_first_step() -> None:
    sim = ten(bake=0)
    sim.run()
    sim.report("c0")
    sim.run()
    assert sim.state is not None and sim.state.step == 1 and sim.releases == ["c0", "c1", "c2", "c3"]
    old = sim.state.id
    sim.desired = apps(TEN, "r3")
    out = sim.run()
    assert sim.state.id == fingerprint_of(sim.desired) != old
    assert sim.state.step == 0 and sim.state.released == {"c0": sim.now} and out.release == ("web-c0",)
    assert out.events[0].startswith(f"rollout {sim.state.id[:12]} started: 10 application(s)")
    assert sim.released["web-c0"].revision == "r3" and sim.released["web-c1"].revision == "r2"


def test_continue_keeps_the_step_and_re_releases_what_had_taken_the_rollout() -> None:
    sim = ten(bake=0, maxConcurrent=1, onNewRevision="continue")
    sim.run()
    sim.report("c0")
    sim.run()
    sim.report("c1")
    sim.run()
    assert sim.releases == ["c0", "c1", "c2"]
    assert sim.state is not None and sim.state.step == 1
    sim.desired = apps(TEN, "r3")
    out = sim.run()
    # c0 (step 1) and c1, c2 (step 2) had taken the rollout: they get r3 at once, c3 waits its turn
    assert sim.state.step == 1 and sim.state.phase == "Progressing"
    assert out.release == ("web-c0", "web-c1", "web-c2")
    assert sim.state.released == {c: sim.now for c in ("c0", "c1", "c2")} and sim.state.done == {}
    assert "re-released c0, c1, c2 with the new revision" in out.events
    sim.report("c1", "c2")
    sim.run()
    assert "c3" not in sim.releases[3:]  # c0 (an earlier step) must pass again first
    sim.report("c0")
    sim.run()
    assert sim.releases[-1] == "c3"


def test_continue_takes_up_a_halted_rollout_with_the_fix() -> None:
    sim = ten(bake=0, onNewRevision="continue")
    sim.run()
    sim.report("c0", health=HealthStatus.DEGRADED)
    sim.run()
    assert sim.phase == "Halted"
    sim.desired = apps(TEN, "r3")
    out = sim.run()
    assert sim.phase == "Progressing" and out.release == ("web-c0",)


def test_an_approval_step_waits_for_approved_step() -> None:
    sim = ten(({"share": "10%"}, {"share": "100%", "approval": True}), bake=0, maxConcurrent=10)
    sim.run()
    sim.report("c0")
    out = sim.run()
    assert sim.state is not None and sim.state.phase == "WaitingApproval" and sim.state.step == 1
    assert "step 2/2 waits for approval (gitops appset approve)" in out.events
    assert sim.releases == ["c0"]
    out = sim.run(dt=1000)
    assert out.release == () and out.events == () and sim.phase == "WaitingApproval"
    sim.state = replace(sim.state, approved_step=0)  # another step's approval does not count
    assert sim.run().release == ()
    sim.state = replace(sim.state, approved_step=1)
    out = sim.run()
    assert sim.phase == "Progressing" and len(out.release) == 9 and "step 2/2 approved" in out.events


def test_paused_observes_but_releases_nothing() -> None:
    sim = ten(bake=0)
    assert sim.run(paused=True).release == ()
    assert sim.phase == "Progressing" and sim.state is not None and sim.state.released == {}
    sim.run()
    sim.report("c0")
    out = sim.run(paused=True)
    assert out.release == () and sim.state.step == 1 and sim.state.done == {"c0": sim.now}
    assert sim.state.message == "step 2/3: 0/3 cluster(s) passed, 0 in flight; paused"
    sim.run()
    sim.report("c1", health=HealthStatus.DEGRADED)
    sim.run(paused=True)
    assert sim.phase == "Halted"


def test_a_failing_prometheus_gate_blocks_the_bake() -> None:
    sim = ten(({"share": "10%"}, {"share": "100%"}), bake="60s",
              prometheus={"url": "http://prom:9090", "query": "up"})
    assert wants_gate(sim.plan, sim.state) is False
    sim.run()
    assert wants_gate(sim.plan, sim.state) is True
    sim.report("c0")
    sim.run(gate=GateResult(True, "holds"))
    assert sim.state is not None and sim.state.gate_since == sim.now
    out = sim.run(dt=50, gate=GateResult(False, "error rate 3%"))
    assert sim.state.gate_since is None
    assert sim.state.message == "step 1/2: Prometheus gate does not hold: error rate 3%"
    assert out.events == \
        ("step 1/2: the Prometheus gate does not hold, the bake starts again: error rate 3%",)
    assert sim.run(dt=100, gate=GateResult(False, "error rate 3%")).events == ()
    sim.run(dt=1, gate=GateResult(True, "holds"))
    sim.run(dt=100, gate=None)  # no answer: the bake cannot complete
    assert sim.releases == ["c0"] and "waiting for an answer" in sim.state.message
    sim.run(dt=1, gate=GateResult(True, "holds"))
    assert sim.releases[:2] == ["c0", "c1"]


def test_the_last_step_is_verified_before_the_rollout_completes() -> None:
    sim = ten(({"share": "100%"},), bake="10s")
    sim.run()
    assert changed_apps(sim.desired, sim.released) == {}
    sim.run()
    assert sim.phase == "Progressing"
    sim.report(*TEN)
    sim.run()
    out = sim.run(dt=10)
    assert sim.phase == "Completed" and out.events == ("step 1/1 done", "rollout completed")
    assert sim.state is not None and sim.state.message == "completed: 10 cluster(s) released, all passed"
    assert sim.run() == Advance(sim.state)


def test_steps_with_nothing_to_release_are_skipped_and_unknown_clusters_join_the_last_step() -> None:
    plan = plan_rollout(strategy({"share": "10%", "approval": True}, {"share": "100%"}, bake=0),
                        {c: {} for c in TEN})
    desired = {**apps(TEN, "r1"), "web-c5": app("c5", "r2"), **apps(["z"], "r2", name="new")}
    sim = Sim(plan, desired, apps(TEN, "r1"))
    out = sim.run()
    assert out.events[1] == "step 1/2 skipped: nothing to release on its clusters"
    assert out.release == ("web-c5", "new-z") and sim.state is not None and sim.state.step == 1


def test_the_state_round_trips_through_json() -> None:
    sim = ten(bake=0)
    sim.run()
    sim.report("c0")
    sim.run()
    state = replace(sim.state or RolloutState("x", 0, 0, "Progressing"), gate_since=12.5, approved_step=1)
    text = json.dumps(state.to_dict())
    assert RolloutState.from_dict(json.loads(text)) == state
    assert RolloutState.from_dict({"id": "abc", "step": 0, "phase": "Halted"}) \
        == RolloutState("abc", 0.0, 0, "Halted")


@pytest.mark.parametrize("garbage", [
    [], {"step": 0, "phase": "Progressing"}, {"id": "a", "step": 0, "phase": "Sleeping"},
    {"id": "a", "step": "1", "phase": "Progressing"}, {"id": "a", "step": -1, "phase": "Progressing"},
    {"id": "a", "step": 0, "phase": "Progressing", "released": {"c": "soon"}},
    {"id": "a", "step": 0, "phase": "Progressing", "released": ["c"]},
    {"id": "a", "step": 0, "phase": "Progressing", "done": {"c": float("nan")}},
    {"id": "a", "step": 0, "phase": "Progressing", "gate_since": True},
    {"id": "a", "step": 0, "phase": "Progressing", "message": 3},
    {"id": 7, "step": 0, "phase": "Progressing"},
])
def test_a_malformed_state_is_refused(garbage: Any) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        RolloutState.from_dict(garbage)


# --- the ordering property -------------------------------------------------------------------------------

TIERS = ("canary", "prod", "edge")


@st.composite
def fleets(draw: st.DrawFn) -> tuple[RolloutPlan, dict[str, GeneratedApp], dict[str, GeneratedApp]]:
    count = draw(st.integers(1, 8))
    labels = {f"c{i}": {"tier": draw(st.sampled_from(TIERS))} for i in range(count)}
    step = st.one_of(st.fixed_dictionaries({"share": st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0])}),
                     st.fixed_dictionaries({"clusters": st.sampled_from(TIERS).map(lambda t: {"tier": t})}))
    steps = draw(st.lists(st.tuples(step, st.sampled_from([None, 1, 2]), st.booleans()),
                          min_size=1, max_size=4))
    configured = [{**s, **({"maxConcurrent": m} if m else {}), "approval": a} for s, m, a in steps]
    plan = plan_rollout(strategy(*configured, bake=draw(st.sampled_from([0, 5, 30])),
                                 maxConcurrent=draw(st.integers(1, 3))), labels)
    desired: dict[str, GeneratedApp] = {}
    released: dict[str, GeneratedApp] = {}
    for cluster in labels:
        for name in ("web", "db")[:draw(st.integers(1, 2))]:
            new = app(cluster, "r2", name)
            desired[new.name] = new
            if not draw(st.booleans()) or cluster == "c0":  # c0 always changes: something to roll out
                released[new.name] = app(cluster, "r1", name)
            else:
                released[new.name] = new
    return plan, desired, released


def _passes(sim: Sim, cluster: str, since: float) -> bool:
    for a in sim.desired.values():
        s = sim.statuses.get(Target(a.name, a.cluster))
        if a.cluster == cluster and (s is None or s.reconciled_at < since or s.revision != a.revision
                                     or s.sync != SyncStatus.SYNCED or s.health != HealthStatus.HEALTHY
                                     or s.error is not None):
            return False
    return True


@settings(max_examples=200, deadline=None)
@given(fleets(), st.randoms(use_true_random=False), st.booleans())
def test_a_cluster_is_never_released_before_every_cluster_of_the_earlier_steps_passed(
        fleet: tuple[RolloutPlan, dict[str, GeneratedApp], dict[str, GeneratedApp]], rnd: random.Random,
        degrade: bool) -> None:
    plan, desired, released = fleet
    sim = Sim(plan, desired, released)
    step_of = {c: s.index for s in plan.steps for c in s.clusters}
    changed = {a.cluster for a in changed_apps(desired, released).values()}
    released_at: dict[str, float] = {}
    passed: set[str] = set()
    for _ in range(60):
        for a in desired.values():  # the workers report on the released clusters, good or bad
            if a.cluster in released_at and rnd.random() < 0.6:
                kinds = ["good"] * 5 + ["progressing", "stale", "old", "none"] + ["degraded"] * degrade
                kind = rnd.choice(kinds)
                at = released_at[a.cluster] - 1 if kind == "stale" else sim.now + rnd.choice([0.0, 0.5])
                sim.statuses[Target(a.name, a.cluster)] = None if kind == "none" else status(
                    a, at, health=HealthStatus.PROGRESSING if kind == "progressing"
                    else HealthStatus.DEGRADED if kind == "degraded" else HealthStatus.HEALTHY,
                    revision="r1" if kind == "old" else "same")
        passing = {c for c, since in released_at.items() if _passes(sim, c, since)}
        passed |= passing
        if sim.state is not None and sim.state.phase == "WaitingApproval" and rnd.random() < 0.5:
            sim.state = replace(sim.state, approved_step=sim.state.step)
        if sim.state is not None and sim.state.phase == "Halted" and rnd.random() < 0.2:
            sim.state = replace(sim.state, phase="Progressing")
        before = sim.state
        paused = rnd.random() < 0.1
        gate = rnd.choice([None, GateResult(True, "ok"), GateResult(False, "no")])
        dt = rnd.choice([0.0, 1.0, 5.0, 40.0])
        out = sim.run(dt=dt, gate=gate, paused=paused)
        now_released = {t.cluster for t in out.sync}
        if now_released:
            assert not paused
            assert before is None or before.phase != "Halted"
            assert out.state is not None and out.state.phase != "Halted"
        for cluster in now_released:
            assert cluster in changed and cluster not in released_at  # once per rollout, only what changed
            k = step_of[cluster]
            for earlier in changed:
                if step_of[earlier] < k:
                    assert earlier in passed, f"{cluster} (step {k + 1}) released before {earlier} passed"
        for step in plan.steps:
            mine = now_released & set(step.clusters)
            if mine:
                flying = [c for c in step.clusters if c in released_at and c not in passing]
                assert len(flying) + len(mine) <= step.max_concurrent
        for cluster in now_released:
            released_at[cluster] = sim.now


@settings(max_examples=100, deadline=None)
@given(fleets())
def test_with_good_statuses_every_rollout_completes(
        fleet: tuple[RolloutPlan, dict[str, GeneratedApp], dict[str, GeneratedApp]]) -> None:
    plan, desired, released = fleet
    sim = Sim(plan, desired, released)
    changed = dict(changed_apps(desired, released))
    for _ in range(4 * len(desired) + 4 * len(plan.steps) + 2):
        if sim.phase == "Completed":
            break
        if sim.state is not None and sim.state.phase == "WaitingApproval":
            sim.state = replace(sim.state, approved_step=sim.state.step)
        sim.run(dt=30)
        sim.report(*{t.cluster for t in (Target(a.name, a.cluster) for a in desired.values())
                     if sim.state is not None and t.cluster in sim.state.released})
    assert sim.phase == "Completed"
    assert {n: sim.released[n] for n in changed} == changed


def test_the_clusters_to_sync_again_survive_the_round_trip() -> None:
    state = RolloutState("abc", 1.0, 1, "Progressing", {"c1": 2.0, "c2": 3.0}, {"c1": 4.0}, retry=("c2",))
    assert RolloutState.from_dict(state.to_dict()) == state
    assert RolloutState.from_dict({**state.to_dict(), "retry": None} | {"retry": []}).retry == ()
    with pytest.raises(TypeError):
        RolloutState.from_dict({**state.to_dict(), "retry": "c2"})
