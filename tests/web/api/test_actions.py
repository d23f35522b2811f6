"""POST sync / refresh / hard-refresh: 202 with the operation id, enqueued through ``ctx.actions`` (never
inline), audited in the real audit log; roles, scope, CSRF for sessions, bad and oversized bodies."""

from __future__ import annotations

from typing import Any

import pytest
from api_kit import CSRF, OPERATOR, TEAM_A, VIEWER, World, make_world

from gitops.state.access import RedisAuditLog
from workers.redis_server import free_port

PROBLEM = "application/problem+json"
SYNC = "/api/v1/applications/web/clusters/prod-eu/sync"


def test_sync_enqueues_and_answers_202_with_the_operation_id(world: World, actions: Any) -> None:
    response = world.client.post(SYNC, json={"prune": True, "dryRun": True, "force": True}, headers=OPERATOR)
    assert response.status_code == 202, response.text
    assert response.json() == {"action": "sync", "application": "web", "cluster": "prod-eu",
                               "operation": "task-1", "queued": True,
                               "message": "sync of web@prod-eu enqueued as task-1"}
    assert actions.calls == [("sync", "web", "prod-eu", {"prune": True, "dry_run": True,
                                                         "detail": "test-operator via api", "force": True})]
    [entry] = world.audit.entries()
    assert (entry.actor, entry.action, entry.target) == ("test-operator", "sync", "web@prod-eu")
    assert entry.detail == "prune=True dry_run=True force=True"
    assert entry.remote == "testclient"


def test_sync_body_is_optional_and_defaults_to_no_prune_no_dry_run(world: World, actions: Any) -> None:
    assert world.client.post(SYNC, headers=OPERATOR).status_code == 202
    assert world.client.post(SYNC, json={}, headers=OPERATOR).status_code == 202
    assert [c[3]["prune"] for c in actions.calls] == [False, False]
    assert [c[3]["dry_run"] for c in actions.calls] == [False, False]


def test_refresh_and_hard_refresh(world: World, actions: Any) -> None:
    refresh = world.client.post("/api/v1/applications/web/clusters/prod-eu/refresh", headers=OPERATOR)
    assert refresh.status_code == 202 and refresh.json()["operation"] == "task-1"
    hard = world.client.post("/api/v1/applications/web/clusters/prod-eu/hard-refresh", headers=OPERATOR)
    assert hard.status_code == 202 and hard.json()["action"] == "hard-refresh"
    assert actions.calls == [
        ("reconcile", "web", "prod-eu", {"trigger": "manual", "detail": "test-operator via api"}),
        ("hard-refresh", "web", "prod-eu", {"detail": "test-operator via api"})]
    assert [e.action for e in world.audit.entries()] == ["hard-refresh", "refresh"]


def test_a_refresh_already_queued_says_so(world: World, actions: Any) -> None:
    actions.coalesce.add("web@prod-eu")
    response = world.client.post("/api/v1/applications/web/clusters/prod-eu/refresh", headers=OPERATOR)
    assert response.status_code == 202
    assert response.json()["queued"] is False and response.json()["operation"] is None
    assert "already queued" in response.json()["message"]


@pytest.mark.parametrize("path", [
    "/api/v1/applications/nope/clusters/prod-eu/sync",
    "/api/v1/applications/web/clusters/nowhere/sync",
    "/api/v1/applications/web/clusters/staging/sync",  # configured cluster, but web is not placed there
    "/api/v1/applications/db/clusters/staging/refresh",  # not team a's
    "/api/v1/applications/%3Cscript%3E/clusters/prod-eu/hard-refresh",
    "/api/v1/applications/..%2Fweb/clusters/prod-eu/sync",
])
def test_unknown_unplaced_or_unseen_targets_are_404_and_nothing_is_enqueued(
        world: World, actions: Any, path: str) -> None:
    response = world.client.post(path, headers=TEAM_A)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM
    assert actions.calls == [] and world.audit.entries() == []


def test_a_viewer_cannot_act(world: World, actions: Any) -> None:
    for action in ("sync", "refresh", "hard-refresh"):
        response = world.client.post(f"/api/v1/applications/web/clusters/prod-eu/{action}", headers=VIEWER)
        assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
    assert actions.calls == []


def test_no_credentials_is_401(world: World, actions: Any) -> None:
    response = world.client.post(SYNC, json={})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert actions.calls == []


SESSION = {"X-Test-Role": "operator", "X-Test-Via": "session"}


def test_a_session_must_send_its_csrf_token(world: World, actions: Any) -> None:
    missing = world.client.post(SYNC, json={}, headers=SESSION)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = world.client.post(SYNC, json={}, headers={**SESSION, "X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    # a cross-site form post carries no header: a form field with the wrong token is refused too
    form = world.client.post(SYNC, data={"csrf": "guess"}, headers=SESSION)
    assert form.status_code == 403
    assert actions.calls == []
    right = world.client.post(SYNC, json={}, headers={**SESSION, "X-CSRF-Token": CSRF})
    assert right.status_code == 202 and len(actions.calls) == 1


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"prune": "yes please"}', "application/json"),
    (b'{"prune": true, "dry_run": 3}', "application/json"),
    (b'{"prune": true, "takeover": true}', "application/json"),
    (b'{"prune": ', "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"sync"', "application/json"),
    (b"prune=true", "application/x-www-form-urlencoded"),
])
def test_bad_bodies_are_422_and_nothing_is_enqueued(world: World, actions: Any, body: bytes,
                                                     content_type: str) -> None:
    response = world.client.post(SYNC, content=body, headers={**OPERATOR, "Content-Type": content_type})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM and response.json()["errors"]
    assert actions.calls == []


def test_an_oversized_body_is_413_before_anything_runs(world: World, actions: Any) -> None:
    huge = b'{"prune": true, "pad": "' + b"x" * (64 * 1024) + b'"}'
    response = world.client.post(SYNC, content=huge, headers={**OPERATOR, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.headers["content-type"] == PROBLEM
    assert actions.calls == []


def test_reads_are_not_actions(world: World, actions: Any) -> None:
    assert world.client.get(SYNC, headers=OPERATOR).status_code == 405
    assert actions.calls == []


def test_no_audit_no_action(redis_server: Any, actions: Any) -> None:
    away = RedisAuditLog.from_url(f"redis://127.0.0.1:{free_port()}/0")
    with make_world(redis_server, actions, ctx_changes={"audit": away}) as world:
        world.closers.append(away.redis.close)
        response = world.client.post(SYNC, json={}, headers=OPERATOR)
        assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
        assert response.json()["temporary"] is True
    assert actions.calls == []
