"""POST rollback / resume and the ``hold`` and ``suspended`` fields of targets and applications: the real
``CeleryDispatcher`` (its rollback and resume write the suspension on the test's Redis) with the two
enqueues recorded instead of published; roles, CSRF, hostile revisions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from api_kit import CSRF, OPERATOR, REV_A, REV_B, TEAM_A, VIEWER, World, operation_of, status_of

from gitops.state.model import Hold
from gitops.state.suspensions import RedisSuspensions, Suspension
from gitops.vocabulary import Target, Trigger
from workers.dispatch import CeleryDispatcher

PROBLEM = "application/problem+json"
ROLLBACK = "/api/v1/applications/web/clusters/prod-eu/rollback"
RESUME = "/api/v1/applications/web/clusters/prod-eu/resume"
WEB = Target("web", "prod-eu")
SESSION = {"X-Test-Role": "operator", "X-Test-Via": "session"}


class RecordingDispatcher(CeleryDispatcher):
    """The workers' dispatcher, its rollback and resume as in production; what it would publish on the
    Celery queues is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str, dict[str, object]]] = []

    def enqueue_sync(self, app: str, cluster: str, *, prune: bool, dry_run: bool, detail: str | None = None,
                     force: bool = False, revision: str | None = None) -> str:
        self.calls.append(("sync", app, cluster, {"prune": prune, "dry_run": dry_run, "detail": detail,
                                                  "revision": revision}))
        return f"task-{len(self.calls)}"

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None:
        self.calls.append(("reconcile", app, cluster, {"trigger": str(trigger), "detail": detail}))
        return f"task-{len(self.calls)}"


@pytest.fixture
def actions() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
def held(world: World, actions: RecordingDispatcher) -> RedisSuspensions:
    """web@prod-eu applied REV_A, then REV_B (its current revision); suspensions on the world's Redis."""
    actions._store = world.store
    suspensions = RedisSuspensions(world.store.redis, prefix=world.store.keys.prefix)
    world.ctx.suspensions = suspensions
    for op_id, revision, started in (("op-1", REV_A, 100.0), ("op-2", REV_B, 200.0)):
        world.record(status_of("web", "prod-eu", revision=revision, operation=op_id, at=started + 1),
                     operation_of("web", "prod-eu", op_id=op_id, revision=revision, started=started,
                                  finished=started + 1, applied=True))
    return suspensions


def test_rollback_suspends_enqueues_and_shows_everywhere(world: World, actions: RecordingDispatcher,
                                                         held: RedisSuspensions) -> None:
    response = world.client.post(ROLLBACK, headers=OPERATOR)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["action"] == "rollback" and body["revision"] == REV_A and body["operation"] == "task-1"
    assert body["warning"] is None
    assert actions.calls == [("sync", "web", "prod-eu", {
        "prune": False, "dry_run": False, "detail": "rollback to a1b2c3d40000 by test-operator via api",
        "revision": REV_A})]
    found = held.suspension(WEB)
    assert found is not None and found.revision == REV_A and found.by == "test-operator via api"
    [entry] = world.audit.entries()
    assert (entry.action, entry.target, entry.detail) == ("rollback", "web@prod-eu", f"to={REV_A}")
    assert world.store.events()[-1].kind == "suspended"

    [item] = world.client.get("/api/v1/targets?application=web", headers=VIEWER).json()["items"]
    assert item["suspended"]["reason"] == "rollback to a1b2c3d40000"
    assert item["suspended"]["revision"] == REV_A
    assert item["hold"] is None
    [target] = world.client.get("/api/v1/applications/web", headers=VIEWER).json()["targets"]
    assert target["suspended"]["by"] == "test-operator via api"
    assert target["status"]["suspended"]["revision"] == REV_A

    resumed = world.client.post(RESUME, headers=OPERATOR)
    assert resumed.status_code == 202 and resumed.json()["operation"] == "task-2"
    assert actions.calls[-1] == ("reconcile", "web", "prod-eu", {
        "trigger": "manual", "detail": "resume by test-operator via api"})
    assert held.suspension(WEB) is None and world.store.events()[-1].kind == "resumed"
    again = world.client.post(RESUME, headers=OPERATOR)
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert "not suspended" in again.json()["detail"] and len(actions.calls) == 2


