"""The controller pass over fakes of every port: what it saves, releases, reconciles, forgets and buries;
the #18480 scenario (an input fails: nothing is deleted); the breaker end to end with ``approve``;
tombstones and ``restore``; names taken by others; concurrent writers; the user's verbs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from gitops import domain
from gitops.appset.controller import (
    ControllerPorts,
    approve,
    delete,
    forget_set,
    load_state,
    pause,
    restore,
    resume,
    run_appset,
)
from gitops.appset.fleetview import APPSET_LABEL, LiveFleet
from gitops.clock import ManualClock
from gitops.config.application import ApplicationSet, ApplicationSetSpec
from gitops.errors import InputError, SourceError, StateError
from gitops.state import InMemoryStore
from gitops.state.appsets import InMemoryAppSets
from gitops.testing.gittree import FakeGitTree
from gitops.vocabulary import Target

HEAD = "a" * 40


class Heads:
    def __init__(self, head: str = HEAD, fail: bool = False) -> None:
        self.value, self.fail, self.calls = head, fail, 0

    def head(self, repository: str, ref: str | None) -> str:
        self.calls += 1
        if self.fail:
            raise SourceError(f"repository {repository!r}: remote unavailable")
        return self.value


def cluster(name: str, **labels: str) -> domain.Cluster:
    return domain.Cluster(name, labels, server=f"https://{name}.example:6443")


def fleet(*clusters: domain.Cluster, apps: Mapping[str, domain.Application] | None = None) -> domain.Fleet:
    return domain.Fleet({"demo": domain.Repository("demo", "https://git.example/demo.git")},
                        {c.name: c for c in clusters}, dict(apps or {}))


CLUSTERS = [cluster(f"c{i}", env="prod" if i % 2 else "dev") for i in range(10)]


def make_set(generators: list[Any] | None = None, name: str = "web", **spec: Any) -> ApplicationSet:
    model = ApplicationSetSpec.model_validate({
        "generators": generators or [{"clusters": {}}],
        "template": {"metadata": {"name": "web-{{ name }}", "labels": {"team": "a"}},
                     "spec": {"source": {"repository": "demo", "path": "apps/{{ labels.env }}"},
                              "destination": {"cluster": "{{ name }}"}}},
        **spec}, by_alias=True, by_name=False)
    return ApplicationSet(name=name, **dict(model))


class World:
    def __init__(self, git: FakeGitTree | None = None) -> None:
        self.clock = ManualClock(1000.0)
        self.store = InMemoryAppSets(clock=self.clock)
        self.statuses = InMemoryStore(clock=self.clock)
        self.git = git or FakeGitTree({"demo": {None: {"apps/x/k.yaml": "a: 1"}}})
        self.heads = Heads()

    def ports(self) -> ControllerPorts:
        return ControllerPorts(self.store, self.statuses, self.git, self.heads, self.clock)

    def run(self, appset: ApplicationSet, f: domain.Fleet) -> Any:
        return run_appset(appset, f, self.ports())


def names(report: Any) -> list[str]:
    return sorted(report.state.desired)


def test_first_pass_creates_and_releases_everything_at_once() -> None:
    w = World()
    report = w.run(make_set(), fleet(*CLUSTERS))
    assert names(report) == [f"web-c{i}" for i in range(10)]
    assert report.state.released == report.state.desired and report.sync == ()
    expected = sorted((Target(f"web-c{i}", f"c{i}") for i in range(10)), key=str)
    assert sorted(report.reconcile, key=str) == expected
    assert report.state.last_run.created == 10 and report.state.last_run.complete
    saved, version = load_state(w.store, "web")
    assert saved == report.state and version > 0
    # unchanged input: nothing to reconcile, nothing to forget
    again = w.run(make_set(), fleet(*CLUSTERS))
    assert (again.reconcile, again.forget, again.state.last_run.created) == ((), (), 0)


def test_a_changed_template_reconciles_only_what_changed() -> None:
    w = World()
    w.run(make_set(), fleet(*CLUSTERS))
    relabelled = [cluster("c3", env="staging"), *[c for c in CLUSTERS if c.name != "c3"]]
    report = w.run(make_set(), fleet(*relabelled))
    assert report.reconcile == (Target("web-c3", "c3"),)
    assert report.state.desired["web-c3"].document["source"]["path"] == "apps/staging"


def test_an_injected_git_failure_deletes_nothing() -> None:
    """argo-cd#18480: a transient failure of an input once deleted every generated application."""
    git = FakeGitTree({"demo": {None: {f"apps/d{i}/k.yaml": "a: 1" for i in range(5)}}})
    w = World(git)
    gen = [{"git": {"repository": "demo", "directories": [{"path": "apps/*"}]}}]
    tmpl_set = ApplicationSet(name="dirs", **dict(ApplicationSetSpec.model_validate({
        "generators": gen, "template": {"metadata": {"name": "{{ path.basename }}"},
                                        "spec": {"source": {"repository": "demo", "path": "{{ path }}"},
                                                 "destination": {"cluster": "c0"}}}},
        by_alias=True, by_name=False)))
    first = w.run(tmpl_set, fleet(*CLUSTERS))
    assert names(first) == [f"d{i}" for i in range(5)]
    git.fail = True
    for _ in range(3):
        report = w.run(tmpl_set, fleet(*CLUSTERS))
        assert names(report) == [f"d{i}" for i in range(5)] and report.forget == ()
        assert report.state.released == first.state.released
        assert not report.state.last_run.complete and "unavailable" in report.state.last_run.failures[0]
    assert w.store.tombstones() == []


