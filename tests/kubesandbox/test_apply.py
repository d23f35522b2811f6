"""Server-side apply through the sandbox, pinned to the Kubernetes "Server-Side Apply" documentation:
conflicts and their causes, shared and transferred ownership, keyed list merging, upsert, dry-run."""

from __future__ import annotations

import json
from typing import Any

from kubesandbox.client import Client

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def deployment(replicas: int | None = 2, containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers or [{"name": "web", "image": "nginx:1.25"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec}


def owners(obj: dict[str, Any], field: str) -> set[str]:
    """Managers whose FieldsV1 set of ``spec`` mentions ``field`` (e.g. "f:replicas")."""
    return {
        m["manager"]
        for m in obj["metadata"].get("managedFields", [])
        if field in json.dumps(m["fieldsV1"].get("f:spec", {}))
    }


def test_apply_creates_then_is_idempotent(client: Client) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    first = client.apply(f"{CONFIGMAPS}/cm", cm, manager="alice")
    assert first.status == 201, first.body
    entries = first.body["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [("alice", "Apply")]
    again = client.apply(f"{CONFIGMAPS}/cm", cm, manager="alice")
    assert again.status == 200
    assert again.body["metadata"]["resourceVersion"] == first.body["metadata"]["resourceVersion"]
    dep = client.apply(f"{DEPLOYMENTS}/web", deployment(), manager="alice")
    assert dep.status == 201 and dep.body["metadata"]["generation"] == 1
    assert (
        client.apply(f"{DEPLOYMENTS}/web", deployment(), manager="alice").body["metadata"]["generation"] == 1
    )


def test_defaults_are_not_owned_by_the_applier(client: Client) -> None:
    obj = client.apply(f"{DEPLOYMENTS}/web", deployment(), manager="alice").body
    spec = obj["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert owners(obj, "f:revisionHistoryLimit") == set()
    assert owners(obj, "f:replicas") == {"alice"}


def test_conflict_with_other_manager_has_documented_causes(client: Client) -> None:
    # The documented example: a field set by one manager and applied with another value by a second.
    client.apply(f"{DEPLOYMENTS}/web", deployment(replicas=2), manager="alice")
    clash = client.apply(f"{DEPLOYMENTS}/web", deployment(replicas=3), manager="bob")
    assert clash.status == 409 and clash.reason == "Conflict"
    assert clash.body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",  # the apiserver's JSON key
            "type": "FieldManagerConflict",  # the team contract's spelling
            "message": 'conflict with "alice": .spec.replicas',
            "field": ".spec.replicas",
        }
    ]
    assert clash.body["message"].startswith("Apply failed with 1 conflict")
    forced = client.apply(f"{DEPLOYMENTS}/web", deployment(replicas=3), manager="bob", force=True)
    assert forced.status == 200 and forced.body["spec"]["replicas"] == 3
    assert owners(forced.body, "f:replicas") == {"bob"}


def test_update_then_apply_conflicts_with_the_updater(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment(replicas=1))  # manager named after the User-Agent
    clash = client.apply(f"{DEPLOYMENTS}/web", deployment(replicas=4), manager="gitops")
    assert clash.status == 409
    assert {c["field"] for c in clash.body["details"]["causes"]} == {".spec.replicas"}
    assert 'conflict with "sandbox-test"' in clash.body["details"]["causes"][0]["message"]


def test_same_value_is_shared_and_ownership_transfers(client: Client) -> None:
    # "Transferring ownership": the HPA-style manager applies the same replicas, the user drops them.
    client.apply(f"{DEPLOYMENTS}/web", deployment(replicas=3), manager="user")
    only_replicas = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 3},
    }
    shared = client.apply(f"{DEPLOYMENTS}/web", only_replicas, manager="handover-to-hpa")
    assert shared.status == 200 and owners(shared.body, "f:replicas") == {"user", "handover-to-hpa"}
    dropped = client.apply(f"{DEPLOYMENTS}/web", deployment(replicas=None), manager="user")
    assert dropped.body["spec"]["replicas"] == 3
    assert owners(dropped.body, "f:replicas") == {"handover-to-hpa"}


