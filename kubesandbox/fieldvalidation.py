"""Server-side field validation: unknown fields are dropped with a warning, or refused.

Called by the write path on request bodies (POST, PUT, the result of a PATCH, the configuration of an
apply). As "Field validation" in the API concepts describes, ``fieldValidation=Ignore`` drops unknown
fields silently, ``Warn`` (the default) drops them and adds one ``Warning: 299`` response header per
field, and ``Strict`` refuses the request with 400 ``strict decoding error: unknown field "..."``
(kubectl sends Strict). Known fields are those of the kind's schema (built-in OpenAPI or the CRD's
structural schema); free-form and ``x-kubernetes-preserve-unknown-fields`` parts accept anything.
"""

from __future__ import annotations

from typing import Any

from kubesandbox.apierrors import ApiError, bad_request
from renderers.k8s.schema import TypeNode, resolve, root_for

MODES = ("Ignore", "Warn", "Strict")
_ENVELOPE = ("apiVersion", "kind")


def _prune(value: Any, node: TypeNode, path: str, found: list[str], depth: int = 0) -> None:
    node = resolve(node)
    if depth > 100 or "any" in node:
        return
    if isinstance(value, dict):
        fields, extra = node.get("fields"), node.get("map")
        for key in list(value):
            where = f"{path}.{key}" if path else str(key)
            if fields is not None and key in fields:
                _prune(value[key], fields[key], where, found, depth + 1)
            elif extra is not None:
                _prune(value[key], extra, where, found, depth + 1)
            elif fields is not None:
                found.append(where)
                del value[key]
    elif isinstance(value, list) and "list" in node:
        for index, item in enumerate(value):
            _prune(item, node["list"], f"{path}[{index}]", found, depth + 1)


def unknown_fields(obj: dict[str, Any], schema: TypeNode) -> list[str]:
    """Remove the fields ``schema`` does not declare from ``obj``; return their paths."""
    found: list[str] = []
    root = resolve(schema)
    meta_node = root_for("v1", "ConfigMap")["fields"]["metadata"]  # ObjectMeta, the same for every kind
    for key in list(obj):
        if key in _ENVELOPE:
            continue
        if key == "metadata":
            _prune(obj[key], meta_node, "metadata", found)
        elif "any" in root:
            continue
        elif key in root.get("fields", {}):
            _prune(obj[key], root["fields"][key], key, found)
        elif "map" not in root:
            found.append(key)
            del obj[key]
    return found


def mode(query: Any) -> str:
    """The request's fieldValidation mode (400 for an unknown one)."""
    value = str(query.get("fieldValidation") or "Warn")
    if value not in MODES:
        raise bad_request(f'fieldValidation: Unsupported value: "{value[:50]}": supported values: "Ignore", '
                          '"Strict", "Warn"')
    return value


def validate(query: Any, obj: dict[str, Any], schema: TypeNode, warnings: list[str]) -> None:
    """Apply the request's fieldValidation mode to ``obj`` (mutated: unknown fields are dropped)."""
    mode_ = mode(query)
    found = unknown_fields(obj, schema)
    if not found:
        return
    if mode_ == "Strict":
        raise ApiError(400, "BadRequest", "strict decoding error: " + ", ".join(
            f'unknown field "{p}"' for p in found[:20]))
    if mode_ == "Warn":
        warnings.extend(f'unknown field "{p}"' for p in found[:20])
