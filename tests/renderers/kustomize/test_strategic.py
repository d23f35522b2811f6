"""Strategic merge patch (renderers.k8s.strategic) against the generated Kubernetes type table."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.errors import RenderError
from renderers.k8s.schema import field, resolve, root_for
from renderers.k8s.strategic import merge, merge_value

DEPLOY = root_for("apps/v1", "Deployment")


def deployment(**spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", [{"name": "app", "image": "app:1", "args": ["a"]}])
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": containers, **spec}}}}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def test_containers_merge_by_name_keeping_order_and_appending_new() -> None:
    base = deployment(containers=[{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "c:1"}, {"name": "a", "image": "a:2"}]}}}}
    out = merge(base, patch, DEPLOY)
    assert [(c["name"], c["image"]) for c in pod_spec(out)["containers"]] == [
        ("a", "a:2"), ("b", "b:1"), ("c", "c:1")]


def test_atomic_list_is_replaced_and_null_deletes() -> None:
    base = deployment()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["x", "y"],
                                                            "image": None}]}}}}
    out = merge(base, patch, DEPLOY)
    assert pod_spec(out)["containers"] == [{"name": "app", "args": ["x", "y"]}]


def test_patch_delete_element_and_map_and_replace() -> None:
    base = deployment(containers=[{"name": "a"}, {"name": "b"}], volumes=[{"name": "v", "emptyDir": {}}])
    patch = {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "$patch": "delete"}],
        "volumes": [{"name": "v", "emptyDir": {"$patch": "delete"}, "hostPath": {"path": "/x"}}]}}}}
    out = merge(base, patch, DEPLOY)
    assert pod_spec(out)["containers"] == [{"name": "b"}]
    assert pod_spec(out)["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]
    replaced = merge(base, {"spec": {"template": {"spec": {"$patch": "replace", "containers": []}}}}, DEPLOY)
    assert pod_spec(replaced) == {"containers": []}


def test_list_replace_directive() -> None:
    base = deployment(containers=[{"name": "a"}, {"name": "b"}])
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}}}}
    assert pod_spec(merge(base, patch, DEPLOY))["containers"] == [{"name": "z"}]


def test_whole_object_delete_returns_empty() -> None:
    assert merge(deployment(), {"$patch": "delete"}, DEPLOY) == {}


def test_primitive_merge_list_is_a_union() -> None:
    base = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    out = merge(base, {"metadata": {"finalizers": ["c", "a"]}}, DEPLOY)
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]


def test_ports_multi_key_merge() -> None:
    base = deployment(containers=[{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                          {"containerPort": 80, "protocol": "UDP"}]}])
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "ports": [{"containerPort": 80, "protocol": "UDP", "name": "dns"}]}]}}}}
    ports = pod_spec(merge(base, patch, DEPLOY))["containers"][0]["ports"]
    assert ports == [{"containerPort": 80, "protocol": "TCP"},
                     {"containerPort": 80, "protocol": "UDP", "name": "dns"}]


def test_api_server_directives() -> None:
    base = deployment(containers=[{"name": "a"}, {"name": "b"}])
    base["metadata"]["finalizers"] = ["x", "y", "z"]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["y"]},
             "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                            "containers": [{"name": "a", "image": "i"}]}}}}
    out = merge(base, patch, DEPLOY)
    assert out["metadata"]["finalizers"] == ["x", "z"]
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["b", "a"]
    kept = merge({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}},
                 {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, DEPLOY)
    assert kept["spec"]["strategy"] == {"type": "Recreate"}


def test_unknown_kind_replaces_lists() -> None:
    base = {"apiVersion": "x/v1", "kind": "Y", "spec": {"items": [{"name": "a"}], "m": {"k": 1}}}
    out = merge(base, {"spec": {"items": [{"name": "b"}], "m": {"j": 2}}}, root_for("x/v1", "Y"))
    assert out["spec"] == {"items": [{"name": "b"}], "m": {"k": 1, "j": 2}}


def test_inputs_are_not_mutated() -> None:
    base = deployment()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "E"}]}]}}}}
    before, pbefore = copy.deepcopy(base), copy.deepcopy(patch)
    out = merge(base, patch, DEPLOY)
    pod_spec(out)["containers"][0]["env"].append({"name": "F"})
    assert base == before and patch == pbefore


def test_bad_directive_is_a_clear_error() -> None:
    with pytest.raises(RenderError, match=r"\$patch"):
        merge(deployment(), {"$patch": "explode"}, DEPLOY)
    with pytest.raises(RenderError):
        merge(deployment(), ["not", "a", "map"], DEPLOY)  # type: ignore[arg-type]


def test_kustomize_prepend_order_and_multi_key_ports() -> None:
    """Expectations from kubectl kustomize (kyaml's merge walker, 'prepend' direction)."""
    base = deployment(containers=[{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                          {"containerPort": 8080}]},
                                  {"name": "b"}])
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "c"}, {"name": "a", "ports": [{"containerPort": 8080, "protocol": "TCP"},
                                               {"containerPort": 80}]}]}}}}
    out = pod_spec(merge(base, patch, DEPLOY, prepend=True))["containers"]
    assert [c["name"] for c in out] == ["c", "a", "b"]
    assert out[1]["ports"] == [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 8080}]