def test_a_cluster_list_that_suddenly_empties_deletes_nothing() -> None:
    w = World()
    w.run(make_set(), fleet(*CLUSTERS))
    report = w.run(make_set(), fleet())  # every cluster gone from the generator's input
    assert len(report.state.desired) == 10 and report.forget == ()
    assert "allowEmpty" in report.state.last_run.notes[0]


def test_the_breaker_holds_then_approve_lets_exactly_that_change_through() -> None:
    w = World()
    s = make_set([{"clusters": {"selector": {"env": "prod"}}}])
    w.run(s, fleet(*CLUSTERS))
    fewer = [c if c.name not in ("c1", "c3") else cluster(c.name, env="gone") for c in CLUSTERS]
    held = w.run(s, fleet(*fewer))  # 2 of 5 = 40% > 10%
    assert held.state.pending is not None and held.state.pending.deletes == ("web-c1", "web-c3")
    assert len(held.state.desired) == 5 and held.forget == ()
    with pytest.raises(InputError, match="held change is"):
        approve(w.store, "web", "0000")
    assert "approved change" in approve(w.store, "web", held.state.pending.id)
    done = w.run(s, fleet(*fewer))
    assert sorted(done.forget, key=str) == [Target("web-c1", "c1"), Target("web-c3", "c3")]
    assert done.state.pending is None and sorted(done.state.desired) == ["web-c5", "web-c7", "web-c9"]
    stones = w.store.tombstones("web")
    assert sorted(t.application for t in stones) == ["web-c1", "web-c3"]
    assert all(t.expires_at == t.deleted_at + 7 * 86400 for t in stones)
    assert json.loads(stones[0].document)["destination"]["cluster"] in ("c1", "c3")


def test_restore_brings_an_application_back_and_keeps_it() -> None:
    w = World()
    s = make_set([{"clusters": {"selector": {"env": "prod"}}}], syncPolicy={"maxDeleteShare": 1.0})
    w.run(s, fleet(*CLUSTERS))
    fewer = [c if c.name != "c1" else cluster("c1", env="gone") for c in CLUSTERS]
    w.run(s, fleet(*fewer))
    assert "web-c1" not in load_state(w.store, "web")[0].desired
    message = restore(w.store, "web", "web-c1")
    assert "restored 'web-c1'" in message and w.store.tombstones("web") == []
    again = w.run(s, fleet(*fewer))  # still not generated: kept
    assert "web-c1" in again.state.released and again.state.kept == ("web-c1",) and again.forget == ()
    with pytest.raises(InputError, match="no tombstone"):
        restore(w.store, "web", "web-c9-nope")
    delete(w.store, "web", "web-c1")
    gone = w.run(s, fleet(*fewer))
    assert gone.forget == (Target("web-c1", "c1"),) and "web-c1" not in gone.state.desired
    with pytest.raises(InputError, match="not a kept"):
        delete(w.store, "web", "web-c5")


def test_a_name_used_by_a_configured_application_or_another_set_is_an_element_error() -> None:
    w = World()
    static = domain.Application("web-c0", domain.AppSource("demo", "x"), domain.Destination("c0"))
    w.run(make_set(name="other", generators=[{"list": {"elements": [{"name": "c2", "labels.env": "x"}]}}]),
          fleet(*CLUSTERS))
    report = w.run(make_set(), fleet(*CLUSTERS, apps={"web-c0": static}))
    assert "web-c0" not in report.state.desired and "web-c2" not in report.state.desired
    errors = " ".join(report.state.last_run.errors)
    assert "a configured Application" in errors and "ApplicationSet 'other'" in errors
    assert report.state.last_run.deleted == 0


