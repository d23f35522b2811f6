"""Rules the differential test (test_differential.py) found the sandbox missing, each checked here on
the sandbox alone, with what kube-apiserver v1.36.3 answered to the same requests (and the registry or
handler code that decides it)."""

from __future__ import annotations

from typing import Any

from kubesandbox.client import Client

NS = "/api/v1/namespaces/default"
CONFIGMAPS, SERVICES = f"{NS}/configmaps", f"{NS}/services"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
WIDGETS = "/apis/diff.gitops.dev/v1/namespaces/default/widgets"


def configmap(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


def service(name: str = "s") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}


def deployment(name: str = "d") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}}


# --- DELETE answers (generic registry Delete/finalizeDelete, handlers/delete.go) ---------------------

def test_a_dry_run_delete_answers_like_the_real_delete_and_keeps_the_object(client: Client) -> None:
    client.post(CONFIGMAPS, configmap("c"))
    dry = client.delete(f"{CONFIGMAPS}/c?dryRun=All")
    assert dry.status == 200 and dry.body["kind"] == "Status" and dry.body["details"]["name"] == "c"
    assert client.get(f"{CONFIGMAPS}/c").status == 200


def test_services_and_pods_return_the_deleted_object(client: Client) -> None:
    client.post(SERVICES, service())
    gone = client.delete(f"{SERVICES}/s")
    assert gone.status == 200 and gone.body["kind"] == "Service" and gone.body["metadata"]["name"] == "s"
    client.post(DEPLOYMENTS, deployment())
    assert client.delete(f"{DEPLOYMENTS}/d").body["kind"] == "Status"


def test_an_object_kept_by_finalizers_is_answered_with_200(client: Client) -> None:
    client.post(CONFIGMAPS, configmap("f", metadata={"name": "f", "finalizers": ["example.com/x"]}))
    dry = client.delete(f"{CONFIGMAPS}/f?dryRun=All")
    assert dry.status == 200 and dry.body["metadata"]["deletionTimestamp"]
    assert "deletionTimestamp" not in client.get(f"{CONFIGMAPS}/f").body["metadata"]
    first = client.delete(f"{CONFIGMAPS}/f")
    assert first.status == 200 and first.body["metadata"]["deletionTimestamp"]
    assert client.delete(f"{CONFIGMAPS}/f").status == 200
    assert client.delete(f"{CONFIGMAPS}/f", {"orphanDependents": False}).status == 202  # the one 202


def test_delete_options_in_the_body_replace_the_query(client: Client) -> None:
    client.post(CONFIGMAPS, configmap("q"))
    reply = client.delete(f"{CONFIGMAPS}/q?dryRun=All", {"propagationPolicy": "Background"})
    assert reply.status == 200
    assert client.get(f"{CONFIGMAPS}/q").status == 404  # the body's options had no dryRun


# --- create and update rules --------------------------------------------------------------------------

def test_services_have_no_generation_and_a_load_balancer_status(client: Client) -> None:
    made = client.post(SERVICES, service()).body
    assert "generation" not in made["metadata"]
    assert made["status"] == {"loadBalancer": {}}
    assert client.post(DEPLOYMENTS, deployment()).body["metadata"]["generation"] == 1


