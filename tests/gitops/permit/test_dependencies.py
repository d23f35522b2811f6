"""Dependencies: readiness at the current revision, what blocks and why, dependants; cycles with their
path (the check the configuration runs at load)."""

from __future__ import annotations

from gitops.config.dependencies import find_cycle
from gitops.domain import Application, AppSource, Cluster, Dependency, Destination, Fleet, Repository
from gitops.permit.dependencies import Blocker, blocked_on, current_revision, dependants, message
from gitops.state.model import TargetStatus
from gitops.vocabulary import HealthStatus, SyncStatus, Target

A1, A2 = "1a2b3c" + "0" * 34, "4d5e6f" + "0" * 34


def app(name: str, *deps: Dependency, cluster: str = "prod", revision: str | None = None) -> Application:
    return Application(name, AppSource("repo", name, revision), Destination(cluster), depends_on=deps)


def fleet(*apps: Application) -> Fleet:
    return Fleet({"repo": Repository("repo", "https://example.com/r.git")},
                 {"prod": Cluster("prod"), "dev": Cluster("dev")}, {a.name: a for a in apps})


def status(target: Target, revision: str | None = A1, sync: SyncStatus = SyncStatus.SYNCED,
           health: HealthStatus = HealthStatus.HEALTHY, error: str | None = None) -> TargetStatus:
    return TargetStatus(target.application, target.cluster, revision, sync, health, error=error)


DB = Target("db", "prod")
WEB = app("web", Dependency("db"))
FLEET = fleet(app("db"), WEB)


def blockers(db: TargetStatus | None, current: str | None = None) -> tuple[Blocker, ...]:
    return blocked_on(WEB, "prod", FLEET, {DB: db}, {DB: current})


def test_ready_when_synced_healthy_without_error_at_the_current_revision() -> None:
    assert blockers(status(DB), A1) == ()
    assert blockers(status(DB, revision=A1.upper()), A1) == ()


def test_each_blocker_says_which_target_and_why() -> None:
    assert blockers(None) == (Blocker(DB, "db@prod has never been reconciled", stale=True),)
    assert blockers(status(DB, sync=SyncStatus.OUT_OF_SYNC))[0].reason == "db@prod is OutOfSync"
    assert blockers(status(DB, health=HealthStatus.DEGRADED))[0].reason == "db@prod is Degraded"
    assert blockers(status(DB, health=HealthStatus.PROGRESSING))[0].reason == "db@prod is Progressing"
    assert blockers(status(DB, error="boom\nsecond line"))[0].reason == "db@prod failed: boom"
    assert blockers(status(DB), A2) == (Blocker(DB, "db@prod is at 1a2b3c000000, Git is at 4d5e6f000000",
                                                stale=True),)
    assert not blockers(status(DB, sync=SyncStatus.OUT_OF_SYNC))[0].stale  # its own reconcile decides


def test_an_unknown_current_revision_lets_the_recorded_one_count() -> None:
    assert blockers(status(DB), None) == ()


def test_current_revision_of_a_source() -> None:
    assert current_revision(app("x"), A2) == A2
    assert current_revision(app("x"), None) is None
    assert current_revision(app("x"), "not-a-commit") is None
    assert current_revision(app("x", revision=A1.upper()), A2) == A1
    assert current_revision(app("x", revision="v1.2.3"), A2) is None


def test_dependencies_on_other_clusters_and_unconfigured_ones() -> None:
    cross = app("web", Dependency("db", "dev"), Dependency("gone"))
    f = fleet(app("db", cluster="dev"), cross)
    found = blocked_on(cross, "prod", f, {Target("db", "dev"): status(Target("db", "dev"))}, {})
    assert found == (Blocker(Target("gone", "prod"), "gone@prod is not configured"),)
    assert dependants(Target("db", "dev"), f) == (Target("web", "prod"),)
    assert dependants(Target("db", "prod"), f) == ()


def test_dependants_on_the_same_cluster_by_default() -> None:
    f = fleet(app("a"), app("b", Dependency("a")), app("c", Dependency("a"), Dependency("b")))
    assert dependants(Target("a", "prod"), f) == (Target("b", "prod"), Target("c", "prod"))
    assert dependants(Target("c", "prod"), f) == ()


def test_the_message_is_bounded() -> None:
    many = tuple(Blocker(Target(f"d{i}", "prod"), f"d{i}@prod is OutOfSync") for i in range(50))
    text = message(many)
    assert text.startswith("waiting for its dependencies: d0@prod is OutOfSync") and "and 46 more" in text


def test_cycles_are_found_with_their_path() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None  # a diamond is no cycle
    assert find_cycle({"a": ["missing"]}) is None
    assert find_cycle({}) is None


def test_cycle_search_is_iterative_and_linear_on_long_chains() -> None:
    chain = {str(i): [str(i + 1)] for i in range(100_000)}
    assert find_cycle(chain) is None
    chain["99999"] = ["0"]
    found = find_cycle(chain)
    assert found is not None and len(found) == 100_001 and found[0] == found[-1] == "0"
    # a dense graph without a cycle: every node depends on all later ones
    dense = {str(i): [str(j) for j in range(i + 1, 300)] for i in range(300)}
    assert find_cycle(dense) is None
