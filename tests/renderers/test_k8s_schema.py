"""The generated merge-semantics table agrees with the official Kubernetes OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from renderers.k8s import schema


@pytest.fixture(scope="module")
def swagger(shared: Callable[[str], Path]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(shared("kubernetes/swagger.json").read_text())
    return data


def test_every_list_merge_key_and_strategy_matches_swagger(swagger: dict[str, Any]) -> None:
    checked = 0
    for name, definition in swagger["definitions"].items():
        for fname, prop in definition.get("properties", {}).items():
            if prop.get("type") != "array":
                continue
            node = schema.definition(name)["fields"][fname]
            assert node.get("mergeKey") == prop.get("x-kubernetes-patch-merge-key"), (name, fname)
            assert node.get("patch") == prop.get("x-kubernetes-patch-strategy"), (name, fname)
            assert node.get("listType") == prop.get("x-kubernetes-list-type"), (name, fname)
            assert node.get("keys") == prop.get("x-kubernetes-list-map-keys"), (name, fname)
            checked += 1
    assert checked > 300


def test_every_gvk_in_swagger_is_indexed(swagger: dict[str, Any]) -> None:
    for name, definition in swagger["definitions"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            if gvk["kind"] in ("WatchEvent", "DeleteOptions", "Status"):
                continue
            api = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            assert schema.definition_for(api, gvk["kind"]) is not None, (name, gvk)


def test_well_known_semantics_without_shared_material() -> None:
    pod_spec = schema.field(schema.field(schema.field(schema.root_for("apps/v1", "Deployment"), "spec"),
                                         "template"), "spec")
    containers = pod_spec["fields"]["containers"]
    assert (containers["listType"], containers["keys"], containers["mergeKey"]) == ("map", ["name"], "name")
    ports = schema.element(schema.field(pod_spec, "containers"))["fields"]["ports"]
    assert ports["keys"] == ["containerPort", "protocol"]
    assert schema.root_for("example.com/v1", "Widget") == schema.ANY


def test_resource_catalog_scopes_and_plurals() -> None:
    by_kind = {(r.group, r.kind): r for r in schema.resources()}
    assert by_kind[("apps", "Deployment")].plural == "deployments"
    assert by_kind[("apps", "Deployment")].namespaced
    assert not by_kind[("", "Namespace")].namespaced
    assert not by_kind[("rbac.authorization.k8s.io", "ClusterRole")].namespaced
    assert "status" in by_kind[("apps", "Deployment")].subresources
    crd = by_kind[("apiextensions.k8s.io", "CustomResourceDefinition")]
    assert crd.api_version == "apiextensions.k8s.io/v1"