def test_containers_merge_by_name_and_ports_by_port_and_protocol(client: Client) -> None:
    base = [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]
    client.apply(f"{DEPLOYMENTS}/web", deployment(containers=base), manager="alice")
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "ports": [{"containerPort": 80, "protocol": "UDP"}]},
                        {"name": "log", "image": "busybox:1"},
                    ]
                }
            }
        },
    }
    merged = client.apply(f"{DEPLOYMENTS}/web", sidecar, manager="bob")
    assert merged.status == 200, merged.body
    containers = merged.body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "log"]
    assert containers[0]["image"] == "nginx:1.25"
    assert sorted((p["containerPort"], p["protocol"]) for p in containers[0]["ports"]) == [
        (80, "TCP"),
        (80, "UDP"),
    ]


def test_apply_requires_field_manager_and_matching_body(client: Client) -> None:
    no_manager = client.patch(f"{DEPLOYMENTS}/web", deployment(), "apply")
    assert no_manager.status == 422 and "fieldManager" in no_manager.body["message"]
    wrong_name = client.apply(f"{DEPLOYMENTS}/other", deployment(), manager="a")
    assert wrong_name.status == 400
    wrong_kind = client.apply(f"{DEPLOYMENTS}/web", {**deployment(), "kind": "StatefulSet"}, manager="a")
    assert wrong_kind.status == 400
    with_managed = deployment()
    with_managed["metadata"]["managedFields"] = [{"manager": "x"}]
    assert client.apply(f"{DEPLOYMENTS}/web", with_managed, manager="a").status == 400
    assert client.patch(f"{DEPLOYMENTS}/web?force=true", {"spec": {}}).status == 422


def test_apply_yaml_body_and_yaml_bomb(client: Client) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: '1'\n"
    ok = client.request("PATCH", f"{CONFIGMAPS}/cm?fieldManager=y", text, "application/apply-patch+yaml")
    assert ok.status == 201 and ok.body["data"] == {"a": "1"}
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    bomb += "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
    rejected = client.request(
        "PATCH", f"{CONFIGMAPS}/cm?fieldManager=y", bomb, "application/apply-patch+yaml"
    )
    assert rejected.status == 400 and "alias" in rejected.body["message"]
    broken = client.request(
        "PATCH", f"{CONFIGMAPS}/cm?fieldManager=y", "a: [", "application/apply-patch+yaml"
    )
    assert broken.status == 400 and "YAML" in broken.body["message"]


def test_dry_run_changes_nothing(client: Client) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    created = client.apply(f"{CONFIGMAPS}/cm", cm, manager="alice").body
    rv = created["metadata"]["resourceVersion"]
    preview = client.apply(f"{CONFIGMAPS}/cm?dryRun=All", {**cm, "data": {"a": "2"}}, manager="alice")
    assert preview.status == 200 and preview.body["data"] == {"a": "2"}
    assert client.patch(f"{CONFIGMAPS}/cm?dryRun=All", {"data": {"a": "3"}}).body["data"] == {"a": "3"}
    assert client.put(f"{CONFIGMAPS}/cm?dryRun=All", {**cm, "data": {"a": "4"}}).body["data"] == {"a": "4"}
    live = client.get(f"{CONFIGMAPS}/cm").body
    assert live["data"] == {"a": "1"} and live["metadata"]["resourceVersion"] == rv
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost"}, "data": {"a": "b"}}
    assert client.request("POST", f"{CONFIGMAPS}?dryRun=All", ghost).status == 201
    assert client.get(f"{CONFIGMAPS}/ghost").status == 404
    assert client.request("DELETE", f"{CONFIGMAPS}/cm?dryRun=All").status == 200
    assert client.get(f"{CONFIGMAPS}/cm").status == 200
    assert client.request("POST", f"{CONFIGMAPS}?dryRun=Some", ghost).status == 400
    assert client.get(CONFIGMAPS).body["metadata"]["resourceVersion"] == rv
    preview_dep = client.apply(f"{DEPLOYMENTS}/web?dryRun=All", deployment(replicas=7), manager="alice")
    assert preview_dep.status == 201 and preview_dep.body["spec"]["replicas"] == 7
    assert client.get(f"{DEPLOYMENTS}/web").status == 404
