"""GET /api/v1/applications/...: configuration, per-cluster status, drift with its manager, the last
operation's objects and trace, history, manifests and operations, on real Redis records; visibility
and hostile names."""

from __future__ import annotations

import pytest
from api_kit import OPERATOR, REV_A, REV_B, TEAM_A, VIEWER, World

from gitops.errors import Failure
from gitops.results import ImageCheck
from gitops.state import DriftRecord, ObjectRecord
from gitops.state.index import RenderedManifests
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger

PROBLEM = "application/problem+json"
SPANS = [SpanRecord("trigger", 989.0, 0.0, attributes={"delivery": "72d3162e"}),
         SpanRecord("resolve", 990.0, 0.2, attributes={"revision": REV_B}),
         SpanRecord("render", 990.2, 1.5), SpanRecord("verify", 991.7, 0.0),
         SpanRecord("plan", 991.7, 0.8), SpanRecord("apply", 992.5, 2.0, error="1 object failed"),
         SpanRecord("health", 994.5, 5.5)]
OBJECTS = [ObjectRecord("apps/v1/Deployment/web/web", "configured", "replicas 5 -> 3", health="Progressing"),
           ObjectRecord("v1/Service/web/web", "unchanged", health="Healthy"),
           ObjectRecord("v1/ConfigMap/web/settings", "failed", error="field is immutable", health="Degraded")]
DRIFT = [DriftRecord("apps/v1/Deployment/web/web", "/spec/replicas", "5", "3", "kubectl-scale", 995.5),
         DriftRecord("v1/ConfigMap/web/settings", "/data/mode", '"debug"', '"release"', None, None)]


def record_web(world: World) -> None:
    # an older poll, then a webhook-triggered sync that wrote the current status
    world.put("web", "prod-eu", op_id="op-1", started=900.0, at=910.0, revision=REV_A,
              objects=[ObjectRecord("apps/v1/Deployment/web/web", "created", health="Healthy")])
    world.put("web", "prod-eu", op_id="op-2", started=990.0, at=1000.0, revision=REV_B,
              sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.DEGRADED, drift=DRIFT, drift_count=7,
              trigger=Trigger.WEBHOOK, objects=OBJECTS, spans=SPANS,
              failure=Failure("SyncFailed", "1 object failed: field is immutable"),
              phase=OperationPhase.FAILED)