def test_a_concurrent_writer_makes_the_pass_fail_temporarily_and_save_nothing() -> None:
    w = World()
    s = make_set()
    w.run(s, fleet(*CLUSTERS))

    class Racing(InMemoryAppSets):
        def save(self, appset: str, text: str, expected: int) -> int | None:
            inner.save(appset, inner.load(appset).text, inner.load(appset).version)  # type: ignore[union-attr]
            return inner.save(appset, text, expected)

    inner = w.store
    racing = Racing(clock=w.clock)
    ports = ControllerPorts(racing, w.statuses, w.git, w.heads, w.clock)
    racing.load = inner.load  # type: ignore[method-assign]
    racing.names = inner.names  # type: ignore[method-assign]
    before = inner.load("web")
    with pytest.raises(StateError) as caught:
        run_appset(s, fleet(*CLUSTERS[:5]), ports)
    assert caught.value.temporary
    assert inner.load("web").text == before.text  # type: ignore[union-attr]


def test_pause_resume_and_nothing_to_approve() -> None:
    w = World()
    w.run(make_set(), fleet(*CLUSTERS))
    assert "paused" in pause(w.store, "web") and load_state(w.store, "web")[0].paused
    assert "resumed" in resume(w.store, "web") and not load_state(w.store, "web")[0].paused
    with pytest.raises(InputError, match="nothing waiting"):
        approve(w.store, "web")
    with pytest.raises(InputError, match="no state yet"):
        pause(w.store, "never-ran")


def test_a_removed_set_leaves_tombstones_and_its_targets_to_forget() -> None:
    w = World()
    w.run(make_set(), fleet(*CLUSTERS))
    targets = forget_set(w.store, "web", w.clock.now(), 3600.0)
    assert len(targets) == 10 and w.store.names() == []
    assert len(w.store.tombstones("web")) == 10


def test_the_live_fleet_adds_released_applications_and_reloads_only_on_change() -> None:
    w = World()
    static = fleet(*CLUSTERS)
    live = LiveFleet(static, w.store, ["web"])
    assert live.current().applications == {}
    w.run(make_set(), static)
    now = live.current()
    assert len(now.applications) == 10 and live.current() is now  # no change: the same object
    app = now.applications["web-c4"]
    assert app.labels == {"team": "a", APPSET_LABEL: "web"} and app.source.path == "apps/dev"
    assert now.lookup("web-c4").cluster.name == "c4"
    # a set no longer configured is not read
    assert LiveFleet(static, w.store, []).current().applications == {}


def test_an_unreadable_record_keeps_the_last_released_applications(caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    static = fleet(*CLUSTERS)
    live = LiveFleet(static, w.store, ["web"])
    w.run(make_set(), static)
    assert len(live.current().applications) == 10
    found = w.store.load("web")
    assert found is not None
    w.store.save("web", "{not json", found.version)
    assert len(live.current().applications) == 10
    assert "keeping its last released" in caplog.text
    with pytest.raises(StateError, match="unreadable"):
        load_state(w.store, "web")


def test_the_record_round_trips() -> None:
    w = World()
    report = w.run(make_set(), fleet(*CLUSTERS))
    text = report.state.to_json()
    from gitops.appset.record import AppSetState
    assert AppSetState.from_json("web", text) == report.state
    data = json.loads(text)
    data["desired"][0]["source"]["path"] = "/etc"
    with pytest.raises(StateError, match="no longer validates"):
        AppSetState.from_json("web", json.dumps(data))


def test_a_malformed_tombstone_is_refused_and_the_record_stays_readable() -> None:
    from gitops.state.appsets import Tombstone
    w = World()
    w.run(make_set(), fleet(*CLUSTERS))
    for bad in ('{"name": "x"}', '{"name": "x", "source": {"repository": "demo", "path": "/etc"}, '
                '"destination": {"cluster": "c1"}}', "not json"):
        w.store.bury(Tombstone("web", "x", bad, 1.0, w.clock.now() + 100, "test"))
        with pytest.raises(StateError, match="unreadable"):
            restore(w.store, "web", "x")
        assert len(load_state(w.store, "web")[0].desired) == 10


def test_the_live_fleet_leaves_out_applications_whose_cluster_left_the_configuration() -> None:
    w = World()
    w.run(make_set(), fleet(*CLUSTERS))
    smaller = fleet(*CLUSTERS[:4])
    apps = LiveFleet(smaller, w.store, ["web"]).current().applications
    assert sorted(apps) == ["web-c0", "web-c1", "web-c2", "web-c3"]