def test_rollback_to_a_prefix_or_an_unknown_full_id(world: World, actions: RecordingDispatcher,
                                                    held: RedisSuspensions) -> None:
    response = world.client.post(ROLLBACK, json={"to": "B2C3"}, headers=OPERATOR)
    assert response.status_code == 202 and response.json()["revision"] == REV_B
    outside = world.client.post(ROLLBACK, json={"to": "c" * 40}, headers=OPERATOR)
    assert outside.status_code == 202 and "not in the history" in outside.json()["warning"]
    assert actions.calls[-1][3]["revision"] == "c" * 40


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"to": "../../etc"}, 400, "invalid revision"),
    ({"to": "zzzz"}, 400, "invalid revision"),
    ({"to": "a1b2c3d4; rm -rf /"}, 400, "invalid revision"),
    ({"to": "dead"}, 400, "choices: b2c3d4e51111, a1b2c3d40000"),
    ({"to": "a" * 10_000}, 422, ""),
    ({"to": ["a1b2"]}, 422, ""),
    ({"to": "a1b2", "prune": True}, 422, ""),
])
def test_hostile_revisions_are_refused_and_nothing_happens(world: World, actions: RecordingDispatcher,
                                                           held: RedisSuspensions, body: Any, status: int,
                                                           says: str) -> None:
    response = world.client.post(ROLLBACK, json=body, headers=OPERATOR)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM and says in response.json()["detail"]
    assert len(response.text) < 2000  # the 10 KB value is not echoed back
    assert actions.calls == [] and held.suspension(WEB) is None and world.audit.entries() == []


def test_nothing_to_roll_back_to_is_400(world: World, actions: RecordingDispatcher,
                                        held: RedisSuspensions) -> None:
    response = world.client.post("/api/v1/applications/api/clusters/prod-us/rollback", headers=OPERATOR)
    assert response.status_code == 400 and "no earlier applied revision" in response.json()["detail"]
    assert actions.calls == []


@pytest.mark.parametrize("path", [ROLLBACK, RESUME])
def test_forged_unauthenticated_and_csrf_less_requests_are_refused(world: World, actions: RecordingDispatcher,
                                                                   held: RedisSuspensions, path: str) -> None:
    held.suspend(Suspension(WEB, "rollback to a1b2c3d40000", 1.0, REV_A, "alice"))
    assert world.client.post(path).status_code == 401
    assert world.client.post(path, headers=VIEWER).status_code == 403
    assert world.client.post(path, headers=SESSION).status_code == 403
    assert world.client.post(path, headers={**SESSION, "X-CSRF-Token": "guess"}).status_code == 403
    assert world.client.post(path, data={"csrf": "guess"}, headers=SESSION).status_code == 403
    for other in ("/api/v1/applications/db/clusters/staging/rollback",  # not team a's
                  "/api/v1/applications/web/clusters/staging/resume",   # not placed there
                  "/api/v1/applications/..%2Fweb/clusters/prod-eu/rollback"):
        assert world.client.post(other, headers=TEAM_A).status_code == 404
    assert actions.calls == [] and world.audit.entries() == []
    assert world.client.get(path, headers=OPERATOR).status_code == 405
    right = world.client.post(path, headers={**SESSION, "X-CSRF-Token": CSRF})
    assert right.status_code == 202 and len(actions.calls) == 1


def test_holds_are_in_target_summaries(world: World, held: RedisSuspensions) -> None:
    hold = Hold("dependency", "waits for db@staging", on=("db@staging",), since=5.0)
    world.record(replace(status_of("api", "prod-us", operation="op-api"), hold=hold),
                 operation_of("api", "prod-us", op_id="op-api"))
    [item] = world.client.get("/api/v1/targets?application=api", headers=VIEWER).json()["items"]
    assert item["hold"] == {"reason": "dependency", "message": "waits for db@staging", "on": ["db@staging"],
                            "until": None, "since": 5.0}
    assert item["suspended"] is None
    [target] = world.client.get("/api/v1/applications/api", headers=VIEWER).json()["targets"]
    assert target["hold"]["on"] == ["db@staging"]
