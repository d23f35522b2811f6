"""PATCH flavours, the status subresource, immutable fields and defaults through the sandbox."""

from __future__ import annotations

from typing import Any

from kubesandbox.client import Client

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
SERVICES = "/api/v1/namespaces/default/services"


def deployment(app: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }


def cm(data: dict[str, str], immutable: bool | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data}
    if immutable is not None:
        obj["immutable"] = immutable
    return obj


def test_json_patch_rfc6902(client: Client) -> None:
    client.post(CONFIGMAPS, cm({"a": "1"}))
    ops = [
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "x"},
        {"op": "test", "path": "/data/b", "value": "2"},
        {"op": "copy", "from": "/data/b", "path": "/data/c"},
        {"op": "move", "from": "/data/c", "path": "/data/d"},
        {"op": "remove", "path": "/data/b"},
    ]
    patched = client.patch(f"{CONFIGMAPS}/cm", ops, "json")
    assert patched.status == 200, patched.body
    assert patched.body["data"] == {"a": "x", "d": "2"}


def test_json_patch_errors(client: Client) -> None:
    client.post(CONFIGMAPS, cm({"a": "1"}))
    missing = client.patch(f"{CONFIGMAPS}/cm", [{"op": "remove", "path": "/data/nope"}], "json")
    assert missing.status == 422
    replace_missing = client.patch(
        f"{CONFIGMAPS}/cm", [{"op": "replace", "path": "/spec/x", "value": 1}], "json"
    )
    assert replace_missing.status == 422
    failed_test = client.patch(f"{CONFIGMAPS}/cm", [{"op": "test", "path": "/data/a", "value": "2"}], "json")
    assert failed_test.status == 422
    assert client.patch(f"{CONFIGMAPS}/cm", {"op": "add"}, "json").status == 400
    assert client.patch(f"{CONFIGMAPS}/cm", [{"op": "frobnicate", "path": "/a"}], "json").status == 400
    assert (
        client.request("PATCH", f"{CONFIGMAPS}/cm", b"{not json", "application/json-patch+json").status == 400
    )
    assert client.get(f"{CONFIGMAPS}/cm").body["data"] == {"a": "1"}  # nothing half-applied


def test_merge_patch_rfc7386(client: Client) -> None:
    client.post(CONFIGMAPS, cm({"a": "1", "b": "2"}))
    patched = client.patch(
        f"{CONFIGMAPS}/cm", {"data": {"a": None, "c": "3"}, "metadata": {"labels": {"x": "y"}}}
    )
    assert patched.body["data"] == {"b": "2", "c": "3"} and patched.body["metadata"]["labels"] == {"x": "y"}
    assert client.patch(f"{CONFIGMAPS}/missing", {"data": {}}).status == 404


def test_strategic_merge_patch_merges_containers_by_name(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}}}
    merged = client.patch(f"{DEPLOYMENTS}/web", patch, "strategic").body
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["log", "web"] or [
        c["name"] for c in merged["spec"]["template"]["spec"]["containers"]
    ] == ["web", "log"]
    plain = client.patch(f"{DEPLOYMENTS}/web", patch).body  # merge patch replaces the whole list
    assert [c["name"] for c in plain["spec"]["template"]["spec"]["containers"]] == ["log"]


def test_unsupported_media_type_and_stale_patch(client: Client) -> None:
    client.post(CONFIGMAPS, cm({"a": "1"}))
    odd = client.request("PATCH", f"{CONFIGMAPS}/cm", {"data": {}}, "text/plain")
    assert odd.status == 415 and odd.reason == "UnsupportedMediaType"
    stale = client.patch(f"{CONFIGMAPS}/cm", {"metadata": {"resourceVersion": "1"}, "data": {"a": "2"}})
    assert stale.status == 409 and stale.reason == "Conflict"


def test_status_subresource_rules(client: Client) -> None:
    pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"  # no controller writes its status here
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "p"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"currentHealthy": 9},
    }
    created = client.post(pdbs, pdb).body
    assert "currentHealthy" not in created.get("status", {})  # status dropped on create
    status = client.patch(f"{pdbs}/p/status", {"status": {"currentHealthy": 7}, "spec": {"minAvailable": 5}})
    assert status.status == 200, status.body
    assert status.body["status"]["currentHealthy"] == 7 and status.body["spec"]["minAvailable"] == 1
    assert status.body["metadata"]["generation"] == 1
    main = client.patch(f"{pdbs}/p", {"status": {"currentHealthy": 1}, "spec": {"minAvailable": 2}})
    assert main.body["status"]["currentHealthy"] == 7 and main.body["spec"]["minAvailable"] == 2
    assert main.body["metadata"]["generation"] == 2
    assert client.get(f"{pdbs}/p/status").status == 200
    assert client.get(f"{CONFIGMAPS}/cm/status").status == 404


