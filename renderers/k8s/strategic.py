"""Strategic merge patch on plain dicts, driven by the generated Kubernetes type table.

Callers: the kustomize renderer (``patches``/``patchesStrategicMerge``) and the sandbox API server
(``application/strategic-merge-patch+json`` PATCH requests). Both call :func:`merge` with the type node
of the patched object (``renderers.k8s.schema.root_for(apiVersion, kind)``).

Semantics follow Kustomize's merge walker (kyaml ``merge2``), which agrees with the API server's
strategic merge on everything the two share:

- maps merge key by key; a ``null`` in the patch deletes the field;
- ``$patch: delete`` on a map deletes it, ``$patch: replace`` replaces it with the patch;
- a list merges element by element only when the schema gives it the ``merge`` patch strategy: by its
  merge keys (``x-kubernetes-list-map-keys`` else ``x-kubernetes-patch-merge-key``) for lists of maps,
  as a set union for lists of scalars; existing elements keep their place, new ones are appended;
- every other list (atomic, unknown schema) is replaced by the patch's list;
- ``{"$patch": "replace"}`` as a list element replaces the whole list;
- ``$retainKeys``, ``$setElementOrder/<field>`` and ``$deleteFromPrimitiveList/<field>`` directives of
  the API server's patch format are honoured too.

The key design choice: pure functions over JSON-like values that never mutate their inputs (the result
shares no mutable structure with either input), so cached parsed objects can be patched safely.
"""

from __future__ import annotations

import copy
from typing import Any

from renderers.errors import RenderError
from renderers.k8s.schema import TypeNode, element, field, resolve

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class _Deleted:
    """Sentinel: the merged value is deleted."""


DELETED = _Deleted()


def merge(original: dict[str, Any], patch: dict[str, Any], node: TypeNode, *,
          prepend: bool = False) -> dict[str, Any]:
    """``original`` with ``patch`` applied; ``{}`` when the patch deletes the whole object.

    New list elements are appended (the API server's behaviour); ``prepend=True`` puts the patch's
    elements first, in patch order, followed by the original's other elements (Kustomize's behaviour).
    """
    if not isinstance(patch, dict):
        raise RenderError(f"a strategic merge patch must be a map, not {type(patch).__name__}")
    result = merge_value(copy.deepcopy(original), patch, node, prepend)
    return result if isinstance(result, dict) else {}


