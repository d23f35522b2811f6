"""CustomResourceDefinition lifecycle in the sandbox: established, served, discovered, removed."""

from __future__ import annotations

from typing import Any

from kubesandbox.client import Client

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def crd(name: str = "widgets.example.com", status: bool = True) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer"},
                            "tags": {
                                "type": "array",
                                "items": {"type": "string"},
                                "x-kubernetes-list-type": "set",
                            },
                        },
                    },
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                },
            }
        },
    }
    if status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "versions": [version],
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        },
    }


def widget(size: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": size},
    }


def test_crd_lifecycle(client: Client) -> None:
    assert client.get(WIDGETS).status == 404
    made = client.post(CRDS, crd())
    assert made.status == 201, made.body
    conds = {c["type"]: c["status"] for c in made.body["status"]["conditions"]}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    assert made.body["status"]["acceptedNames"]["listKind"] == "WidgetList"
    groups = [g["name"] for g in client.get("/apis").body["groups"]]
    assert "example.com" in groups
    resources = client.get("/apis/example.com/v1").body["resources"]
    assert {
        "name": "widgets",
        "singularName": "widget",
        "namespaced": True,
        "kind": "Widget",
        "verbs": resources[0]["verbs"],
        "shortNames": ["wd"],
    } == resources[0]
    assert client.post(WIDGETS, widget()).status == 201
    applied = client.apply(f"{WIDGETS}/w", widget(3), manager="m", force=True)
    assert applied.status == 200 and applied.body["spec"]["size"] == 3
    assert applied.body["metadata"]["generation"] == 2
    status = client.patch(f"{WIDGETS}/w/status", {"status": {"ready": True}})
    assert status.status == 200 and status.body["status"] == {"ready": True}
    assert status.body["metadata"]["generation"] == 2
    assert client.patch(f"{WIDGETS}/w", {"spec": {"size": 4}}, "strategic").status == 415
    listed = client.get(WIDGETS).body
    assert listed["kind"] == "WidgetList" and len(listed["items"]) == 1
    assert client.delete(f"{CRDS}/widgets.example.com").status == 200
    assert client.get(WIDGETS).status == 404
    assert "example.com" not in [g["name"] for g in client.get("/apis").body["groups"]]
    client.post(CRDS, crd())
    assert client.get(WIDGETS).body["items"] == []  # the objects went with the definition


def test_custom_resource_apply_conflicts(client: Client) -> None:
    client.post(CRDS, crd())
    client.apply(f"{WIDGETS}/w", widget(1), manager="a")
    clash = client.apply(f"{WIDGETS}/w", widget(2), manager="b")
    assert clash.status == 409 and clash.body["details"]["causes"][0]["field"] == ".spec.size"


def test_invalid_crds_are_rejected(client: Client) -> None:
    wrong_name = client.post(CRDS, crd(name="gadgets.example.com"))
    assert wrong_name.status == 422 and wrong_name.body["details"]["causes"][0]["field"] == "metadata.name"
    no_scope = crd()
    del no_scope["spec"]["scope"]
    assert client.post(CRDS, no_scope).status == 422
    assert client.get(WIDGETS).status == 404


def test_crd_update_changes_served_versions_and_guards_scope(client: Client) -> None:
    made = client.post(CRDS, crd()).body
    v2 = dict(made["spec"]["versions"][0], name="v2", storage=False)
    made["spec"]["versions"].append(v2)
    assert client.put(f"{CRDS}/widgets.example.com", made).status == 200
    assert client.get("/apis/example.com/v2/namespaces/default/widgets").status == 200
    made = client.get(f"{CRDS}/widgets.example.com").body
    made["spec"]["versions"] = made["spec"]["versions"][:1]
    assert client.put(f"{CRDS}/widgets.example.com", made).status == 200
    assert client.get("/apis/example.com/v2/namespaces/default/widgets").status == 404
    scoped = client.patch(f"{CRDS}/widgets.example.com", {"spec": {"scope": "Cluster"}})
    assert scoped.status == 422 and scoped.body["details"]["causes"][0]["field"] == "spec.scope"


def test_generation_of_custom_resources_without_status_subresource(client: Client) -> None:
    client.post(CRDS, crd(status=False))
    made = client.post(WIDGETS, widget()).body
    assert made["metadata"]["generation"] == 1 and "status" not in made
    with_status = client.patch(f"{WIDGETS}/w", {"status": {"ready": True}}).body
    assert with_status["status"] == {"ready": True}  # no subresource: status is ordinary content
    assert with_status["metadata"]["generation"] == 2
    assert (
        client.patch(f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}}).body["metadata"]["generation"] == 2
    )
    assert client.get(f"{WIDGETS}/w/status").status == 404
