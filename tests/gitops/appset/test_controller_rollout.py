"""The controller under RollingSync over fakes: revisions pinned per commit, clusters released step by
step, the gate read from statuses recorded after the release, a Degraded step halting with the later
clusters left on the old commit, resume, a new commit restarting the rollout, approval steps, pause,
the Prometheus gate, and a head that cannot be resolved deleting nothing."""

from __future__ import annotations

from typing import Any

from gitops import domain
from gitops.appset.controller import ControllerPorts, approve, load_state, pause, resume, run_appset
from gitops.appset.rollout import GateResult
from gitops.clock import ManualClock
from gitops.config.application import ApplicationSet, ApplicationSetSpec
from gitops.state.appsets import InMemoryAppSets
from gitops.state.model import TargetStatus
from gitops.testing.gate import StaticGate
from gitops.testing.gittree import FakeGitTree
from gitops.vocabulary import HealthStatus, SyncStatus, Target

OLD, NEW = "1" * 40, "2" * 40
RINGS = {"c0": "canary", "c1": "early", "c2": "early", "c3": "early"}
CLUSTERS = [domain.Cluster(f"c{i}", {"ring": RINGS.get(f"c{i}", "late")}, server=f"https://c{i}.example:6443")
            for i in range(10)]
FLEET = domain.Fleet({"demo": domain.Repository("demo", "https://git.example/demo.git")},
                     {c.name: c for c in CLUSTERS})


class Heads:
    def __init__(self) -> None:
        self.value: str | Exception = OLD

    def head(self, repository: str, ref: str | None) -> str:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class Statuses:
    """A RecordReader of the statuses the test records (what the workers would write)."""

    def __init__(self) -> None:
        self.by_target: dict[Target, TargetStatus] = {}

    def status(self, target: Target) -> TargetStatus | None:
        return self.by_target.get(target)

    def statuses(self) -> list[TargetStatus]:
        return list(self.by_target.values())

    def history(self, target: Target, limit: int = 50) -> list[Any]:
        return []

    def operation(self, target: Target, op_id: str) -> Any:
        return None

    def events(self, after: str = "0", count: int = 100, block_ms: int | None = None) -> list[Any]:
        return []

    def last_event_id(self) -> str:
        return "0"


def rolling(**rolling_sync: Any) -> ApplicationSet:
    spec = {"steps": [{"clusters": {"ring": "canary"}}, {"clusters": {"ring": "early"}}, {"share": "100%"}],
            "maxConcurrent": 10, "bake": "0s", **rolling_sync}
    model = ApplicationSetSpec.model_validate({
        "generators": [{"clusters": {}}],
        "template": {"metadata": {"name": "web-{{ name }}"},
                     "spec": {"source": {"repository": "demo", "path": "apps", "revision": "main"},
                              "destination": {"cluster": "{{ name }}"}}},
        "strategy": {"type": "RollingSync", "rollingSync": spec}}, by_alias=True, by_name=False)
    return ApplicationSet(name="web", **dict(model))


class World:
    def __init__(self, appset: ApplicationSet | None = None, gate: StaticGate | None = None) -> None:
        self.clock = ManualClock(1000.0)
        self.store = InMemoryAppSets(clock=self.clock)
        self.statuses = Statuses()
        self.heads = Heads()
        self.gate = gate
        self.appset = appset or rolling()

    def run(self) -> Any:
        self.clock.advance(1.0)
        ports = ControllerPorts(self.store, self.statuses, FakeGitTree({}), self.heads, self.clock, self.gate)
        return run_appset(self.appset, FLEET, ports)

    def report(self, cluster: str, revision: str, health: HealthStatus = HealthStatus.HEALTHY,
               sync: SyncStatus = SyncStatus.SYNCED, error: str | None = None) -> None:
        """The workers recorded a status of web-<cluster> now (after whatever was released before)."""
        self.clock.advance(1.0)
        t = Target(f"web-{cluster}", cluster)
        self.statuses.by_target[t] = TargetStatus(t.application, cluster, revision, sync, health, error=error,
                                                  reconciled_at=self.clock.now())

    def released(self) -> dict[str, str | None]:
        state, _ = load_state(self.store, "web")
        return {a.cluster: a.revision for a in state.released.values()}


def synced(report: Any) -> list[str]:
    return sorted(t.cluster for t in report.sync)


def test_a_rollout_goes_step_by_step_on_fresh_statuses_and_completes() -> None:
    w = World()
    first = w.run()
    assert synced(first) == ["c0"] and w.released() == {"c0": OLD}  # pinned to the commit main names
    assert len(first.state.desired) == 10 and first.state.rollout.phase == "Progressing"
    assert all(a.revision == OLD for a in first.state.desired.values())
    assert synced(w.run()) == [] and w.released() == {"c0": OLD}  # no status yet: nothing more
    w.report("c0", OLD)
    assert synced(w.run()) == ["c1", "c2", "c3"]
    for c in ("c1", "c2", "c3"):
        w.report(c, OLD)
    third = w.run()
    assert synced(third) == [f"c{i}" for i in range(4, 10)]
    for i in range(4, 10):
        w.report(f"c{i}", OLD)
    done = w.run()
    assert done.state.rollout.phase == "Completed" and len(done.state.released) == 10