def test_one_application_with_status_drift_objects_trace_and_history(world: World) -> None:
    record_web(world)
    response = world.client.get("/api/v1/applications/web", headers=VIEWER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "web" and body["labels"] == {"team": "a", "tier": "web"}
    assert body["source"] == {"repository": "apps", "url": "https://***@git.example.com/org/apps.git",
                              "ref": "main", "path": "apps/web", "revision": None, "renderer": "plain"}
    assert body["destination"] == {"cluster": "prod-eu", "namespace": "web"}
    assert body["policy"]["automated"] is True and body["policy"]["selfHeal"] is False
    [target] = body["targets"]
    assert target["cluster"] == "prod-eu" and target["configured"] is True
    assert target["status"]["sync"] == "OutOfSync" and target["status"]["driftCount"] == 7
    assert target["status"]["failure"]["kind"] == "SyncFailed"
    assert target["drift"] == [
        {"object": "apps/v1/Deployment/web/web", "path": "/spec/replicas", "live": "5", "predicted": "3",
         "manager": "kubectl-scale", "changedAt": 995.5},
        {"object": "v1/ConfigMap/web/settings", "path": "/data/mode", "live": '"debug"',
         "predicted": '"release"', "manager": None, "changedAt": None}]
    assert target["driftDropped"] == 5
    last = target["lastOperation"]
    assert last["id"] == "op-2" and last["trigger"] == "webhook" and last["phase"] == "Failed"
    assert [(o["object"], o["action"], o["health"]) for o in last["objects"]] == [
        ("apps/v1/Deployment/web/web", "configured", "Progressing"),
        ("v1/Service/web/web", "unchanged", "Healthy"),
        ("v1/ConfigMap/web/settings", "failed", "Degraded")]
    assert [s["name"] for s in last["spans"]] == ["trigger", "resolve", "render", "verify", "plan", "apply",
                                                  "health"]
    assert last["spans"][5] == {"name": "apply", "start": 992.5, "duration": 2.0, "error": "1 object failed",
                                "attributes": {}}
    assert last["spans"][0]["attributes"] == {"delivery": "72d3162e"}
    assert last["actions"] == {"configured": 1, "unchanged": 1, "failed": 1}
    assert [h["id"] for h in target["history"]] == ["op-2", "op-1"]
    assert target["history"][1]["objects"] == [{"object": "apps/v1/Deployment/web/web", "action": "created",
                                                "message": "", "error": None, "health": "Healthy"}]


def test_history_is_bounded_by_the_parameter(world: World) -> None:
    record_web(world)
    body = world.client.get("/api/v1/applications/web", params={"history": 1}, headers=VIEWER).json()
    assert [h["id"] for h in body["targets"][0]["history"]] == ["op-2"]
    body = world.client.get("/api/v1/applications/web", params={"history": 0}, headers=VIEWER).json()
    assert body["targets"][0]["history"] == [] and body["targets"][0]["lastOperation"]["id"] == "op-2"
    too_many = world.client.get("/api/v1/applications/web", params={"history": 51}, headers=VIEWER)
    assert too_many.status_code == 422


def test_never_reconciled_application_has_its_cluster_without_status(world: World) -> None:
    body = world.client.get("/api/v1/applications/api", headers=VIEWER).json()
    assert body["targets"] == [{"cluster": "prod-us", "configured": True, "status": None, "drift": [],
                                "driftDropped": 0, "images": None, "lastOperation": None, "history": [],
                                "hold": None, "suspended": None}]


def test_image_verdicts_are_summarised_in_lists_and_listed_on_the_target(world: World) -> None:
    signed = ImageCheck("reg.example/web:1", "sha256:" + "a" * 64, "verified", ("key SHA256:k1",), (), 999.0)
    hostile = ImageCheck("reg.example/side:2<script>alert(1)</script>", None, "refused", (),
                         ("policy team rule all: keys: no cosign signature",), 999.0)
    world.put("web", "prod-eu", op_id="op-1", at=1000.0, revision=REV_A, verification=(signed, hostile),
              failure=Failure("VerificationFailed", "1 of 2 image(s) refused by the policy"),
              phase=OperationPhase.FAILED)
    [target] = world.client.get("/api/v1/applications/web", headers=VIEWER).json()["targets"]
    assert target["status"]["verification"] == {"images": 2, "verified": 1, "warned": 0, "refused": 1}
    assert target["status"]["failure"]["kind"] == "VerificationFailed"
    assert target["images"] == [
        {"image": "reg.example/web:1", "digest": "sha256:" + "a" * 64, "status": "verified",
         "signers": ["key SHA256:k1"], "reasons": [], "verifiedAt": 999.0},
        {"image": "reg.example/side:2<script>alert(1)</script>", "digest": None, "status": "refused",
         "signers": [], "reasons": ["policy team rule all: keys: no cosign signature"], "verifiedAt": 999.0}]
    listed = world.client.get("/api/v1/targets", headers=VIEWER).json()["items"]
    assert [t["verification"]["refused"] for t in listed if t["target"] == "web@prod-eu"] == [1]
    world.put("web", "prod-eu", op_id="op-2", at=1001.0, revision=REV_A)  # no policy applies any more
    [target] = world.client.get("/api/v1/applications/web", headers=VIEWER).json()["targets"]
    assert target["status"]["verification"] is None and target["images"] is None


def test_a_cluster_the_application_left_still_shows_its_last_status(world: World) -> None:
    world.put("web", "staging", at=500.0)
    record_web(world)
    body = world.client.get("/api/v1/applications/web", headers=VIEWER).json()
    clusters = [(t["cluster"], t["configured"]) for t in body["targets"]]
    assert clusters == [("prod-eu", True), ("staging", False)]
    ops = world.client.get("/api/v1/applications/web/clusters/staging/operations", headers=VIEWER)
    assert ops.status_code == 200 and [o["id"] for o in ops.json()["items"]] == ["op-web-staging"]


def test_application_list_is_the_visible_configuration(world: World) -> None:
    names = [a["name"] for a in world.client.get("/api/v1/applications", headers=VIEWER).json()["items"]]
    assert names == ["api", "cache", "db", "web"]
    names = [a["name"] for a in world.client.get("/api/v1/applications", headers=TEAM_A).json()["items"]]
    assert names == ["api", "web"]


def test_label_values_come_back_as_data(world: World) -> None:
    response = world.client.get("/api/v1/applications/cache", headers=VIEWER)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["labels"]["note"] == "<script>alert(1)</script>"


def test_operations_list_and_one_operation_with_its_trace(world: World) -> None:
    record_web(world)
    response = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations", headers=VIEWER)
    items = response.json()["items"]
    assert [o["id"] for o in items] == ["op-2", "op-1"]
    assert "objects" not in items[0] and "spans" not in items[0]
    assert items[0]["actions"] == {"configured": 1, "unchanged": 1, "failed": 1}
    assert items[0]["duration"] == 10.0
    limited = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations", params={"limit": 1},
                               headers=VIEWER).json()["items"]
    assert [o["id"] for o in limited] == ["op-2"]
    one = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations/op-2", headers=VIEWER)
    assert one.status_code == 200
    assert [s["name"] for s in one.json()["spans"]] == [s.name for s in SPANS]
    assert len(one.json()["objects"]) == 3