def test_immutable_selector(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    changed = client.put(f"{DEPLOYMENTS}/web", deployment(app="other"))
    assert changed.status == 422 and changed.reason == "Invalid"
    cause = changed.body["details"]["causes"][0]
    assert cause["field"] == "spec.selector" and cause["reason"] == "FieldValueInvalid"
    assert cause["message"].endswith("field is immutable")
    assert changed.body["message"].startswith(
        'Deployment.apps "web" is invalid: spec.selector: Invalid value:'
    )


def test_immutable_configmap_and_service_cluster_ip(client: Client) -> None:
    client.post(CONFIGMAPS, cm({"a": "1"}, immutable=True))
    refused = client.put(f"{CONFIGMAPS}/cm", cm({"a": "2"}, immutable=True))
    assert refused.status == 422 and refused.body["details"]["causes"][0]["field"] == "data"
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    made = client.post(SERVICES, svc).body
    spec = made["spec"]
    assert spec["type"] == "ClusterIP" and spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["sessionAffinity"] == "None" and spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster" and spec["ipFamilies"] == ["IPv4"]
    moved = client.patch(f"{SERVICES}/web", {"spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"]}})
    assert moved.status == 422 and moved.body["details"]["causes"][0]["field"] == "spec.clusterIP"
    kept = client.put(f"{SERVICES}/web", svc)  # PUT without clusterIP keeps the allocated one
    assert kept.status == 200 and kept.body["spec"]["clusterIP"] == spec["clusterIP"]


