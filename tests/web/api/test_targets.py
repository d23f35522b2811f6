"""GET /api/v1/targets on real Redis state: filters, selectors, sort, cursor paging, counts, scope,
and hostile parameters."""

from __future__ import annotations

from typing import Any

import pytest
from api_kit import OPERATOR, REV_A, REV_B, TEAM_A, VIEWER, World, app_of, default_fleet, make_world

from gitops.domain import Fleet
from gitops.errors import Failure
from gitops.state import DriftRecord
from gitops.vocabulary import HealthStatus, SyncStatus

PROBLEM = "application/problem+json"


def fill(world: World) -> None:
    world.put("web", "prod-eu", sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.DEGRADED, revision=REV_B,
              drift=[DriftRecord("apps/v1/Deployment/web/web", "/spec/replicas", "5", "3", "kubectl-scale")],
              at=1003.0)
    world.put("api", "prod-us", health=HealthStatus.PROGRESSING, at=1001.0)
    world.put("db", "staging", sync=SyncStatus.UNKNOWN, health=HealthStatus.UNKNOWN, revision=None,
              failure=Failure("ClusterUnavailable", "connection refused", True), at=1002.0)
    world.put("cache", "prod-eu", at=1000.0)


def names(answer: dict[str, Any]) -> list[str]:
    return [item["target"] for item in answer["items"]]


def get(world: World, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = world.client.get("/api/v1/targets", params=params, headers=headers or VIEWER)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_lists_every_target_by_name_with_compact_summaries(world: World) -> None:
    fill(world)
    answer = get(world)
    assert names(answer) == ["api@prod-us", "cache@prod-eu", "db@staging", "web@prod-eu"]
    assert answer["total"] == 4 and answer["nextCursor"] is None and answer["counts"] is None
    web = answer["items"][3]
    assert web == {"application": "web", "cluster": "prod-eu", "target": "web@prod-eu", "revision": REV_B,
                   "sync": "OutOfSync", "health": "Degraded", "driftCount": 1, "failed": False,
                   "error": None, "failure": None, "operation": "op-web-prod-eu", "reconciledAt": 1003.0,
                   "verification": None, "hold": None, "suspended": None}
    assert "drift" not in web  # the drift itself is on the application's page
    db = answer["items"][2]
    assert db["failed"] is True
    assert db["failure"] == {"kind": "ClusterUnavailable", "message": "connection refused",
                             "temporary": True, "retryAfter": None}


@pytest.mark.parametrize(("params", "expected"), [
    ({"sync": "OutOfSync"}, ["web@prod-eu"]),
    ({"sync": ["Synced", "Unknown"]}, ["api@prod-us", "cache@prod-eu", "db@staging"]),
    ({"health": ["Degraded", "Progressing"]}, ["api@prod-us", "web@prod-eu"]),
    ({"cluster": "prod-eu"}, ["cache@prod-eu", "web@prod-eu"]),
    ({"application": ["db", "api"]}, ["api@prod-us", "db@staging"]),
    ({"clusterLabel": "env=prod"}, ["api@prod-us", "cache@prod-eu", "web@prod-eu"]),
    ({"clusterLabel": "env=prod,region!=eu"}, ["api@prod-us"]),
    ({"clusterLabel": "region in (eu, us)", "appLabel": "tier!=web"}, ["api@prod-us", "cache@prod-eu"]),
    ({"appLabel": "team=b"}, ["cache@prod-eu", "db@staging"]),
    ({"appLabel": "team=a", "cluster": "staging"}, []),
    ({"revision": REV_B[:8]}, ["web@prod-eu"]),
    ({"revision": REV_A[:4].upper()}, ["api@prod-us", "cache@prod-eu"]),
    ({"q": "eu"}, ["cache@prod-eu", "web@prod-eu"]),
    ({"drifted": "true"}, ["web@prod-eu"]),
    ({"drifted": "false", "failed": "false"}, ["api@prod-us", "cache@prod-eu"]),
    ({"failed": "true"}, ["db@staging"]),
    ({"cluster": "nowhere"}, []),
])
def test_filters_on_the_server(world: World, params: dict[str, Any], expected: list[str]) -> None:
    fill(world)
    answer = get(world, **params)
    assert names(answer) == expected
    assert answer["total"] == len(expected)


@pytest.mark.parametrize(("sort", "order", "expected"), [
    ("cluster", "asc", ["cache@prod-eu", "web@prod-eu", "api@prod-us", "db@staging"]),
    ("health", "asc", ["web@prod-eu", "db@staging", "api@prod-us", "cache@prod-eu"]),
    ("sync", "asc", ["web@prod-eu", "db@staging", "api@prod-us", "cache@prod-eu"]),
    ("reconciled", "desc", ["web@prod-eu", "db@staging", "api@prod-us", "cache@prod-eu"]),
    ("name", "desc", ["web@prod-eu", "db@staging", "cache@prod-eu", "api@prod-us"]),
])
def test_sorts(world: World, sort: str, order: str, expected: list[str]) -> None:
    fill(world)
    assert names(get(world, sort=sort, order=order)) == expected


def test_pages_follow_the_cursor_to_the_end(redis_server: Any, actions: Any) -> None:
    apps = {f"svc-{i:02}": app_of(f"svc-{i:02}", "prod-eu" if i % 2 else "staging",
                                  labels={"team": "a" if i < 7 else "b"}) for i in range(12)}
    base = default_fleet()
    with make_world(redis_server, actions, fleet=Fleet(base.repositories, base.clusters, apps)) as world:
        for name, app in apps.items():
            world.put(name, app.destination.cluster)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 5, "counts": "true"}
            if cursor:
                params["cursor"] = cursor
            answer = get(world, **params)
            pages += 1
            assert answer["total"] == 12 and answer["counts"]["total"] == 12
            seen += names(answer)
            cursor = answer["nextCursor"]
            if cursor is None:
                break
        assert pages == 3 and seen == [f"svc-{i:02}@{'prod-eu' if i % 2 else 'staging'}" for i in range(12)]
        # a scoped principal pages through its own applications only, and the total says so
        answer = get(world, headers=TEAM_A, limit=5)
        assert answer["total"] == 7 and len(answer["items"]) == 5
        rest = get(world, headers=TEAM_A, limit=5, cursor=answer["nextCursor"])
        team_a = [f"svc-{i:02}@{'prod-eu' if i % 2 else 'staging'}" for i in range(7)]
        assert names(answer) + names(rest) == team_a
        assert rest["nextCursor"] is None