_scalars = st.one_of(st.integers(), st.text(max_size=5), st.booleans())
_docs = st.recursive(st.dictionaries(st.text(min_size=1, max_size=4).filter(lambda k: not k.startswith("$")),
                                     _scalars, max_size=4),
                     lambda inner: st.dictionaries(
                         st.text(min_size=1, max_size=4).filter(lambda k: not k.startswith("$")),
                         st.one_of(_scalars, inner, st.lists(_scalars, max_size=3)), max_size=4),
                     max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(_docs, _docs)
def test_merge_properties(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    node = root_for("example.com/v1", "Thing")
    for prepend in (False, True):
        assert merge(doc, {}, node, prepend=prepend) == doc
        assert merge(doc, doc, node, prepend=prepend) == doc
        try:
            once = merge(doc, patch, node, prepend=prepend)
        except RenderError as exc:  # Kustomize's mode refuses a map/list/scalar shape change
            assert prepend and "wrong node kind" in str(exc)
            continue
        assert merge(once, patch, node, prepend=prepend) == once
        assert all(once[k] == v for k, v in patch.items() if not isinstance(v, dict))


def test_list_strategies_follow_the_openapi_document(shared: Callable[[str], Path]) -> None:
    """Every array field the API marks ``x-kubernetes-patch-strategy: merge`` merges by its merge key;
    arrays without a strategy are replaced, as the API server does."""
    definitions = json.loads(shared("kubernetes/swagger.json").read_text())["definitions"]
    checked = 0
    for name, definition in definitions.items():
        for field_name, prop in (definition.get("properties") or {}).items():
            if prop.get("type") != "array" or not isinstance(prop.get("items"), dict):
                continue
            node = field(resolve({"ref": name}), field_name)
            strategy = prop.get("x-kubernetes-patch-strategy", "")
            key = prop.get("x-kubernetes-patch-merge-key")
            original = {field_name: [{key: "a", "x": 1}, {key: "b"}] if key else ["a", "b"]}
            patch = {field_name: [{key: "a", "y": 2}] if key else ["c"]}
            merged = merge_value(original, patch, {"fields": {field_name: node}})[field_name]
            if "merge" in strategy.split(",") and key:
                assert merged == [{key: "a", "x": 1, "y": 2}, {key: "b"}], (name, field_name)
            elif "merge" in strategy.split(","):
                assert merged == ["a", "b", "c"], (name, field_name)
            else:
                assert merged == patch[field_name], (name, field_name)
            checked += 1
    assert checked > 300