def test_defaults_for_pods_jobs_and_pull_policy(client: Client) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "c", "image": "busybox:latest"},
                        {"name": "d", "image": "reg:5000/x"},
                    ],
                }
            }
        },
    }
    made = client.post("/apis/batch/v1/namespaces/default/jobs", job).body
    spec = made["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    uid = made["metadata"]["uid"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["dnsPolicy"] == "ClusterFirst"
    assert pod["terminationGracePeriodSeconds"] == 30 and pod["schedulerName"] == "default-scheduler"
    assert [c["imagePullPolicy"] for c in pod["containers"]] == ["Always", "Always"]
    again = client.put("/apis/batch/v1/namespaces/default/jobs/once", job)  # selector kept from storage
    assert again.status == 200, again.body


def test_invalid_names_and_path_traversal(client: Client) -> None:
    for bad in ("Upper", "-dash", "a_b", "x" * 254, ".."):
        reply = client.post(CONFIGMAPS, cm({}) | {"metadata": {"name": bad}})
        assert reply.status == 422, bad
        assert reply.body["details"]["causes"][0]["field"] == "metadata.name"
    assert client.get(f"{CONFIGMAPS}/..%2F..%2Fsecrets").status == 404
    assert client.get("/api/v1/namespaces/default/../kube-system/configmaps").status in (400, 404)
    traversal = client.put(f"{CONFIGMAPS}/a%2Fb", cm({}) | {"metadata": {"name": "a/b"}})
    assert traversal.status == 404
    too_long_ns = client.post(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    )
    assert too_long_ns.status == 422  # namespace names are DNS-1123 labels


def test_hostile_bodies(client: Client) -> None:
    assert client.request("POST", CONFIGMAPS, b'{"kind":').status == 400
    assert client.request("POST", CONFIGMAPS, b"[1,2]").status == 400
    assert (
        client.request(
            "POST", CONFIGMAPS, b'{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}'
        ).status
        == 400
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    assert client.request("POST", CONFIGMAPS, deep).status == 400
    huge = (
        b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"'
        + b"x" * (3 * 1024 * 1024)
        + b'"}}'
    )
    assert client.request("POST", CONFIGMAPS, huge).status == 413
    labels = client.post(CONFIGMAPS, cm({}) | {"metadata": {"name": "l", "labels": {"a": 1}}})
    assert labels.status == 400 and labels.body["message"].startswith(  # the typed decoder refuses it
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: .metadata.labels.a: expected string'
    )
    assert client.request("POST", CONFIGMAPS + "/x", cm({})).status == 405


def test_scale_subresource(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    view = client.get(f"{DEPLOYMENTS}/web/scale").body
    assert view["kind"] == "Scale" and view["apiVersion"] == "autoscaling/v1"
    assert view["spec"] == {"replicas": 1} and view["status"]["selector"] == "app=web"
    scaled = client.patch(f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 4}})
    assert scaled.status == 200 and scaled.body["spec"]["replicas"] == 4
    live = client.get(f"{DEPLOYMENTS}/web").body
    assert live["spec"]["replicas"] == 4 and live["metadata"]["generation"] == 2
    assert any(m.get("subresource") == "scale" for m in live["metadata"]["managedFields"])
    put = client.put(
        f"{DEPLOYMENTS}/web/scale",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "web"},
            "spec": {"replicas": 2},
        },
    )
    assert put.status == 200 and client.get(f"{DEPLOYMENTS}/web").body["spec"]["replicas"] == 2
    assert client.patch(f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": -1}}).status == 400
    assert client.get(f"{CONFIGMAPS}/cm/scale").status == 404


def test_field_validation_modes(client: Client) -> None:
    body = cm({"a": "1"}) | {"bogus": 1}
    body["metadata"] = {"name": "cm", "labels": {"x": "y"}, "colour": "red"}
    warned = client.post(CONFIGMAPS, body)
    assert warned.status == 201 and "bogus" not in warned.body and "colour" not in warned.body["metadata"]
    assert warned.headers["warning"].startswith('299 - "unknown field')
    strict = client.post(
        f"{CONFIGMAPS}?fieldValidation=Strict", body | {"metadata": {"name": "s", "colour": 1}}
    )
    assert strict.status == 400 and 'unknown field "metadata.colour"' in strict.body["message"]
    assert client.post(f"{CONFIGMAPS}?fieldValidation=Loose", body).status == 400
    ignored = client.request(
        "POST", f"{CONFIGMAPS}?fieldValidation=Ignore", body | {"metadata": {"name": "i"}}
    )
    assert ignored.status == 201 and "warning" not in ignored.headers
    nested = deployment()
    nested["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "x"
    for mode in ("Strict", "Warn"):  # an apply's unknown field fails SMD's typed conversion: 500 (v1.36)
        reply = client.apply(f"{DEPLOYMENTS}/web?fieldValidation={mode}", nested, manager="m")
        assert reply.status == 500, reply.body
        assert "containers[0].imagePolicy: field not declared in schema" in reply.body["message"]
    wrong_type = client.post(CONFIGMAPS, cm({"a": 1}) | {"metadata": {"name": "t"}})  # type: ignore[dict-item]
    assert wrong_type.status == 400 and "cannot be handled as a ConfigMap" in wrong_type.body["message"]


def test_strategic_merge_delete_directive(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    add = {"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}}}
    client.patch(f"{DEPLOYMENTS}/web", add, "strategic")
    drop = {"spec": {"template": {"spec": {"containers": [{"name": "web", "$patch": "delete"}]}}}}
    result = client.patch(f"{DEPLOYMENTS}/web", drop, "strategic")
    assert result.status == 200, result.body
    assert [c["name"] for c in result.body["spec"]["template"]["spec"]["containers"]] == ["log"]
    bad = client.patch(f"{DEPLOYMENTS}/web", {"spec": {"$patch": "explode"}}, "strategic")
    assert bad.status == 422


# A wrong-typed value in a patch's result: kube-apiserver's patch handler fails converting the patched
# JSON to the typed object and answers 422 Invalid on field "patch" (POST/PUT bodies are 400 instead).
def _wrong_type_refused(client: Client, reply: Any, value: str) -> None:
    assert reply.status == 422 and reply.reason == "Invalid", reply.body
    assert list(reply.body["details"]) == ["causes"]  # an Invalid with no kind and no name
    [cause] = reply.body["details"]["causes"]
    assert cause["field"] == "patch" and cause["reason"] == "FieldValueInvalid"
    assert cause["message"].startswith(f"Invalid value: {value}")
    assert cause["message"].endswith(": .spec.replicas: expected numeric, got string")
    assert reply.body["message"] == f' "" is invalid: patch: {cause["message"]}'
    assert client.get(f"{DEPLOYMENTS}/web").body["spec"]["replicas"] == 1  # nothing was stored


def test_json_patch_with_a_wrong_type_is_422_on_patch(client: Client) -> None:
    assert client.post(DEPLOYMENTS, deployment()).status == 201
    ops = [{"op": "replace", "path": "/spec/replicas", "value": "three"}]
    reply = client.patch(f"{DEPLOYMENTS}/web", ops, "json")
    _wrong_type_refused(client, reply, '"{\\"apiVersion\\":\\"apps/v1\\"')  # the patched JSON


def test_merge_patch_with_a_wrong_type_is_422_on_patch(client: Client) -> None:
    assert client.post(DEPLOYMENTS, deployment()).status == 201
    reply = client.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": "three"}}, "merge")
    _wrong_type_refused(client, reply, '"{\\"apiVersion\\":\\"apps/v1\\"')
    assert '\\"replicas\\":\\"three\\"' in reply.body["message"]
    # A string where an object is expected fails the same way (it used to crash validation: 500).
    template = client.patch(f"{DEPLOYMENTS}/web", {"spec": {"template": "x"}}, "merge")
    assert template.status == 422 and template.body["details"]["causes"][0]["field"] == "patch"
    assert template.body["message"].endswith(": .spec.template: expected map, got string")


def test_strategic_patch_with_a_wrong_type_is_422_on_patch(client: Client) -> None:
    assert client.post(DEPLOYMENTS, deployment()).status == 201
    reply = client.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": "three"}}, "strategic")
    _wrong_type_refused(client, reply, '"map[spec:map[replicas:three]]"')  # the decoded patch, Go's %+v


def test_post_and_put_with_a_wrong_type_are_400(client: Client) -> None:
    body = deployment()
    body["spec"]["replicas"] = "three"
    created = client.post(DEPLOYMENTS, body)
    assert created.status == 400 and created.reason == "BadRequest", created.body
    assert created.body["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: '
        ".spec.replicas: expected numeric, got string"
    )
    assert client.post(DEPLOYMENTS, deployment()).status == 201
    live = client.get(f"{DEPLOYMENTS}/web").body
    live["spec"]["template"] = "x"
    updated = client.put(f"{DEPLOYMENTS}/web", live)
    assert updated.status == 400
    assert updated.body["message"].endswith(": .spec.template: expected map, got string")
