"""Convert a CRD's ``openAPIV3Schema`` into the shared type-node shape (:mod:`renderers.k8s.schema`).

Called by the sandbox when a CustomResourceDefinition is created, so custom resources merge by their
declared list types and map keys. Follows kube-openapi's conversion: objects with ``properties`` are
structs, ``additionalProperties`` makes a map, ``x-kubernetes-preserve-unknown-fields`` or a bare
object is free-form (deduced), arrays use ``x-kubernetes-list-type`` (default atomic, as CRDs have no
strategic-merge strategy), ``x-kubernetes-int-or-string`` is an untyped scalar, and
``x-kubernetes-map-type: atomic`` makes a map or struct atomic. ``metadata`` at the root is always
ObjectMeta. Key design choice: malformed schemas raise ``InvalidObject`` naming the schema path,
never a KeyError, because CRDs are user input.
"""

from __future__ import annotations

from typing import Any

from renderers.k8s.errors import InvalidObject
from renderers.k8s.schema import ANY, TypeNode

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
MAX_DEPTH = 64
_SCALARS = {"string": "string", "integer": "numeric", "number": "numeric", "boolean": "boolean"}


def from_openapi_v3(crd_schema: dict[str, Any]) -> TypeNode:
    """The root type node of a custom resource from its CRD ``openAPIV3Schema``."""
    root = _convert(crd_schema, "openAPIV3Schema", 0)
    fields = dict(root.get("fields") or {})
    fields["apiVersion"] = {"scalar": "string"}
    fields["kind"] = {"scalar": "string"}
    fields["metadata"] = {"ref": OBJECT_META}
    out: TypeNode = {"fields": fields}
    if "map" in root:
        out["map"] = root["map"]
    return out


def _convert(s: Any, where: str, depth: int) -> TypeNode:
    if depth > MAX_DEPTH:
        raise InvalidObject(f"schema nested deeper than {MAX_DEPTH} levels", where)
    if not isinstance(s, dict):
        raise InvalidObject(f"expected a schema object, got {type(s).__name__}", where)
    if s.get("x-kubernetes-int-or-string"):
        return {"scalar": "untyped"}
    kind = s.get("type")
    if kind in _SCALARS:
        node: TypeNode = {"scalar": _SCALARS[kind]}
        if "default" in s:
            node["default"] = s["default"]
        return node
    if kind == "array":
        return _array(s, where, depth)
    if kind not in (None, "object"):
        raise InvalidObject(f"unsupported type {kind!r}", where)
    return _object(s, where, depth)


def _array(s: dict[str, Any], where: str, depth: int) -> TypeNode:
    items = s.get("items", {})
    node: TypeNode = {"list": _convert(items, where + ".items", depth + 1) if items else ANY}
    list_type = s.get("x-kubernetes-list-type", "atomic")
    if list_type not in ("atomic", "set", "map"):
        raise InvalidObject(f"x-kubernetes-list-type must be atomic, set or map, got {list_type!r}", where)
    node["listType"] = list_type
    if list_type == "map":
        keys = s.get("x-kubernetes-list-map-keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise InvalidObject("x-kubernetes-list-map-keys must list the key fields of a map list", where)
        node["keys"] = list(keys)
    return node


def _object(s: dict[str, Any], where: str, depth: int) -> TypeNode:
    props = s.get("properties")
    extra = s.get("additionalProperties")
    node: TypeNode = {}
    if props is not None:
        if not isinstance(props, dict):
            raise InvalidObject("properties must be a map", where)
        node["fields"] = {name: _convert(p, f"{where}.properties.{name}", depth + 1)
                          for name, p in props.items()}
    if isinstance(extra, dict):
        node["map"] = _convert(extra, where + ".additionalProperties", depth + 1)
    elif extra is True or s.get("x-kubernetes-preserve-unknown-fields"):
        node["map"] = ANY
    if not node or node == {"fields": {}}:
        node = dict(ANY)
    if s.get("x-kubernetes-map-type") == "atomic":
        node["atomic"] = True
    return node