def test_an_operation_names_the_drift_its_write_corrected(world: World) -> None:
    fixed = DriftRecord("v1/ConfigMap/web/settings", ".data.mode", '"debug"', '"release"', "kubectl-edit",
                        995.5)
    world.put("web", "prod-eu", op_id="op-heal", trigger=Trigger.SELF_HEAL, corrected=(fixed,))
    [summary] = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations",
                                 headers=VIEWER).json()["items"]
    assert summary["correctedCount"] == 1 and "corrected" not in summary
    assert summary["applied"] is None  # the kit's operation does not say
    one = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations/op-heal",
                           headers=VIEWER).json()
    assert one["corrected"] == [{"object": "v1/ConfigMap/web/settings", "path": ".data.mode",
                                 "live": '"debug"', "predicted": '"release"', "manager": "kubectl-edit",
                                 "changedAt": 995.5}]


def test_a_running_operation_shows_in_history(world: World) -> None:
    from api_kit import operation_of

    record_web(world)
    world.store.begin(operation_of("web", "prod-eu", op_id="op-3", started=1100.0, finished=None,
                                   phase=OperationPhase.RUNNING, trigger=Trigger.MANUAL,
                                   trigger_detail="test-operator via api"))
    ops = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations", headers=VIEWER).json()
    assert ops["items"][0]["id"] == "op-3" and ops["items"][0]["phase"] == "Running"
    assert ops["items"][0]["finished"] is None and ops["items"][0]["triggerDetail"] == "test-operator via api"
    body = world.client.get("/api/v1/applications/web", headers=VIEWER).json()
    assert body["targets"][0]["lastOperation"]["id"] == "op-2"  # the one that wrote the status


def test_manifests_are_served_as_yaml(world: World) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  note: <script>x</script>\n"
    world.store.keep_manifests(Target("web", "prod-eu"), RenderedManifests("sha256:abc", "op-2", text))
    response = world.client.get("/api/v1/applications/web/clusters/prod-eu/manifests", headers=VIEWER)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/yaml; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-manifests-digest"] == "sha256:abc"
    assert response.headers["x-truncated"] == "false"
    assert response.text == text
    missing = world.client.get("/api/v1/applications/api/clusters/prod-us/manifests", headers=VIEWER)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("path", [
    "/api/v1/applications/nope",
    "/api/v1/applications/db",  # exists, but not team a's
    "/api/v1/applications/db/clusters/staging/operations",
    "/api/v1/applications/db/clusters/staging/manifests",
    "/api/v1/applications/web/clusters/nowhere/operations",
    "/api/v1/applications/web/clusters/<script>alert(1)<%2Fscript>/operations",
    "/api/v1/applications/web/clusters/prod-eu/operations/op-404",
    "/api/v1/applications/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/api/v1/applications/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/applications/..",
    "/api/v1/applications/web/clusters/..%2Fprod-eu/operations",
    "/api/v1/applications/" + "a" * 300,
])
def test_unknown_unseen_or_hostile_names_are_404_problems(world: World, path: str) -> None:
    record_web(world)
    world.put("db", "staging")
    response = world.client.get(path, headers=TEAM_A)
    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == PROBLEM
    assert "<script>" not in response.headers.get("content-type", "")
    assert response.json()["status"] == response.status_code


def test_another_teams_application_is_indistinguishable_from_a_missing_one(world: World) -> None:
    world.put("db", "staging")
    unseen = world.client.get("/api/v1/applications/db", headers=TEAM_A).json()
    missing = world.client.get("/api/v1/applications/dc", headers=TEAM_A).json()
    assert unseen["title"] == missing["title"] == "Not found"
    assert unseen["detail"].replace("db", "X") == missing["detail"].replace("dc", "X")
    assert world.client.get("/api/v1/applications/db", headers=VIEWER).status_code == 200


def test_hostile_operation_id_is_refused_naming_the_field(world: World) -> None:
    record_web(world)
    response = world.client.get("/api/v1/applications/web/clusters/prod-eu/operations/op*", headers=VIEWER)
    assert response.status_code == 400 and response.json()["field"] == "operation"


def test_reads_need_credentials(world: World) -> None:
    assert world.client.get("/api/v1/applications/web").status_code == 401
    assert world.client.get("/api/v1/applications/web", headers=OPERATOR).status_code == 200


