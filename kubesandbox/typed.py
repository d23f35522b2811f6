"""What kube-apiserver's typed Go objects add to and remove from a built-in object.

kube-apiserver decodes every built-in object into its Go struct and encodes it back, so two things
differ from the JSON a client sent, and the field manager compares typed objects:

- an empty map or list in a field tagged ``omitempty`` disappears (``metadata.labels: {}``,
  ``data: {}``): :func:`normalize` removes them from an object before it is stored;
- a struct-valued field that is not a pointer is always there, even when nobody set it: a new
  Deployment's field manager compares the request with the zero ``Deployment`` (``spec``,
  ``spec.strategy``, ``spec.template.metadata``... present and empty; ``spec.selector`` and
  ``spec.template.spec.containers`` present and null), so the creator of a Deployment owns
  ``f:spec.f:strategy.f:type`` but not ``f:spec.f:strategy`` itself (no ``"."`` entry).
  :func:`zero` builds that zero object and :func:`with_zero` lays it under an object.

Both come from ``typed.json``: per OpenAPI definition, the fields serialized even when empty (the
definition's ``required`` list: Go fields without ``omitempty``) and the non-pointer struct fields
(properties with ``default: {}``), as kube-apiserver v1.36.3 publishes them in ``/openapi/v3``.
:func:`build` derives the table from those documents; tests/kubesandbox/test_typed.py checks the
file against the real server and rewrites it with ``GITOPS_REGENERATE=1``.

Not covered (docs/sandbox.md, "Known differences from kube-apiserver"): zero scalars (``0``, ``""``,
``false``) of ``omitempty`` fields, which Go drops for value fields and keeps for pointers (the
OpenAPI documents do not say which is which).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from renderers.k8s import schema as k8s_schema
from renderers.k8s.schema import TypeNode

TABLE = Path(__file__).with_name("typed.json")
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def build(documents: Iterable[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """The table from OpenAPI v3 documents: ``{definition: {"required": [...], "struct": [...]}}``."""
    table: dict[str, dict[str, list[str]]] = {}
    for document in documents:
        for name, definition in ((document.get("components") or {}).get("schemas") or {}).items():
            if not name.startswith("io.k8s."):  # custom resources are not typed
                continue
            properties = definition.get("properties") or {}
            required = sorted(set(definition.get("required") or []) & set(properties))
            struct = sorted(field for field, prop in properties.items()
                            if prop.get("default") == {} and ("allOf" in prop or "$ref" in prop))
            if required or struct:
                table[name] = {"required": required, "struct": struct}
    return dict(sorted(table.items()))


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, list[str]]]:
    data: dict[str, dict[str, list[str]]] = json.loads(TABLE.read_text())
    return data


def _fields(node: TypeNode) -> tuple[str | None, dict[str, TypeNode]]:
    """The definition name and field nodes of a struct node (None, {} for anything else)."""
    name = node.get("ref")
    resolved = k8s_schema.resolve(node)
    fields = resolved.get("fields")
    return (str(name) if name else None), (fields if isinstance(fields, dict) else {})


def _is_collection(node: TypeNode) -> bool:
    resolved = k8s_schema.resolve(node)
    return "list" in resolved or "map" in resolved


def normalize(value: Any, node: TypeNode) -> None:
    """Remove empty maps and lists (and nulls) of ``omitempty`` fields, in place, as a round trip
    through the Go struct does; ``node`` is the object's root type node."""
    name, fields = _fields(node)
    if isinstance(value, dict) and fields:
        required = set(_table().get(name or "", {}).get("required", ()))
        for key in list(value):
            child = fields.get(key)
            if child is None or key == "managedFields":  # the field manager reads it before encoding
                continue
            item = value[key]
            if key not in required and (item is None or (item in ({}, []) and _is_collection(child))):
                del value[key]
            else:
                normalize(item, child)
        return
    resolved = k8s_schema.resolve(node)
    if isinstance(value, list) and "list" in resolved:
        for item in value:
            normalize(item, resolved["list"])
    elif isinstance(value, dict) and "map" in resolved:
        for item in value.values():
            normalize(item, resolved["map"])


def normalize_object(api_version: str, kind: str, obj: dict[str, Any]) -> None:
    """:func:`normalize` for a whole object of a built-in kind (others are left alone)."""
    root = k8s_schema.definition_for(api_version, kind)
    if root:
        normalize(obj, {"ref": root})


def _zero(node: TypeNode, depth: int) -> dict[str, Any]:
    name, fields = _fields(node)
    entry = _table().get(name or "", {})
    out: dict[str, Any] = {}
    for key in entry.get("required", ()):
        child = fields.get(key)
        if child is not None and (_is_collection(child) or _fields(child)[1]):
            out[key] = None  # a nil slice, map or pointer without omitempty: null
    for key in entry.get("struct", ()):
        child = fields.get(key)
        if child is not None and depth < 12:
            out[key] = _zero(child, depth + 1)
    return out


@lru_cache(maxsize=256)
def _zero_json(api_version: str, kind: str) -> str:
    root = k8s_schema.definition_for(api_version, kind)
    body = _zero({"ref": root}, 0) if root else {}
    body.pop("status", None)  # status writes have their own rules; the main resource ignores status
    return json.dumps({**body, "apiVersion": api_version, "kind": kind, "metadata": {}})


def zero(api_version: str, kind: str) -> dict[str, Any]:
    """The zero object of a built-in kind as the field manager sees it (without status)."""
    value: dict[str, Any] = json.loads(_zero_json(api_version, kind))
    return value


def with_zero(obj: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with every field of the zero object ``base`` it lacks."""
    out = copy.deepcopy(obj)
    _lay(out, base)
    return out


def _lay(target: dict[str, Any], base: dict[str, Any]) -> None:
    for key, value in base.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(target[key], dict):
            _lay(target[key], value)
