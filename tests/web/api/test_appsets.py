"""/api/v1/applicationsets: the ApplicationSet controller's records (list, detail, tombstones) and the
user's verbs (approve, pause, resume, restore, delete) over an InMemoryAppSets seeded by real controller
passes over fakes (``run_appset``: a held deletion, a tombstone) or by a record saved as JSON (a rollout
waiting for an approval); roles, CSRF, scope, audit, no store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_kit import CSRF, OPERATOR, TEAM_A, VIEWER, World, make_world

from gitops import domain
from gitops.appset.controller import ControllerPorts, load_state, run_appset
from gitops.appset.record import AppSetState, GeneratedApp, LastRun
from gitops.appset.rollout import RolloutState
from gitops.clock import ManualClock
from gitops.config.application import ApplicationSet, ApplicationSetSpec
from gitops.state import InMemoryStore
from gitops.state.access import RedisAuditLog
from gitops.state.appsets import InMemoryAppSets
from gitops.testing.gittree import FakeGitTree
from workers.redis_server import RedisServer, free_port

PROBLEM = "application/problem+json"
HEAD = "a" * 40
BASE = "/api/v1/applicationsets"
SESSION = {"X-Test-Role": "operator", "X-Test-Via": "session"}


class Heads:
    def head(self, repository: str, ref: str | None) -> str:
        return HEAD


def cluster(name: str, **labels: str) -> domain.Cluster:
    return domain.Cluster(name, labels, server=f"https://{name}.example:6443")


CLUSTERS = [cluster(f"c{i}", env="prod" if i % 2 else "dev") for i in range(10)]


def fleet(*clusters: domain.Cluster) -> domain.Fleet:
    return domain.Fleet({"demo": domain.Repository("demo", "https://git.example/demo.git")},
                        {c.name: c for c in clusters}, {})


def make_set(name: str = "web", team: str = "a", **spec: Any) -> ApplicationSet:
    model = ApplicationSetSpec.model_validate({
        "generators": [{"clusters": {"selector": {"env": "prod"}}}],
        "template": {"metadata": {"name": name + "-{{ name }}", "labels": {"team": team}},
                     "spec": {"source": {"repository": "demo", "path": "apps/{{ labels.env }}"},
                              "destination": {"cluster": "{{ name }}"}}},
        **spec}, by_alias=True, by_name=False)
    return ApplicationSet(name=name, **dict(model))


class Controller:
    """Controller passes over fakes of every port, into ``store``."""

    def __init__(self, store: InMemoryAppSets, clock: ManualClock) -> None:
        self.store, self.clock = store, clock
        self.ports = ControllerPorts(store, InMemoryStore(clock=clock),
                                     FakeGitTree({"demo": {None: {"apps/x/k.yaml": "a: 1"}}}), Heads(), clock)

    def run(self, appset: ApplicationSet, clusters: list[domain.Cluster]) -> AppSetState:
        return run_appset(appset, fleet(*clusters), self.ports).state


WITHOUT_C1_C3 = [c if c.name not in ("c1", "c3") else cluster(c.name, env="gone") for c in CLUSTERS]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def appsets(clock: ManualClock) -> InMemoryAppSets:
    return InMemoryAppSets(clock=clock)


@pytest.fixture
def seeded(appsets: InMemoryAppSets, clock: ManualClock) -> AppSetState:
    """``web`` (team a): five applications, then a pass whose deletion of two is held by the breaker;
    ``other`` (team b): five applications."""
    controller = Controller(appsets, clock)
    controller.run(make_set(), CLUSTERS)
    controller.run(make_set("other", team="b"), CLUSTERS)
    held = controller.run(make_set(), WITHOUT_C1_C3)
    assert held.pending is not None
    return held


@pytest.fixture
def aw(redis_server: RedisServer, actions: object, appsets: InMemoryAppSets) -> Iterator[World]:
    with make_world(redis_server, actions, ctx_changes={"appsets": appsets}) as found:
        yield found


def test_the_list_shows_each_set_with_its_counts_and_held_change(aw: World, seeded: AppSetState) -> None:
    response = aw.client.get(BASE, headers=VIEWER)
    assert response.status_code == 200, response.text
    items = {i["name"]: i for i in response.json()["items"]}
    assert sorted(items) == ["other", "web"]
    web = items["web"]
    assert (web["desired"], web["released"], web["paused"], web["errors"]) == (5, 5, False, 0)
    assert web["held"]["id"] == seeded.pending.id  # type: ignore[union-attr]
    assert (web["held"]["deleteCount"], web["held"]["moveCount"], web["held"]["approved"]) == (2, 0, False)
    assert "over the breaker" in web["held"]["reason"]
    assert web["lastPass"] == 1000.0 and web["rollout"] is None
    assert items["other"]["held"] is None


def test_the_detail_shows_desired_vs_released_the_held_change_and_the_last_pass(
        aw: World, seeded: AppSetState) -> None:
    body = aw.client.get(f"{BASE}/web", headers=VIEWER).json()
    assert [a["name"] for a in body["applications"]] == [f"web-c{i}" for i in (1, 3, 5, 7, 9)]
    first = body["applications"][0]
    assert (first["cluster"], first["desired"], first["released"], first["upToDate"], first["kept"]) == (
        "c1", True, True, True, False)
    assert body["change"]["deletes"] == ["web-c1", "web-c3"] and body["change"]["moves"] == []
    assert body["change"]["id"] == seeded.pending.id  # type: ignore[union-attr]
    assert any("held" in n for n in body["lastRun"]["notes"]) and body["lastRun"]["complete"] is True
    assert body["rolloutClusters"] == []


def test_approve_marks_exactly_the_held_change_approved(aw: World, appsets: InMemoryAppSets,
                                                        seeded: AppSetState) -> None:
    change = seeded.pending.id  # type: ignore[union-attr]
    wrong = aw.client.post(f"{BASE}/web/approve", json={"change": "0000"}, headers=OPERATOR)
    assert wrong.status_code == 409 and wrong.headers["content-type"] == PROBLEM
    assert f"the held change is {change}" in wrong.json()["detail"]
    assert not load_state(appsets, "web")[0].pending.approved  # type: ignore[union-attr]
    response = aw.client.post(f"{BASE}/web/approve", json={"change": change}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert response.json()["action"] == "approve" and response.json()["applicationSet"] == "web"
    assert f"approved change {change}" in response.json()["message"]
    assert load_state(appsets, "web")[0].pending.approved  # type: ignore[union-attr]
    entries = aw.audit.entries()
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("test-operator", "appset-approve", "applicationset/web")] * 2
    assert entries[0].detail == f"change={change} via api" and entries[0].remote == "testclient"


def test_approve_without_a_body_and_nothing_waiting_is_409(aw: World, seeded: AppSetState) -> None:
    response = aw.client.post(f"{BASE}/other/approve", headers=OPERATOR)
    assert response.status_code == 409 and "nothing waiting" in response.json()["detail"]
    bad = aw.client.post(f"{BASE}/web/approve", json={"change": "x", "extra": 1}, headers=OPERATOR)
    assert bad.status_code == 422


def test_approve_a_rollout_step_waiting_for_an_approval(aw: World, appsets: InMemoryAppSets) -> None:
    app = GeneratedApp.of({"name": "roll-c1", "labels": {"team": "a"}, "destination": {"cluster": "c1"},
                           "source": {"repository": "demo", "path": "apps", "revision": HEAD}})
    rollout = RolloutState("r1", 900.0, 1, "WaitingApproval", {"c0": 910.0}, {"c0": 950.0},
                           message="step 2 waits for an approval")
    state = AppSetState("roll", {app.name: app}, {}, rollout=rollout, last_run=LastRun(at=990.0))
    appsets.save("roll", state.to_json(), 0)
    body = aw.client.get(f"{BASE}/roll", headers=VIEWER).json()
    assert body["rollout"]["phase"] == "WaitingApproval" and body["rollout"]["step"] == 2
    assert body["rolloutClusters"] == [{"cluster": "c0", "releasedAt": 910.0, "doneAt": 950.0}]
    assert body["applications"][0]["released"] is False and body["applications"][0]["desiredRevision"] == HEAD
    response = aw.client.post(f"{BASE}/roll/approve", headers=OPERATOR)
    assert response.status_code == 200 and response.json()["message"] == "approved step 2 of the rollout"
    assert load_state(appsets, "roll")[0].rollout.approved_step == 1  # type: ignore[union-attr]


def test_pause_and_resume(aw: World, appsets: InMemoryAppSets, seeded: AppSetState) -> None:
    paused = aw.client.post(f"{BASE}/web/pause", headers=OPERATOR)
    assert paused.status_code == 200 and paused.json()["message"] == "ApplicationSet 'web' paused"
    assert load_state(appsets, "web")[0].paused
    assert aw.client.get(f"{BASE}/web", headers=VIEWER).json()["paused"] is True
    resumed = aw.client.post(f"{BASE}/web/resume", headers=OPERATOR)
    assert resumed.status_code == 200 and not load_state(appsets, "web")[0].paused
    assert [e.action for e in aw.audit.entries()] == ["appset-resume", "appset-pause"]


def test_tombstones_restore_and_delete(aw: World, appsets: InMemoryAppSets, clock: ManualClock) -> None:
    controller = Controller(appsets, clock)
    loose = make_set(syncPolicy={"maxDeleteShare": 1.0})
    controller.run(loose, CLUSTERS)
    controller.run(loose, WITHOUT_C1_C3)  # deleted at once: two tombstones
    stones = aw.client.get(f"{BASE}/web/tombstones", headers=VIEWER).json()["items"]
    assert sorted((s["application"], s["cluster"]) for s in stones) == [("web-c1", "c1"), ("web-c3", "c3")]
    assert all(s["expiresAt"] == s["deletedAt"] + 7 * 86400 for s in stones)
    restored = aw.client.post(f"{BASE}/web/tombstones/web-c1/restore", headers=OPERATOR)
    assert restored.status_code == 200, restored.text
    assert restored.json()["application"] == "web-c1" and "restored 'web-c1'" in restored.json()["message"]
    state = load_state(appsets, "web")[0]
    assert state.kept == ("web-c1",) and "web-c1" in state.released
    left = aw.client.get(f"{BASE}/web/tombstones", headers=VIEWER).json()["items"]
    assert [s["application"] for s in left] == ["web-c3"]
    again = aw.client.post(f"{BASE}/web/tombstones/web-c1/restore", headers=OPERATOR)
    assert again.status_code == 409 and again.json()["field"] == "application"
    kept = aw.client.get(f"{BASE}/web", headers=VIEWER).json()
    assert kept["kept"] == ["web-c1"] and kept["applications"][0]["kept"] is True
    unkept = aw.client.post(f"{BASE}/web/applications/web-c1/delete", headers=OPERATOR)
    assert unkept.status_code == 200 and load_state(appsets, "web")[0].kept == ()
    assert aw.client.post(f"{BASE}/web/applications/web-c1/delete", headers=OPERATOR).status_code == 409
    assert [e.target for e in aw.audit.entries()][:2] == ["applicationset/web/web-c1"] * 2


def test_a_viewer_cannot_act(aw: World, appsets: InMemoryAppSets, seeded: AppSetState) -> None:
    before = appsets.load("web")
    for path in ("web/approve", "web/pause", "web/resume", "web/tombstones/web-c1/restore",
                 "web/applications/web-c1/delete"):
        response = aw.client.post(f"{BASE}/{path}", headers=VIEWER)
        assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
    assert appsets.load("web") == before and aw.audit.entries() == []


def test_a_session_must_send_its_csrf_token(aw: World, appsets: InMemoryAppSets, seeded: AppSetState) -> None:
    refused = aw.client.post(f"{BASE}/web/pause", headers=SESSION)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = aw.client.post(f"{BASE}/web/pause", headers={**SESSION, "X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert not load_state(appsets, "web")[0].paused and aw.audit.entries() == []
    done = aw.client.post(f"{BASE}/web/pause", headers={**SESSION, "X-CSRF-Token": CSRF})
    assert done.status_code == 200 and load_state(appsets, "web")[0].paused


@pytest.mark.parametrize("path", ["nope", "%3Cscript%3E", "..%2Fweb", "nope/tombstones"])
def test_an_unknown_set_is_404(aw: World, seeded: AppSetState, path: str) -> None:
    response = aw.client.get(f"{BASE}/{path}", headers=VIEWER)
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert aw.client.post(f"{BASE}/nope/pause", headers=OPERATOR).status_code == 404
    assert aw.audit.entries() == []


def test_a_scoped_user_sees_and_acts_on_only_the_sets_all_of_whose_applications_it_may_see(
        aw: World, appsets: InMemoryAppSets, seeded: AppSetState) -> None:
    assert [i["name"] for i in aw.client.get(BASE, headers=TEAM_A).json()["items"]] == ["web"]
    assert aw.client.get(f"{BASE}/other", headers=TEAM_A).status_code == 404
    assert aw.client.get(f"{BASE}/other/tombstones", headers=TEAM_A).status_code == 404
    assert aw.client.post(f"{BASE}/other/pause", headers=TEAM_A).status_code == 404
    assert not load_state(appsets, "other")[0].paused
    assert aw.client.post(f"{BASE}/web/pause", headers=TEAM_A).status_code == 200
    by_set = {"X-Test-Role": "viewer", "X-Test-Scope": "gitops.dev/application-set=other"}
    assert [i["name"] for i in aw.client.get(BASE, headers=by_set).json()["items"]] == ["other"]


def test_no_store_is_503(redis_server: RedisServer, actions: object) -> None:
    with make_world(redis_server, actions) as world:
        for response in (world.client.get(BASE, headers=VIEWER),
                         world.client.get(f"{BASE}/web", headers=VIEWER),
                         world.client.post(f"{BASE}/web/pause", headers=OPERATOR)):
            assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
            assert response.json()["detail"] == "ApplicationSets are not available: no state store"


def test_no_audit_no_change(redis_server: RedisServer, actions: object, appsets: InMemoryAppSets,
                            seeded: AppSetState) -> None:
    away = RedisAuditLog.from_url(f"redis://127.0.0.1:{free_port()}/0")
    with make_world(redis_server, actions, ctx_changes={"audit": away, "appsets": appsets}) as world:
        world.closers.append(away.redis.close)
        response = world.client.post(f"{BASE}/web/pause", headers=OPERATOR)
        assert response.status_code == 503 and response.json()["temporary"] is True
    assert not load_state(appsets, "web")[0].paused


def test_an_unreadable_record_is_listed_with_why_to_unscoped_callers_only(
        aw: World, appsets: InMemoryAppSets, seeded: AppSetState) -> None:
    appsets.save("broken", '{"format": 99}', 0)
    items = {i["name"]: i for i in aw.client.get(BASE, headers=VIEWER).json()["items"]}
    assert "unknown record format 99" in items["broken"]["error"]
    assert "broken" not in [i["name"] for i in aw.client.get(BASE, headers=TEAM_A).json()["items"]]
    assert aw.client.get(f"{BASE}/broken", headers=VIEWER).status_code == 500
    assert aw.client.get(f"{BASE}/broken", headers=TEAM_A).status_code == 404


def test_the_routes_are_documented_with_their_models(aw: World) -> None:
    doc: dict[str, Any] = aw.client.get("/api/v1/openapi.json").json()
    routes = {("get", BASE): "AppSetList", ("get", BASE + "/{name}"): "AppSetDetail",
              ("get", BASE + "/{name}/tombstones"): "AppSetTombstoneList",
              ("post", BASE + "/{name}/approve"): "AppSetActionResult",
              ("post", BASE + "/{name}/pause"): "AppSetActionResult",
              ("post", BASE + "/{name}/resume"): "AppSetActionResult",
              ("post", BASE + "/{name}/tombstones/{application}/restore"): "AppSetActionResult",
              ("post", BASE + "/{name}/applications/{application}/delete"): "AppSetActionResult"}
    for (method, path), model in routes.items():
        operation = doc["paths"][path][method]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"] == f"#/components/schemas/{model}"
        for status in ("401", "404", "422"):
            assert list(operation["responses"][status]["content"]) == [PROBLEM]
    held = doc["components"]["schemas"]["AppSetHeld"]["properties"]
    assert {"deleteCount", "moveCount", "since"} <= set(held)
