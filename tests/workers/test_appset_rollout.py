"""End to end: an ApplicationSet rolled out step by step over ten clusters by the real engine.

Real components only: a private redis-server, ``celery worker`` subprocesses running the production
runtime (``$GITOPS_CONFIG``), the beat in this process sending ``gitops.appset`` every half second
(``celery_dispatch``), a Git repository made here and ten in-process sandbox clusters labelled ring:
canary (c0), early (c1-c3) and late (c4-c9) (tests/workers/appset_world.py). What is asserted is read
back from the controller's record in Redis, the statuses and histories in the state store, and the
objects in the sandboxes. The sandboxes are shared by the module; each test has its own world
(repository, namespace, Redis, workers, beat), so the tests do not depend on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from appset_world import CANARY, CONFIGMAP, EARLY, LATE, RINGS, Sandboxes, World, app_files, rolling_set
from worker_kit import wait_for

from gitops.appset.record import AppSetState
from gitops.cli import main as gitops_main
from gitops.vocabulary import HealthStatus, SyncStatus
from kubesandbox import FaultRule
from workers.app import app, configure
from workers.settings import Settings

pytestmark = pytest.mark.timeout(120)
CANARY_STEP = "{clusters: {matchLabels: {ring: canary}}}"
EARLY_STEP = "{clusters: {matchLabels: {ring: early}}}"
RING_STEPS = f"[{CANARY_STEP}, {EARLY_STEP}, {{share: 100%}}]"
MakeWorld = Callable[..., World]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    clusters = Sandboxes.start(tmp_path_factory.mktemp("fleet"))
    yield clusters
    clusters.stop()


@pytest.fixture
def world(fleet: Sandboxes, tmp_path: Path) -> Iterator[MakeWorld]:
    """``world(name, appset_yaml, files=None)``: a started world (one per test); closed at teardown, the
    sandboxes' fault rules cleared, the worker logs printed (pytest shows them when the test failed)."""
    made: list[World] = []

    def make(name: str, appset: str, files: dict[str, str] | None = None) -> World:
        created = World.create(tmp_path / name, fleet, name, appset, files)
        made.append(created)
        created.start()
        return created

    yield make
    for sandbox in fleet.sandboxes.values():
        sandbox.faults.clear()
    for created in made:
        created.close()
        print(created.logs())
    configure(app, Settings.from_env())  # the Celery app of this process points where it did before


def completed(world: World, timeout: float = 60.0) -> AppSetState:
    state = world.wait_phase("Completed", timeout)
    assert state.rollout is not None and state.rollout.phase == "Completed"
    return state


def assert_deployed(world: World, clusters: tuple[str, ...], revision: str, greeting: str) -> None:
    """Each cluster runs ``revision``: the state store says so and the live ConfigMap holds its content."""
    for cluster in clusters:
        status = world.status(cluster)
        assert status is not None, cluster
        assert (status.sync, status.health, status.error, status.revision) == \
            (SyncStatus.SYNCED, HealthStatus.HEALTHY, None, revision), (cluster, status)
        assert world.greeting(cluster) == greeting, cluster


def test_first_rollout_reaches_all_ten_clusters_ring_by_ring(world: MakeWorld) -> None:
    rings = world("rings", rolling_set("rings", RING_STEPS))
    state = completed(rings)
    assert sorted(state.desired) == sorted(state.released) == sorted(f"rings-{c}" for c in RINGS)
    assert all(app.revision == rings.head for app in state.released.values())
    assert_deployed(rings, tuple(RINGS), rings.head, "v1")
    for cluster in RINGS:
        [deployment] = rings.fleet.sandboxes[cluster].objects("deployments", "apps", "rings")
        assert deployment["status"]["availableReplicas"] == 1
        assert rings.syncs(cluster) == 1  # released once, synced once
    rollout = state.rollout
    assert rollout is not None and set(rollout.released) == set(RINGS) == set(rollout.done)
    # ring by ring: a step releases only once every cluster of the previous one passed
    for before, after in ((CANARY, EARLY), (EARLY, LATE)):
        assert max(rollout.done[c] for c in before) <= min(rollout.released[c] for c in after)
    # never more than maxConcurrent (2) clusters released and not yet passed
    for cluster, at in rollout.released.items():
        flying = [c for c, r in rollout.released.items() if r <= at < rollout.done[c]]
        assert len(flying) <= 2, (cluster, flying)


