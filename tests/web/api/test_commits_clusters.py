"""GET /api/v1/commits/{revision} and /api/v1/clusters on real Redis records: where a commit is,
cluster labels without credentials, counts and reachability derived from the targets' failures."""

from __future__ import annotations

import json

import pytest
from api_kit import REV_A, REV_B, TEAM_A, VIEWER, World

from gitops.errors import Failure
from gitops.vocabulary import HealthStatus, SyncStatus


def test_where_is_a_commit_deployed(world: World) -> None:
    world.put("web", "prod-eu", revision=REV_B)
    world.put("api", "prod-us", revision=REV_A)
    world.put("db", "staging", revision=REV_A)
    answer = world.client.get(f"/api/v1/commits/{REV_A[:7]}", headers=VIEWER).json()
    assert answer["revision"] == REV_A[:7] and answer["truncated"] is False
    assert sorted(i["target"] for i in answer["items"]) == ["api@prod-us", "db@staging"]
    # db's source is the infra repository, api's the apps repository
    only = world.client.get(f"/api/v1/commits/{REV_A}", params={"repository": "apps"}, headers=VIEWER).json()
    assert [i["target"] for i in only["items"]] == ["api@prod-us"] and only["repository"] == "apps"
    upper = world.client.get(f"/api/v1/commits/{REV_B[:10].upper()}", headers=VIEWER).json()
    assert [i["target"] for i in upper["items"]] == ["web@prod-eu"]
    assert world.client.get("/api/v1/commits/ffffffff", headers=VIEWER).json()["items"] == []


def test_commit_targets_are_narrowed_to_the_callers_applications(world: World) -> None:
    world.put("api", "prod-us", revision=REV_A)
    world.put("db", "staging", revision=REV_A)
    answer = world.client.get(f"/api/v1/commits/{REV_A[:8]}", headers=TEAM_A).json()
    assert [i["target"] for i in answer["items"]] == ["api@prod-us"]


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/commits/abc", 422),                       # too short a prefix
    ("/api/v1/commits/" + "a" * 65, 422),
    ("/api/v1/commits/HEAD~1", 422),
    ("/api/v1/commits/a1b2*", 422),
    ("/api/v1/commits/a1b2%00", 422),
    ("/api/v1/commits/a1b2c3d4?repository=nope", 404),
    ("/api/v1/commits/a1b2c3d4?repository=%3Cscript%3E", 404),
])
def test_bad_revisions_and_unknown_repositories(world: World, path: str, status: int) -> None:
    response = world.client.get(path, headers=VIEWER)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_clusters_with_labels_counts_and_no_credentials(world: World) -> None:
    world.put("web", "prod-eu", sync=SyncStatus.OUT_OF_SYNC, at=1000.0)
    world.put("cache", "prod-eu", health=HealthStatus.DEGRADED, at=1001.0)
    response = world.client.get("/api/v1/clusters", headers=VIEWER)
    assert response.status_code == 200
    items = {c["name"]: c for c in response.json()["items"]}
    assert list(items) == ["prod-eu", "prod-us", "staging"]
    eu = items["prod-eu"]
    assert eu["labels"] == {"env": "prod", "region": "eu"}
    assert eu["server"] == "https://***@k8s-eu.example.com:6443"
    assert eu["counts"]["total"] == 2 and eu["counts"]["sync"]["OutOfSync"] == 1
    assert eu["counts"]["health"]["Degraded"] == 1
    assert eu["reachability"] == {"state": "reachable", "at": 1001.0, "message": None,
                                  "target": "cache@prod-eu"}
    assert items["prod-us"]["server"] is None and items["prod-us"]["counts"]["total"] == 0
    assert items["prod-us"]["reachability"]["state"] == "unknown"
    text = response.text
    for secret in ("kube-pass", "EU_TOKEN", "eu-token", "kubeconfig-us", "us-admin", "s3cr3t"):
        assert secret not in text


def test_a_cluster_whose_newest_telling_reconcile_could_not_connect_is_unreachable(world: World) -> None:
    world.put("web", "prod-eu", at=1000.0)
    world.put("cache", "prod-eu", at=1005.0,
              failure=Failure("ClusterUnavailable", "dial tcp 10.0.0.1:6443: connection refused", True))
    one = world.client.get("/api/v1/clusters/prod-eu", headers=VIEWER).json()
    assert one["reachability"] == {"state": "unreachable", "at": 1005.0,
                                   "message": "dial tcp 10.0.0.1:6443: connection refused",
                                   "target": "cache@prod-eu"}
    # a newer success says the cluster answers again; a render failure says nothing either way
    world.put("web", "prod-eu", at=1010.0)
    world.put("cache", "prod-eu", at=1020.0, failure=Failure("RenderFailed", "kustomize: bad patch"))
    again = world.client.get("/api/v1/clusters/prod-eu", headers=VIEWER).json()
    assert again["reachability"]["state"] == "reachable" and again["reachability"]["target"] == "web@prod-eu"


def test_a_conflict_is_an_answer_from_the_cluster(world: World) -> None:
    world.put("cache", "prod-eu", at=1000.0, failure=Failure("Conflict", "field owned by kubectl"))
    assert world.client.get("/api/v1/clusters/prod-eu", headers=VIEWER).json()["reachability"]["state"] == \
        "reachable"


def test_a_scoped_caller_counts_only_its_targets(world: World) -> None:
    world.put("web", "prod-eu", at=1000.0)
    world.put("cache", "prod-eu", at=1001.0,
              failure=Failure("ClusterUnavailable", "connection refused", True))
    eu = world.client.get("/api/v1/clusters/prod-eu", headers=TEAM_A).json()
    assert eu["counts"]["total"] == 1
    assert eu["reachability"]["target"] == "web@prod-eu"  # team b's failure is not shown to team a
    nobody = world.client.get("/api/v1/clusters/prod-eu",
                              headers={"X-Test-Role": "viewer", "X-Test-Scope": "team=z"}).json()
    assert nobody["counts"]["total"] == 0 and nobody["reachability"]["state"] == "unknown"


@pytest.mark.parametrize("name", ["nope", "%3Cscript%3E", "..%2F..%2Fetc", "x" * 300])
def test_unknown_clusters_are_404(world: World, name: str) -> None:
    response = world.client.get(f"/api/v1/clusters/{name}", headers=VIEWER)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"
    json.loads(response.text)
