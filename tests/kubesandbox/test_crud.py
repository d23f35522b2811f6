"""Basic REST behaviour of the sandbox over real HTTP: discovery, create/get/list/update/delete."""

from __future__ import annotations

from typing import Any

from kubesandbox import Sandbox
from kubesandbox.client import Client

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def deployment(name: str = "web", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.25"}]},
            },
        },
    }


def configmap(name: str = "cm", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def test_discovery_documents(client: Client) -> None:
    assert client.get("/version").body["major"] == "1"
    assert client.get("/api").body["versions"] == ["v1"]
    core = client.get("/api/v1").body
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": pods["verbs"],
        "shortNames": ["po"],
    }
    assert {"create", "get", "list", "watch", "patch", "delete"} <= set(pods["verbs"])
    groups = {g["name"]: g for g in client.get("/apis").body["groups"]}
    assert groups["apps"]["preferredVersion"]["groupVersion"] == "apps/v1"
    apps = client.get("/apis/apps/v1").body
    assert any(r["name"] == "deployments/status" for r in apps["resources"])
    assert client.get("/apis/nope.example.com/v1").status == 404


def test_seed_namespaces_exist(client: Client) -> None:
    names = {n["metadata"]["name"] for n in client.get("/api/v1/namespaces").body["items"]}
    assert {"default", "kube-system"} <= names
    ns = client.get("/api/v1/namespaces/default").body
    assert ns["status"]["phase"] == "Active"