def test_a_status_from_before_the_release_never_opens_the_gate() -> None:
    w = World()
    w.report("c0", OLD)  # recorded before the release (a stale status at the right revision)
    w.run()
    assert synced(w.run()) == []
    w.report("c0", OLD)
    assert synced(w.run()) == ["c1", "c2", "c3"]


def test_a_degraded_step_halts_and_later_clusters_keep_the_old_commit_until_resumed() -> None:
    w = World()
    w.run()
    for c in ["c0", "c1", "c2", "c3", *[f"c{i}" for i in range(4, 10)]]:
        w.run()
        w.report(c, OLD)
    assert w.run().state.rollout.phase == "Completed"
    w.heads.value = NEW  # a new commit on main: a new rollout
    assert synced(w.run()) == ["c0"] and w.released()["c0"] == NEW
    w.report("c0", NEW)
    assert synced(w.run()) == ["c1", "c2", "c3"]
    w.report("c1", NEW)
    w.report("c2", NEW, health=HealthStatus.DEGRADED)
    halted = w.run()
    assert halted.state.rollout.phase == "Halted" and "c2" in halted.state.rollout.message
    for _ in range(3):  # later passes release nothing more
        w.report("c3", NEW)
        assert w.run().sync == ()
    late = w.released()
    assert all(late[f"c{i}"] == OLD for i in range(4, 10))
    w.report("c2", NEW)  # fixed by hand: still a status from before the resume
    resume(w.store, "web")
    again = w.run()  # the clusters of the step that had not passed are synced again, nothing new
    assert synced(again) == ["c2", "c3"] and again.state.rollout.phase == "Progressing"
    assert w.run().sync == ()  # their statuses from before the resume do not count
    w.report("c2", NEW)
    w.report("c3", NEW)
    assert synced(w.run()) == [f"c{i}" for i in range(4, 10)]


def test_resume_of_a_rollout_still_degraded_halts_it_again_on_the_fresh_status() -> None:
    w = World()
    w.run()
    w.report("c0", OLD, health=HealthStatus.DEGRADED)
    assert w.run().state.rollout.phase == "Halted"
    resume(w.store, "web")
    assert synced(w.run()) == ["c0"]
    w.report("c0", OLD, health=HealthStatus.DEGRADED)  # the sync after the resume: still Degraded
    halted = w.run()
    assert halted.state.rollout.phase == "Halted" and halted.sync == ()


def test_a_sync_that_fails_for_good_halts_too() -> None:
    w = World()
    w.run()
    w.report("c0", OLD, sync=SyncStatus.OUT_OF_SYNC, error="admission webhook denied the request")
    assert w.run().state.rollout.phase == "Halted"


def test_a_new_commit_mid_rollout_restarts_from_the_first_step() -> None:
    w = World()
    w.run()
    w.report("c0", OLD)
    assert synced(w.run()) == ["c1", "c2", "c3"]
    w.heads.value = NEW
    restarted = w.run()
    assert synced(restarted) == ["c0"] and restarted.state.rollout.step == 0
    assert w.released()["c0"] == NEW and w.released()["c1"] == OLD


def test_an_approval_step_waits_for_approve() -> None:
    w = World(rolling(steps=[{"clusters": {"ring": "canary"}}, {"share": "100%", "approval": True}]))
    w.run()
    w.report("c0", OLD)
    waiting = w.run()
    assert waiting.state.rollout.phase == "WaitingApproval" and waiting.sync == ()
    assert w.run().sync == ()
    assert "approved step 2" in approve(w.store, "web")
    assert len(w.run().sync) == 9


def test_pause_releases_nothing_until_resume() -> None:
    w = World()
    w.run()
    w.report("c0", OLD)
    pause(w.store, "web")
    assert w.run().sync == () and w.run().sync == ()
    resume(w.store, "web")
    assert synced(w.run()) == ["c1", "c2", "c3"]


def test_the_prometheus_gate_must_hold_through_the_bake() -> None:
    gate = StaticGate(GateResult(False, "query returned no sample"))
    w = World(rolling(bake="60s", prometheus={"url": "http://127.0.0.1:9/", "query": "up == 1"}), gate)
    w.run()
    w.report("c0", OLD)
    for _ in range(3):
        w.clock.advance(120.0)
        assert w.run().sync == ()  # the gate never holds: the bake never completes
    assert gate.queries and gate.queries[-1] == "up == 1"
    gate.result = GateResult(True, "1 sample")
    w.run()
    w.clock.advance(61.0)
    assert synced(w.run()) == ["c1", "c2", "c3"]


def test_a_head_that_cannot_be_resolved_deletes_nothing_and_updates_nothing() -> None:
    from gitops.errors import SourceUnavailable
    w = World()
    w.run()
    before = load_state(w.store, "web")[0]
    w.heads.value = SourceUnavailable("remote unavailable")
    report = w.run()
    assert report.state.desired == before.desired and report.forget == ()
    assert not report.state.last_run.complete and "could not be resolved" in report.state.last_run.errors[0]