def test_a_deployment_generation_follows_its_annotations(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    annotated = client.patch(f"{DEPLOYMENTS}/d", {"metadata": {"annotations": {"note": "x"}}}).body
    assert annotated["metadata"]["generation"] == 2  # annotations are copied to the ReplicaSets
    labelled = client.patch(f"{DEPLOYMENTS}/d", {"metadata": {"labels": {"team": "x"}}}).body
    assert labelled["metadata"]["generation"] == 2
    client.post(CONFIGMAPS, configmap("g"))
    client.post(SERVICES, service("g"))
    assert "generation" not in client.patch(f"{SERVICES}/g", {"metadata": {"annotations": {"n": "x"}}}).body[
        "metadata"]


def test_allocated_service_fields_belong_to_no_manager(client: Client) -> None:
    made = client.post(SERVICES, service()).body
    assert made["spec"]["clusterIP"] and made["spec"]["ipFamilies"] == ["IPv4"]
    owned = made["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    assert {"f:clusterIP", "f:clusterIPs", "f:ipFamilies", "f:ipFamilyPolicy"}.isdisjoint(owned)
    assert {"f:type", "f:sessionAffinity", "f:internalTrafficPolicy"} <= set(owned)  # defaulted: owned
    kept = client.put(f"{SERVICES}/s", service()).body  # an update without clusterIP keeps it
    assert kept["spec"]["clusterIP"] == made["spec"]["clusterIP"]


def test_a_put_creates_a_missing_service_but_not_a_missing_configmap(client: Client) -> None:
    assert client.put(f"{SERVICES}/new", service("new")).status == 201  # AllowCreateOnUpdate
    assert client.put(f"{CONFIGMAPS}/new", configmap("new")).status == 404


def test_a_put_needs_the_name_and_custom_resources_need_a_resource_version(client: Client) -> None:
    client.post(CONFIGMAPS, configmap("n"))
    nameless = client.put(f"{CONFIGMAPS}/n", {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}})
    assert nameless.status == 400 and "name must be provided" in nameless.body["message"]
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.diff.gitops.dev"},
           "spec": {"group": "diff.gitops.dev", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    assert client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status == 201
    widget = {"apiVersion": "diff.gitops.dev/v1", "kind": "Widget", "metadata": {"name": "w"}}
    made = client.post(WIDGETS, widget).body
    unconditional = client.put(f"{WIDGETS}/w", widget)
    assert unconditional.status == 422
    assert unconditional.body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    current = {**widget, "metadata": {"name": "w", "resourceVersion": made["metadata"]["resourceVersion"]}}
    assert client.put(f"{WIDGETS}/w", current).status == 200


def test_an_apply_names_its_kind_and_api_version(client: Client) -> None:
    reply = client.apply(f"{CONFIGMAPS}/a", {"metadata": {"name": "a"}, "data": {"a": "1"}})
    assert reply.status == 400 and reply.body["message"] == "invalid object type: /, Kind="


def test_an_apply_reports_its_conflicts_before_a_stale_resource_version(client: Client) -> None:
    made = client.apply(f"{CONFIGMAPS}/p", configmap("p", data={"a": "1"}), manager="alice").body
    client.apply(f"{CONFIGMAPS}/p", configmap("p", data={"a": "1", "b": "2"}), manager="alice")
    stale = {**configmap("p", data={"a": "2"}),
             "metadata": {"name": "p", "resourceVersion": made["metadata"]["resourceVersion"]}}
    conflicted = client.apply(f"{CONFIGMAPS}/p", stale, manager="bob")
    assert conflicted.status == 409 and conflicted.body["details"]["causes"][0]["field"] == ".data.a"
    quiet = {**stale, "data": {"c": "3"}}
    plain = client.apply(f"{CONFIGMAPS}/p", quiet, manager="bob")
    assert plain.status == 409 and "causes" not in plain.body["details"]  # then the version


# --- the typed round trip --------------------------------------------------------------------------------

def test_empty_omitempty_maps_are_dropped_and_not_owned(client: Client) -> None:
    made = client.post(CONFIGMAPS, configmap("e", metadata={"name": "e", "labels": {}}, data={})).body
    assert "labels" not in made["metadata"] and "data" not in made
    assert "managedFields" not in made["metadata"]  # nothing left to own
    applied = client.apply(f"{CONFIGMAPS}/e2", configmap("e2", data={}), manager="al").body
    assert "data" not in applied
    assert applied["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {}}  # the applier owns it


def test_a_created_deployment_is_compared_with_the_zero_deployment(client: Client) -> None:
    owned = client.post(DEPLOYMENTS, deployment()).body["metadata"]["managedFields"][0]["fieldsV1"]
    spec = owned["f:spec"]
    assert "." not in spec and "." not in spec["f:strategy"] and "." not in spec["f:template"]
    assert "." in spec["f:strategy"]["f:rollingUpdate"]  # a pointer: absent from the zero object
    assert "." not in spec["f:template"]["f:spec"]["f:containers"]  # a nil slice, present as null
    assert "." in spec["f:template"]["f:metadata"]["f:labels"]


def test_the_first_apply_to_an_untracked_deployment_compares_with_the_zero_deployment(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    untracked = client.patch(f"{DEPLOYMENTS}/d", {"metadata": {"managedFields": []}})
    assert "managedFields" not in untracked.body["metadata"]
    config = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 2}}
    applied = client.apply(f"{DEPLOYMENTS}/d", config, manager="al", force=True).body
    before = {m["manager"]: m for m in applied["metadata"]["managedFields"]}["before-first-apply"]
    spec = before["fieldsV1"]["f:spec"]
    assert "." not in spec and "." not in spec["f:template"] and "f:replicas" not in spec


# --- validation -----------------------------------------------------------------------------------------

def _causes(reply: Any) -> set[tuple[str, str]]:
    return {(c["reason"], c["field"]) for c in reply.body["details"]["causes"]}


def test_a_deployment_without_selector_also_fails_the_template_labels(client: Client) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": 3}}
    reply = client.apply(f"{DEPLOYMENTS}/x", body)
    assert reply.status == 422
    assert _causes(reply) == {("FieldValueRequired", "spec.selector"),
                              ("FieldValueInvalid", "spec.template.metadata.labels"),
                              ("FieldValueRequired", "spec.template.spec.containers")}
    empty = deployment("y")
    empty["spec"]["selector"] = {}
    assert _causes(client.post(DEPLOYMENTS, empty)) == {("FieldValueInvalid", "spec.selector")}


def test_update_validation_reports_the_object_and_its_immutable_fields_together(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    changed = deployment()
    changed["spec"]["selector"] = {"matchLabels": {"app": "api"}}
    reply = client.put(f"{DEPLOYMENTS}/d", changed)
    assert _causes(reply) == {("FieldValueInvalid", "spec.template.metadata.labels"),
                              ("FieldValueInvalid", "spec.selector")}


def test_a_service_needs_ports_unless_headless_or_external(client: Client) -> None:
    bare = service("bare")
    del bare["spec"]["ports"]
    assert _causes(client.post(SERVICES, bare)) == {("FieldValueRequired", "spec.ports")}
    headless = {**bare, "metadata": {"name": "headless"}, "spec": {**bare["spec"], "clusterIP": "None"}}
    assert client.post(SERVICES, headless).status == 201


def test_service_ports_are_named_uniquely_and_numbered(client: Client) -> None:
    twice = service("twice")
    twice["spec"]["ports"] = [{"name": "http", "port": 80}, {"name": "http", "port": 8080}]
    assert _causes(client.post(SERVICES, twice)) == {("FieldValueDuplicate", "spec.ports[1].name")}
    unnamed = service("unnamed")
    unnamed["spec"]["ports"] = [{"port": 80}, {"name": "b", "port": 0}]
    assert _causes(client.post(SERVICES, unnamed)) == {("FieldValueRequired", "spec.ports[0].name"),
                                                       ("FieldValueInvalid", "spec.ports[1].port")}
    single = service("single")
    single["spec"]["ports"] = [{"port": 80}]  # one port needs no name
    assert client.post(SERVICES, single).status == 201