def _shape(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def merge_value(dest: Any, patch: Any, node: TypeNode, prepend: bool = False) -> Any:
    """Merge one value; returns :data:`DELETED` when the patch removes it. In Kustomize's mode
    (``prepend``) a map, list or scalar meeting another shape is an error, as in kyaml."""
    if prepend and isinstance(dest, (dict, list)) and patch is not None and _shape(dest) != _shape(patch):
        raise RenderError(f"wrong node kind: expected {_shape(dest)} but the patch has a {_shape(patch)}: "
                          f"{str(patch)[:80]}")
    if isinstance(patch, dict):
        return _merge_map(dest, patch, node, prepend)
    if isinstance(patch, list):
        return _merge_list(dest, patch, node, prepend)
    return copy.deepcopy(patch)


def _directive(patch: dict[str, Any]) -> str:
    value = patch.get(DIRECTIVE, "merge")
    if value not in ("merge", "delete", "replace"):
        raise RenderError(f"unknown strategic merge directive {DIRECTIVE}: {value!r}", field=DIRECTIVE)
    return str(value)


def _merge_map(dest: Any, patch: dict[str, Any], node: TypeNode, prepend: bool) -> Any:
    directive = _directive(patch)
    if directive == "delete":
        return DELETED
    body = {k: v for k, v in patch.items() if k != DIRECTIVE}
    if directive == "replace":
        return _merge_map({}, body, node, prepend)
    base: dict[str, Any] = dict(dest) if isinstance(dest, dict) else {}
    retain = body.pop(RETAIN_KEYS, None)
    orders = {k[len(SET_ORDER):]: body.pop(k) for k in list(body) if k.startswith(SET_ORDER)}
    removals = {k[len(DELETE_PRIMITIVE):]: body.pop(k) for k in list(body) if k.startswith(DELETE_PRIMITIVE)}
    for key, value in body.items():
        if value is None:
            base.pop(key, None)
            continue
        merged = merge_value(base.get(key), value, field(node, key), prepend)
        if merged is DELETED:
            base.pop(key, None)
        else:
            base[key] = merged
    for key, values in removals.items():
        if isinstance(base.get(key), list) and isinstance(values, list):
            base[key] = [v for v in base[key] if v not in values]
    for key, order in orders.items():
        if isinstance(base.get(key), list) and isinstance(order, list):
            base[key] = _reorder(base[key], order, _list_keys(field(node, key)))
    if isinstance(retain, list):
        base = {k: v for k, v in base.items() if k in retain}
    return base


def _is_merge_list(node: TypeNode) -> bool:
    node = resolve(node)
    return "list" in node and "merge" in str(node.get("patch", "")).split(",")


def _list_keys(node: TypeNode) -> list[str]:
    node = resolve(node)
    keys = node.get("keys")
    if isinstance(keys, list) and keys:
        return [str(k) for k in keys]
    merge_key = node.get("mergeKey")
    return [str(merge_key)] if merge_key else []


def _is_replace(elem: Any) -> bool:
    return isinstance(elem, dict) and elem.get(DIRECTIVE) == "replace" and len(elem) == 1


def _merge_replace(dest: Any, patch: list[Any], node: TypeNode) -> list[Any]:
    """kyaml's reading of a list whose first directive element is a keyed ``$patch: delete`` while a
    ``$patch: replace`` follows: the patch's plain elements, each merged with its namesake."""
    keys, elem_node = _list_keys(node), element(node)
    base = dest if isinstance(dest, list) else []
    out = []
    for elem in patch:
        if isinstance(elem, dict) and DIRECTIVE in elem:
            continue
        old = _first(base, keys, [scalar_text(elem.get(k)) for k in keys]) if isinstance(elem, dict) else None
        merged = merge_value(old, elem, elem_node, True)
        if merged is not DELETED:
            out.append(merged)
    return out


def _merge_list(dest: Any, patch: list[Any], node: TypeNode, prepend: bool) -> Any:
    replace = any(_is_replace(e) for e in patch)
    directives = [e for e in patch if isinstance(e, dict) and DIRECTIVE in e]
    if replace and prepend and _is_merge_list(node) and _list_keys(node) and not _is_replace(directives[0]):
        return _merge_replace(dest, patch, node)
    if replace:
        patch = [e for e in patch if not (isinstance(e, dict) and e.get(DIRECTIVE) == "replace")]
        dest = []
    if not _is_merge_list(node):
        return copy.deepcopy(patch)
    base: list[Any] = list(dest) if isinstance(dest, list) else []
    if all(not isinstance(e, dict) for e in patch + base):
        if prepend:
            firsts = [copy.deepcopy(e) for i, e in enumerate(patch) if e not in patch[:i]]
            return firsts + [e for e in base if e not in firsts]
        return base + [copy.deepcopy(e) for i, e in enumerate(patch) if e not in base and e not in patch[:i]]
    if prepend and _list_keys(node):
        return _kyaml_keyed(base, patch, _list_keys(node), element(node))
    return _merge_keyed(base, patch, _list_keys(node), element(node), prepend)


def scalar_text(value: Any) -> str:
    """A scalar as Go's YAML library prints it (how kyaml compares merge-key values)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values(elem: Any, keys: list[str]) -> tuple[str, ...]:
    if not isinstance(elem, dict):
        return ()
    return tuple(scalar_text(elem.get(k)) for k in keys)


def _matches(elem: Any, keys: list[str], values: tuple[str, ...]) -> bool:
    if not isinstance(elem, dict):
        return False
    for key, want in zip(keys, values, strict=True):
        if want == "":
            continue
        if key not in elem or scalar_text(elem[key]) != want:
            return False
    return True


def _unify(values: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Treat key tuples that differ only where one side is empty as the same element."""
    out = list(values)
    for i, a in enumerate(out):
        for j, b in enumerate(out):
            if i != j and any(x == y and x for x, y in zip(a, b, strict=True)) and all(
                    x == y or not x or not y for x, y in zip(a, b, strict=True)):
                joined = tuple(x or y for x, y in zip(a, b, strict=True))
                out[i] = out[j] = joined
    return out


def _merge_keyed(base: list[Any], patch: list[Any], keys: list[str], node: TypeNode,
                 prepend: bool) -> list[Any]:
    if not keys:
        return copy.deepcopy(patch)
    tuples = [_values(e, keys) for e in (patch + base if prepend else base + patch)]
    if len(keys) > 1:
        tuples = _unify(tuples)
    order: list[tuple[str, ...]] = []
    for t in tuples:
        if t and any(t) and t not in order:
            order.append(t)
    result = [] if prepend else list(base)
    for values in order:
        old = next((e for e in base if _matches(e, keys, values)), None)
        new = next((e for e in patch if _matches(e, keys, values)), None)
        merged = merge_value(old, new, node, prepend) if new is not None else old
        if merged is DELETED or merged == {} or merged is None:
            result = [e for e in result if not _matches(e, keys, values)]
            continue
        if isinstance(merged, dict):
            for key, want in zip(keys, values, strict=True):
                if key not in merged and want:
                    merged[key] = want
        result = _set_element(result, keys, values, merged)
    unkeyed = [copy.deepcopy(e) for e in patch if isinstance(e, dict) and not any(_values(e, keys))
               and e.get(DIRECTIVE) is None]
    if prepend:
        unkeyed = [e for e in base if not any(_values(e, keys))] + unkeyed
    return [e for e in result if e != {}] + unkeyed


def _set_element(items: list[Any], keys: list[str], values: tuple[str, ...], new: Any) -> list[Any]:
    found = False
    out: list[Any] = []
    for elem in items:
        if _matches(elem, keys, values):
            found = True
            out.append(new)
        else:
            out.append(elem)
    if not found:
        out.append(new)
    return out


def _reorder(items: list[Any], order: list[Any], keys: list[str]) -> list[Any]:
    """Sort ``items`` by their position in a ``$setElementOrder`` list; unlisted items go last."""
    def position(elem: Any) -> int:
        for i, want in enumerate(order):
            if keys and isinstance(want, dict) and _matches(elem, keys, _values(want, keys)):
                return i
            if not keys and elem == want:
                return i
        return len(order)

    return sorted(items, key=position)


# --- Kustomize's list merge (kyaml walker, "prepend" direction), ported faithfully: its quirks with
# multi-key lists (container ports with and without a protocol) decide which elements survive and
# where. Values are compared as text; "" means "the field must exist".


def _field_match(elem: dict[str, Any], key: str, want: str) -> bool:
    if elem.get(key) is None:
        return False
    return want == "" or scalar_text(elem[key]) == want


def _element_setter(items: list[Any], new: Any, keys: list[str], values: list[str]) -> list[Any]:
    """kyaml's ElementSetter: replace every match by ``new`` (delete when ``None``), else append."""
    out: list[Any] = []
    matched = False
    for elem in items:
        if elem is None or elem == {}:
            continue
        if not isinstance(elem, dict):
            out.append(elem)
            continue
        found = all(_field_match(elem, k, values[j]) for j, k in enumerate(keys[:len(values)]))
        if not found:
            if values:
                out.append(elem)
            continue
        matched = True
        if new is not None:
            out.append(new)
    if new is not None and not matched:
        out.append(new)
    return out


def _validate_keys(values_list: list[list[str]], values: list[str],
                   keys: list[str]) -> tuple[list[str], list[str]]:
    valid = {keys[i] for vals in values_list for i, v in enumerate(vals) if v != ""}
    if not valid:
        return keys, values
    return [k for k in keys if k in valid], [v for i, v in enumerate(values) if v != "" or keys[i] in valid]


def _match_values(a: list[str], b: list[str]) -> tuple[bool, list[str]]:
    if len(a) != len(b):
        return False, []
    common, out = False, []
    for x, y in zip(a, b, strict=True):
        if x == y:
            common = True
            out.append(x)
        elif x and y:
            return False, []
        else:
            out.append(x or y)
    return common, out


def _first(items: list[Any], keys: list[str], values: list[str]) -> Any:
    """The first element whose keys hold these values ("" matches an absent key)."""
    return next((e for e in items if isinstance(e, dict)
                 and all(scalar_text(e.get(k)) == values[j] for j, k in enumerate(keys))), None)


def _kyaml_values(src: list[Any], dest: list[Any], keys: list[str]) -> list[list[str]]:
    values_list: list[list[str]] = []
    for elem in src + dest:
        if isinstance(elem, dict):
            vals = [scalar_text(elem.get(k)) for k in keys]
            if vals not in values_list:
                values_list.append(vals)
    if len(keys) > 1:
        for i in range(len(values_list)):
            first = values_list[i]
            for j in range(len(values_list)):
                ok, merged = _match_values(first, values_list[j])
                if ok:
                    values_list[i] = values_list[j] = merged
    return values_list


def _kyaml_keyed(dest: list[Any], src: list[Any], keys: list[str], node: TypeNode) -> list[Any]:
    values_list = _kyaml_values(src, dest, keys)
    if not values_list:
        return dest
    valid_keys = _validate_keys(values_list, values_list[0], keys)[0]
    merged_of: dict[int, Any] = {}
    items: list[Any] = []
    for values in values_list:
        vkeys, vvals = _validate_keys(values_list, values, keys)
        lkeys, lvals = _validate_keys([vvals], vvals, vkeys)
        old, new = _first(dest, lkeys, lvals), _first(src, lkeys, lvals)
        val = merge_value(old, new, node, True) if new is not None else old
        if val is None or val is DELETED or val == {}:
            dest = _element_setter(dest, None, vkeys, vvals)
            continue
        if isinstance(val, dict):
            val = {**val, **{k: vvals[i] for i, k in enumerate(vkeys) if k not in val and vvals[i]}}
        if old is not None:
            merged_of[id(old)] = val
        items = _element_setter(items, val, vkeys, vvals)
    for elem in dest:
        elem = merged_of.get(id(elem), elem)
        if not isinstance(elem, dict):
            items.append(elem)
            continue
        present = []
        for key in valid_keys:
            if elem.get(key) is None:
                items.append(elem)
                continue
            present.append(scalar_text(elem[key]))
        if len(valid_keys) > 1:
            items = _element_setter(items, None, valid_keys, present)
        items = _element_setter(items, elem, valid_keys, present)
    return items
