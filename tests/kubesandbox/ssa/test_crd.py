"""from_openapi_v3: CRD schemas become type nodes; custom resources merge by their list types."""

from __future__ import annotations

from typing import Any

import pytest

from kubesandbox.ssa import ApplyConflict, InvalidObject, apply_patch, from_openapi_v3

SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "hosts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "args": {"type": "array", "items": {"type": "string"}},
        "routes": {"type": "array", "x-kubernetes-list-type": "map",
                   "x-kubernetes-list-map-keys": ["path", "port"],
                   "items": {"type": "object", "properties": {
                       "path": {"type": "string"}, "port": {"type": "integer", "default": 80},
                       "backend": {"type": "string"}}}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "pinned": {"type": "object", "additionalProperties": {"type": "string"},
                   "x-kubernetes-map-type": "atomic"},
        "target": {"x-kubernetes-int-or-string": True}}}}}


def cr(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Route", "metadata": {"name": "r"}, "spec": spec}


def fields(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == manager)
    result: dict[str, Any] = entry["fieldsV1"]
    return result


def test_node_shape() -> None:
    node = from_openapi_v3(SCHEMA)
    spec = node["fields"]["spec"]["fields"]
    assert node["fields"]["metadata"] == {"ref": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    assert spec["hosts"]["listType"] == "set" and spec["args"]["listType"] == "atomic"
    assert spec["routes"]["keys"] == ["path", "port"]
    assert spec["extra"] == {"map": {"any": True}}
    assert spec["pinned"]["atomic"] is True and spec["target"] == {"scalar": "untyped"}


def test_custom_resource_lists_merge_by_their_types() -> None:
    node = from_openapi_v3(SCHEMA)
    obj = apply_patch(None, cr({"hosts": ["a"], "args": ["x"], "routes": [{"path": "/", "backend": "b1"}]}),
                      "alice", schema=node, now="t1", status_subresource=False)
    obj = apply_patch(obj, cr({"hosts": ["b"], "routes": [{"path": "/api", "port": 81}]}),
                      "bob", schema=node, now="t2", status_subresource=False)
    assert obj["spec"]["hosts"] == ["a", "b"]
    assert obj["spec"]["routes"] == [{"path": "/", "backend": "b1"}, {"path": "/api", "port": 81}]
    alice = fields(obj, "alice")["f:spec"]
    assert alice["f:args"] == {} and 'v:"a"' in alice["f:hosts"]
    assert 'k:{"path":"/","port":80}' in alice["f:routes"]  # the key's default fills the omitted port
    with pytest.raises(ApplyConflict) as info:
        apply_patch(obj, cr({"args": ["y"]}), "bob", schema=node, now="t3", status_subresource=False)
    assert info.value.conflicts == [("alice", ".spec.args")]


def test_free_form_maps_are_granular_and_atomic_maps_are_not() -> None:
    node = from_openapi_v3(SCHEMA)
    obj = apply_patch(None, cr({"extra": {"a": {"b": 1}}, "pinned": {"k": "v"}}), "alice", schema=node,
                      now="t1", status_subresource=False)
    spec = fields(obj, "alice")["f:spec"]
    assert spec["f:extra"] == {"f:a": {".": {}, "f:b": {}}}
    assert spec["f:pinned"] == {}


@pytest.mark.parametrize("schema", [
    [], {"type": "object", "properties": []}, {"type": "array", "x-kubernetes-list-type": "map"},
    {"type": "array", "x-kubernetes-list-type": "bag"}, {"type": "date"},
    {"type": "object", "properties": {"a": "string"}},
])
def test_malformed_schemas_are_invalid(schema: Any) -> None:
    with pytest.raises(InvalidObject):
        from_openapi_v3({"type": "object", "properties": {"spec": schema}})


def test_deep_schema_is_rejected() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(InvalidObject, match="nested deeper"):
        from_openapi_v3(deep)
