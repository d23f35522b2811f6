"""Field-level comparison of two objects of one kind (pure), in field paths (``renderers.k8s.fieldpath``).

Called by the plan (gitops.plan) on the normalised live and predicted objects. Lists that the schema
declares as maps (``listType: map``, e.g. containers keyed by name) are compared element by element, matched
by their keys, so a changed image is reported at ``.spec.template.spec.containers[name="web"].image`` and
can be attributed through managedFields; other lists are compared whole (atomic), as the API server's own
merge treats them. A null and an absent field compare equal (the API server drops nulls). Display helpers
truncate huge values so a diff stays readable.
"""

from __future__ import annotations

from typing import Any

from renderers.k8s.fieldpath import Path, PathElement
from renderers.k8s.schema import TypeNode, element, field, resolve

MISSING: Any = None
MAX_VALUE_CHARS = 512
MAX_ITEMS = 100
_MAX_DEPTH = 64


def _list_keys(node: TypeNode) -> list[str]:
    node = resolve(node)
    if node.get("listType") == "map" and node.get("keys"):
        return [str(k) for k in node["keys"]]
    if node.get("patch") == "merge" and node.get("mergeKey"):
        return [str(node["mergeKey"])]
    return []


def _without_nulls(value: Any, depth: int = 0) -> Any:
    """``value`` with null map entries dropped at every depth (inside atomic lists too)."""
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: _without_nulls(v, depth + 1) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v, depth + 1) for v in value]
    return value


def _keyed(items: list[Any], keys: list[str]) -> dict[PathElement, Any] | None:
    out: dict[PathElement, Any] = {}
    for item in items:
        if not isinstance(item, dict) or keys[0] not in item:
            return None
        token = PathElement.key({k: item[k] for k in keys if k in item})
        if token in out:
            return None
        out[token] = item
    return out


def compare(live: Any, predicted: Any, node: TypeNode, path: Path = ()) -> list[tuple[Path, Any, Any]]:
    """Every (path, live value, predicted value) where the two differ."""
    if live == predicted:
        return []
    if isinstance(live, dict) and isinstance(predicted, dict) and len(path) < _MAX_DEPTH:
        out: list[tuple[Path, Any, Any]] = []
        for name in sorted(set(live) | set(predicted)):
            out += compare(live.get(name, MISSING), predicted.get(name, MISSING), field(node, name),
                           (*path, PathElement.field(name)))
        return out
    if isinstance(live, list) and isinstance(predicted, list) and len(path) < _MAX_DEPTH:
        keys = _list_keys(node)
        a = _keyed(live, keys) if keys else None
        b = _keyed(predicted, keys) if keys else None
        if a is not None and b is not None:
            sub = element(node)
            out = []
            for token in sorted(set(a) | set(b)):
                out += compare(a.get(token, MISSING), b.get(token, MISSING), sub, (*path, token))
            return out
    both_lists = isinstance(live, list) and isinstance(predicted, list)
    if both_lists and _without_nulls(live) == _without_nulls(predicted):
        return []  # an atomic list whose elements differ only by null map entries
    return [(path, live, predicted)]


def truncate(value: Any, limit: int = MAX_VALUE_CHARS, depth: int = 0) -> Any:
    """``value`` for display: strings over ``limit`` characters, lists and maps over MAX_ITEMS
    entries and nesting deeper than _MAX_DEPTH are cut and marked."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... ({len(value) - limit} more characters)"
    if isinstance(value, (dict, list)) and depth >= _MAX_DEPTH:
        return "... (nested too deeply)"
    if isinstance(value, dict):
        out = {k: truncate(v, limit, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
        if len(value) > MAX_ITEMS:
            out["..."] = f"({len(value) - MAX_ITEMS} more keys)"
        return out
    if isinstance(value, list):
        items = [truncate(v, limit, depth + 1) for v in value[:MAX_ITEMS]]
        return items + ([f"... ({len(value) - MAX_ITEMS} more items)"] if len(value) > MAX_ITEMS else [])
    return value