def test_create_get_list_update_delete(client: Client) -> None:
    created = client.post(DEPLOYMENTS, deployment())
    assert created.status == 201, created.body
    meta = created.body["metadata"]
    assert meta["generation"] == 1 and meta["uid"] and meta["creationTimestamp"]
    assert meta["namespace"] == "default" and meta["resourceVersion"].isdigit()
    got = client.get(f"{DEPLOYMENTS}/web")
    assert got.status == 200 and got.body["metadata"]["uid"] == meta["uid"]
    listed = client.get(DEPLOYMENTS).body
    assert listed["kind"] == "DeploymentList" and [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    body = got.body
    body["spec"]["replicas"] = 5
    del body["metadata"]["resourceVersion"]  # the controller may have written status meanwhile
    updated = client.put(f"{DEPLOYMENTS}/web", body)
    assert updated.status == 200 and updated.body["metadata"]["generation"] == 2
    assert int(updated.body["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    deleted = client.delete(f"{DEPLOYMENTS}/web")
    assert deleted.status == 200 and deleted.body["status"] == "Success"
    missing = client.get(f"{DEPLOYMENTS}/web")
    assert missing.status == 404 and missing.reason == "NotFound"
    assert missing.body["message"] == 'deployments.apps "web" not found'


def test_already_exists_and_stale_update(client: Client) -> None:
    first = client.post(CONFIGMAPS, configmap()).body
    again = client.post(CONFIGMAPS, configmap())
    assert again.status == 409 and again.reason == "AlreadyExists"
    assert again.body["message"] == 'configmaps "cm" already exists'
    first["data"] = {"k": "v2"}
    assert client.put(f"{CONFIGMAPS}/cm", first).status == 200
    first["data"] = {"k": "v3"}  # still carries the old resourceVersion
    stale = client.put(f"{CONFIGMAPS}/cm", first)
    assert stale.status == 409 and stale.reason == "Conflict"
    assert "the object has been modified" in stale.body["message"]
    del first["metadata"]["resourceVersion"]  # no resourceVersion: unconditional update (documented)
    assert client.put(f"{CONFIGMAPS}/cm", first).status == 200


def test_generation_bumps_only_on_spec_change(client: Client) -> None:
    body = client.post(DEPLOYMENTS, deployment()).body
    body["metadata"]["labels"] = {"team": "a"}
    del body["metadata"]["resourceVersion"]
    relabeled = client.put(f"{DEPLOYMENTS}/web", body).body
    assert relabeled["metadata"]["generation"] == 1
    relabeled["spec"]["replicas"] = 3
    del relabeled["metadata"]["resourceVersion"]
    assert client.put(f"{DEPLOYMENTS}/web", relabeled).body["metadata"]["generation"] == 2
    cm = client.post(CONFIGMAPS, configmap()).body
    assert "generation" not in cm["metadata"]  # kinds without spec carry no generation


def test_noop_update_keeps_resource_version(client: Client) -> None:
    body = client.post(CONFIGMAPS, configmap()).body
    again = client.put(f"{CONFIGMAPS}/cm", body).body
    assert again["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]


def test_generate_name_and_namespace_must_exist(client: Client) -> None:
    obj = configmap()
    obj["metadata"] = {"generateName": "cfg-"}
    made = client.post(CONFIGMAPS, obj)
    assert made.status == 201 and made.body["metadata"]["name"].startswith("cfg-")
    assert len(made.body["metadata"]["name"]) == len("cfg-") + 5
    missing_ns = client.post("/api/v1/namespaces/nowhere/configmaps", configmap())
    assert missing_ns.status == 404 and missing_ns.body["message"] == 'namespaces "nowhere" not found'


def test_label_and_field_selectors(client: Client) -> None:
    client.post(CONFIGMAPS, configmap("a", app="web", tier="front"))
    client.post(CONFIGMAPS, configmap("b", app="web", tier="back"))
    client.post(CONFIGMAPS, configmap("c", app="db"))
    client.post(CONFIGMAPS, configmap("d"))

    def names(query: str) -> list[str]:
        reply = client.get(f"{CONFIGMAPS}?{query}")
        assert reply.status == 200, reply.body
        return [i["metadata"]["name"] for i in reply.body["items"]]

    assert names("labelSelector=app%3Dweb") == ["a", "b"]
    assert names("labelSelector=app%3D%3Dweb,tier!%3Dback") == ["a"]
    assert names("labelSelector=app%20in%20(web,db)") == ["a", "b", "c"]
    assert names("labelSelector=app%20notin%20(web)") == ["c", "d"]
    assert names("labelSelector=tier") == ["a", "b"]
    assert names("labelSelector=!tier") == ["c", "d"]
    assert names("fieldSelector=metadata.name%3Dc") == ["c"]
    assert names("fieldSelector=metadata.name!%3Dc,metadata.namespace%3Ddefault") == ["a", "b", "d"]
    assert client.get(f"{CONFIGMAPS}?labelSelector=app%20in%20web").status == 400
    assert client.get(f"{CONFIGMAPS}?fieldSelector=spec.x%3D1").status == 400


def test_list_pagination(client: Client) -> None:
    for i in range(5):
        client.post(CONFIGMAPS, configmap(f"cm{i}"))
    page = client.get(f"{CONFIGMAPS}?limit=2").body
    assert [i["metadata"]["name"] for i in page["items"]] == ["cm0", "cm1"]
    assert page["metadata"]["remainingItemCount"] == 3
    token = page["metadata"]["continue"]
    page2 = client.get(f"{CONFIGMAPS}?limit=2&continue={token}").body
    assert [i["metadata"]["name"] for i in page2["items"]] == ["cm2", "cm3"]
    assert client.get(f"{CONFIGMAPS}?continue=garbage!!").status == 400


def test_all_namespaces_list_and_cluster_scope(client: Client) -> None:
    client.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    client.post("/api/v1/namespaces/team/configmaps", configmap("x"))
    client.post(CONFIGMAPS, configmap("y"))
    everything = client.get("/api/v1/configmaps").body["items"]
    assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everything} == {
        ("team", "x"),
        ("default", "y"),
    }
    assert client.get("/api/v1/namespaces/default/namespaces").status == 404


def test_stats_count_requests(sandbox: Sandbox, client: Client) -> None:
    sandbox.stats.reset()
    client.post(CONFIGMAPS, configmap())
    client.get(f"{CONFIGMAPS}/cm")
    client.get(CONFIGMAPS)
    client.patch(f"{CONFIGMAPS}/cm", {"data": {"k": "w"}})
    assert sandbox.stats.count() == 4
    assert sandbox.stats.count(verb="get") == 1
    assert sandbox.stats.count(kind="ConfigMap") == 4 == sandbox.stats.count(kind="configmaps")
    assert sandbox.stats.count(write=True) == 2
    assert sandbox.stats.count(verb="list", kind="Deployment") == 0


def test_kubeconfig_written(sandbox: Sandbox) -> None:
    assert sandbox.kubeconfig_path is not None
    text = sandbox.kubeconfig_path.read_text()
    assert sandbox.url in text and "current-context: sandbox" in text
    assert sandbox.kubeconfig_path.stat().st_mode & 0o777 == 0o600


def test_resource_version_on_create_and_apply(client: Client) -> None:
    stale = configmap("again")
    stale["metadata"]["resourceVersion"] = "42"
    refused = client.post(CONFIGMAPS, stale)  # kube-apiserver answers this with a bare 500
    assert refused.status == 500 and "should not be set on objects to be created" in refused.body["message"]
    # not so for an apply on kube-apiserver v1.36: it creates, ignoring the version
    created = client.apply(f"{CONFIGMAPS}/again", stale, manager="m")
    assert created.status == 201 and created.body["metadata"]["resourceVersion"] != "42"
    del stale["metadata"]["resourceVersion"]
    made = client.apply(f"{CONFIGMAPS}/again", stale, manager="m").body
    stale["metadata"]["resourceVersion"] = "1"  # apply with a resourceVersion is a precondition
    assert client.apply(f"{CONFIGMAPS}/again", stale, manager="m").status == 409
    stale["metadata"]["resourceVersion"] = made["metadata"]["resourceVersion"]
    assert client.apply(f"{CONFIGMAPS}/again", stale, manager="m").status == 200