def test_counts_cover_every_matching_target(world: World) -> None:
    fill(world)
    answer = get(world, counts="true", clusterLabel="env=prod")
    assert answer["counts"] == {"total": 3, "sync": {"Synced": 2, "OutOfSync": 1, "Unknown": 0},
                                "health": {"Healthy": 1, "Suspended": 0, "Progressing": 1, "Unknown": 0,
                                           "Missing": 0, "Degraded": 1},
                                "drifted": 1, "failed": 0}


def test_a_scoped_principal_sees_only_its_applications(world: World) -> None:
    fill(world)
    assert names(get(world, headers=TEAM_A)) == ["api@prod-us", "web@prod-eu"]
    # asking for another team's application by name or label finds nothing, and counts agree
    answer = get(world, headers=TEAM_A, application="db", counts="true")
    assert answer["items"] == [] and answer["total"] == 0 and answer["counts"]["total"] == 0
    assert get(world, headers=TEAM_A, appLabel="team=b")["total"] == 0


def test_a_scope_matching_nothing_sees_nothing_not_everything(world: World) -> None:
    fill(world)
    # an empty name set must not reach the index, where an empty set would mean "any"
    answer = get(world, headers={"X-Test-Role": "viewer", "X-Test-Scope": "team=nobody"}, counts="true")
    assert answer["items"] == [] and answer["total"] == 0 and answer["counts"]["total"] == 0


def test_unscoped_principals_also_see_targets_no_longer_configured(world: World) -> None:
    fill(world)
    world.put("retired", "staging")
    assert "retired@staging" in names(get(world))
    assert "retired@staging" not in names(get(world, headers=TEAM_A))


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 100000}, "query.limit"),
    ({"limit": 0}, "query.limit"),
    ({"limit": "ten"}, "query.limit"),
    ({"sort": "password"}, "query.sort"),
    ({"order": "sideways"}, "query.order"),
    ({"sync": "Healthy"}, "query.sync"),
    ({"health": "<script>"}, "query.health"),
    ({"revision": "abc"}, "query.revision"),
    ({"revision": "zzzzzzzz"}, "query.revision"),
    ({"revision": "a1b2' OR '1'='1"}, "query.revision"),
    ({"drifted": "maybe"}, "query.drifted"),
    ({"q": "x" * 300}, "query.q"),
    ({"cursor": "c" * 3000}, "query.cursor"),
    ({"clusterLabel": "env=" + "x" * 2000}, "query.clusterLabel"),
    ({"cluster": [f"c{i}" for i in range(101)]}, "query.cluster"),
])
def test_bad_parameters_are_422_naming_the_field(world: World, params: dict[str, Any], field: str) -> None:
    body = problem(world.client.get("/api/v1/targets", params=params, headers=VIEWER), 422)
    assert len(body["errors"]) == 1 and body["errors"][0]["field"].startswith(field)
    assert field in body["detail"]


@pytest.mark.parametrize(("params", "field"), [
    ({"clusterLabel": "env in (prod"}, "clusterLabel"),
    ({"appLabel": "team=a; DROP TABLE"}, "appLabel"),
    ({"appLabel": "*"}, "appLabel"),
    ({"clusterLabel": "env=prod\nFLUSHALL"}, "clusterLabel"),
    ({"cursor": "not-a-cursor"}, "cursor"),
])
def test_selectors_and_cursors_the_server_refuses_are_400_naming_the_field(
        world: World, params: dict[str, Any], field: str) -> None:
    fill(world)
    body = problem(world.client.get("/api/v1/targets", params=params, headers=VIEWER), 400)
    assert body["field"] == field


def test_text_search_is_a_substring_never_a_pattern(world: World) -> None:
    fill(world)
    for text in ("*", "?", "[a-z]", "%", ".*", "\\", "'"):
        assert get(world, q=text)["items"] == []


def test_missing_credentials_are_401_and_any_role_reads(world: World) -> None:
    body = problem(world.client.get("/api/v1/targets"), 401)
    assert body["title"] == "Unauthorized"
    assert world.client.get("/api/v1/targets", headers=OPERATOR).status_code == 200