def test_a_failing_second_step_halts_the_rollout_and_the_last_step_keeps_the_old_revision(
        world: MakeWorld) -> None:
    rings = world("rings", rolling_set("rings", RING_STEPS))
    completed(rings)
    old = rings.head
    late_syncs = {c: rings.syncs(c) for c in LATE}
    for cluster in EARLY:  # the early ring refuses the new ConfigMap for good (403 is not temporary)
        rings.fleet.sandboxes[cluster].faults.add(FaultRule(
            verb="patch", path_regex=f"/namespaces/rings/configmaps/{CONFIGMAP}", status=403, times=None))
    new = rings.commit({f"app/{k}": v for k, v in app_files("rings", "v2").items()}, "greeting v2")
    halted = rings.wait_phase("Halted")
    rollout = halted.rollout
    assert rollout is not None and rollout.step == 1, rollout
    named = [c for c in EARLY if f"on cluster {c}" in rollout.message]
    assert named, rollout.message
    failed = rings.status(named[0])
    assert failed is not None and failed.error is not None and not failed.temporary
    assert failed.revision == new
    assert_deployed(rings, CANARY, new, "v2")

    def late_untouched() -> None:
        state = rings.must_record()
        assert state.rollout is not None and state.rollout.phase == "Halted", rings.describe()
        assert not set(LATE) & set(state.rollout.released)
        for cluster in LATE:
            assert state.released[f"rings-{cluster}"].revision == old
            assert rings.syncs(cluster) == late_syncs[cluster]
        assert_deployed(rings, LATE, old, "v1")
        for cluster in EARLY:
            assert rings.greeting(cluster) == "v1"

    late_untouched()
    rings.wait_passes(3)  # the halt holds over further controller passes
    late_untouched()


def test_a_restart_of_workers_and_redis_resumes_the_rollout_at_its_step(world: MakeWorld) -> None:
    gated_early = "{clusters: {matchLabels: {ring: early}}, approval: true}"
    steps = f"[{CANARY_STEP}, {gated_early}, {{share: 100%}}]"
    gated = world("gated", rolling_set("gated", steps))
    waiting = gated.wait_phase("WaitingApproval")
    assert waiting.rollout is not None and waiting.rollout.step == 1
    assert set(waiting.rollout.released) == set(CANARY)
    wait_for(lambda: all(gated.quiet(c) for c in CANARY), timeout=30)  # its health re-checks are over
    canary_history = {c: len(gated.history(c)) for c in CANARY}
    canary_syncs = {c: gated.syncs(c) for c in CANARY}

    gated.stop_processes()  # every worker and the beat go away...
    first_redis = gated.stores()[0].redis.info()["process_id"]
    gated.restart_redis()  # ...and Redis restarts on its data directory (SHUTDOWN SAVE, start again)
    assert gated.stores()[0].redis.info()["process_id"] != first_redis
    gated.start()
    resumed = gated.wait_passes(2)
    assert resumed.rollout is not None and resumed.rollout.phase == "WaitingApproval"
    assert resumed.rollout.step == 1 and resumed.rollout.id == waiting.rollout.id
    assert all(gated.status(c) is None for c in (*EARLY, *LATE))

    assert gitops_main(["appset", "approve", "gated", "--redis-url", gated.redis.url]) == 0
    done = completed(gated)
    assert done.rollout is not None and done.rollout.id == waiting.rollout.id
    assert_deployed(gated, tuple(RINGS), gated.head, "v1")
    for cluster in CANARY:  # not released nor synced again after the restart
        assert done.rollout.released[cluster] == waiting.rollout.released[cluster]
        assert gated.syncs(cluster) == canary_syncs[cluster] == 1
        assert len(gated.history(cluster)) == canary_history[cluster]
    for cluster in (*EARLY, *LATE):
        assert gated.syncs(cluster) == 1


