"""/api/v1/openapi.json documents every API route: parameters, typed answers, problem+json errors."""

from __future__ import annotations

from typing import Any

from api_kit import World

ROUTES = {
    ("get", "/api/v1/targets"): "TargetPage",
    ("get", "/api/v1/applications"): "ApplicationList",
    ("get", "/api/v1/applications/{app}"): "ApplicationDetail",
    ("get", "/api/v1/applications/{app}/clusters/{cluster}/operations"): "OperationList",
    ("get", "/api/v1/applications/{app}/clusters/{cluster}/operations/{operation}"): "OperationDetail",
    ("get", "/api/v1/commits/{revision}"): "CommitTargets",
    ("get", "/api/v1/clusters"): "ClusterList",
    ("get", "/api/v1/clusters/{name}"): "ClusterSummary",
    ("post", "/api/v1/applications/{app}/clusters/{cluster}/sync"): "ActionAccepted",
    ("post", "/api/v1/applications/{app}/clusters/{cluster}/refresh"): "ActionAccepted",
    ("post", "/api/v1/applications/{app}/clusters/{cluster}/hard-refresh"): "ActionAccepted",
}


def test_every_route_is_documented_with_its_model_and_problem_answers(world: World) -> None:
    response = world.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    for (method, path), model in ROUTES.items():
        operation = doc["paths"][path][method]
        ok = operation["responses"]["202" if method == "post" else "200"]
        assert ok["content"]["application/json"]["schema"]["$ref"] == f"#/components/schemas/{model}"
        for status in ("401", "404", "422"):
            problem = operation["responses"][status]["content"]
            assert list(problem) == ["application/problem+json"]
            assert set(problem["application/problem+json"]["schema"]["required"]) == {"title", "status"}
    events = doc["paths"]["/api/v1/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert [p["name"] for p in events["parameters"]] == ["Last-Event-ID"]
    manifests = doc["paths"]["/api/v1/applications/{app}/clusters/{cluster}/manifests"]["get"]
    assert "text/yaml" in manifests["responses"]["200"]["content"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "get" in doc["paths"][path]


def test_the_documents_speak_camel_case(world: World) -> None:
    doc = world.client.get("/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["SyncRequest"]["properties"]) == {"prune", "dryRun", "force"}
    assert {"driftCount", "reconciledAt", "failure"} <= set(schemas["TargetSummary"]["properties"])
    assert {"changedAt", "manager"} <= set(schemas["DriftItem"]["properties"])
    detail = set(schemas["OperationDetail"]["properties"])
    assert {"spans", "objects", "triggerDetail", "commitTime", "corrected", "correctedCount"} <= detail
    parameters = {p["name"] for p in doc["paths"]["/api/v1/targets"]["get"]["parameters"]}
    assert parameters == {"sync", "health", "cluster", "application", "clusterLabel", "appLabel", "revision",
                          "q", "drifted", "failed", "sort", "order", "cursor", "limit", "counts"}