def test_resume_after_the_cause_is_fixed_takes_the_halted_rollout_up_again(world: MakeWorld) -> None:
    """docs/applicationsets.md: `gitops appset resume` takes a halted rollout up again at the same step,
    once fixed: the clusters that failed are synced again (their failed statuses no longer count)."""
    rings = world("rings", rolling_set("rings", RING_STEPS))
    completed(rings)
    for cluster in EARLY:
        rings.fleet.sandboxes[cluster].faults.add(FaultRule(
            verb="patch", path_regex=f"/namespaces/rings/configmaps/{CONFIGMAP}", status=403, times=None))
    new = rings.commit({f"app/{k}": v for k, v in app_files("rings", "v2").items()}, "greeting v2")
    rings.wait_phase("Halted")
    for cluster in EARLY:  # fixed
        rings.fleet.sandboxes[cluster].faults.clear()
    halted = rings.must_record().rollout
    assert halted is not None and halted.phase == "Halted"
    failed = [c for c in EARLY if c in halted.released and c not in halted.done]
    assert failed  # the first rollout's sync and this one's (the failed one):
    wait_for(lambda: all(rings.syncs(c) == 2 for c in failed), timeout=30)
    assert gitops_main(["appset", "resume", "rings", "--redis-url", rings.redis.url]) == 0
    resumed = rings.wait_passes(3)
    assert resumed.rollout is not None
    assert resumed.rollout.phase != "Halted", resumed.rollout.message
    done = completed(rings)
    assert done.rollout is not None and done.rollout.id == halted.id  # the same rollout, taken up again
    assert_deployed(rings, tuple(RINGS), new, "v2")
    for cluster in failed:  # synced again by the resume, with a fresh release time
        assert rings.syncs(cluster) == 3
        assert done.rollout.released[cluster] > halted.released[cluster]
    for cluster in CANARY:  # passed before the halt: not synced again
        assert rings.syncs(cluster) == 2


@pytest.mark.parametrize("strategy", ["RollingSync", "AllAtOnce"])
def test_git_unavailable_to_the_generator_deletes_no_generated_application(world: MakeWorld,
                                                                           strategy: str) -> None:
    """#18480: a Git generator that cannot read its repository must not look like "nothing generated"
    (under RollingSync the pins of the sources fail too; under AllAtOnce only the generator). The
    deletion breaker is opened wide, so only the rule "a failed generator deletes nothing" stands."""
    generators = ("[{matrix: {generators: [{clusters: {}}, "
                  "{git: {repository: demo, directories: [{path: 'apps/*'}]}}]}}]")
    files = {f"apps/hello/{k}": v for k, v in app_files("dirs", "v1").items()}
    steps = "[{share: 100%}]" if strategy == "RollingSync" else None
    dirs = world("dirs", rolling_set("dirs", steps, path="{{ path }}", generators=generators,
                                     app_name="dirs-{{ name }}", max_concurrent=10,
                                     sync_policy="{maxDeleteShare: 100%, maxDeleteCount: 1000}"), files)
    names = sorted(f"dirs-{c}" for c in RINGS)
    if strategy == "RollingSync":
        completed(dirs)
    wait_for(lambda: all((s := dirs.status(c)) is not None and s.health is HealthStatus.HEALTHY
                         for c in RINGS), timeout=60)
    before = dirs.must_record()
    assert sorted(before.desired) == sorted(before.released) == names
    assert_deployed(dirs, tuple(RINGS), dirs.head, "v1")

    dirs.repo.rename(dirs.root / "repo-gone")  # the Git server goes away
    wait_for(lambda: not dirs.must_record().last_run.complete, timeout=30)
    failing = dirs.must_record()
    after = dirs.wait_passes(3)
    for state in (failing, after):
        assert not state.last_run.complete, dirs.describe()
        assert any("listing refs failed" in f for f in state.last_run.failures), state.last_run
        assert sorted(state.desired) == sorted(state.released) == names
        assert state.last_run.deleted == 0 and state.pending is None
        assert "a generator failed: 10 application(s) no longer generated are kept" in state.last_run.notes
    assert dirs.stores()[1].tombstones("dirs") == []
    for cluster in RINGS:  # every target is still known to the engine and its objects still run
        status = dirs.status(cluster)
        assert status is not None and status.revision == dirs.head, cluster
        assert dirs.greeting(cluster) == "v1"
        assert len(dirs.fleet.sandboxes[cluster].objects("deployments", "apps", "dirs")) == 1
