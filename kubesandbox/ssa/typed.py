"""Schema-driven walks over JSON values: validate, field set, merge/compare, remove items.

Ports of SMD v4 ``typed`` walkers (validate.go, tofieldset.go, merge.go, remove.go) on plain Python
JSON. Called by :mod:`.updater`. Every walk resolves the node's atom, lets the value pick the part
(:func:`.schema.deduce`) and dispatches map, scalar or list handling, exactly as SMD does, including
its quirks (empty containers are leaves when merging; removing every item of a map leaves ``null``).
Key design choice: :data:`ABSENT` stands for "no value" (Go's nil) and is distinct from JSON null
(``None``), because SMD treats them differently everywhere.
"""

from __future__ import annotations

from typing import Any

from kubesandbox.ssa.schema import Atom, ListAtom, MapAtom, atom_of, deduce, handler
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import FieldSet, Path, PathElement, path_string
from renderers.k8s.schema import TypeNode

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()
MAX_DEPTH = 100


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Reject values nested deeper than ``limit`` without recursing (hostile input guard)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise InvalidObject(f"nested deeper than {limit} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def item_element(lt: ListAtom, index: int, child: Any) -> PathElement:
    """The path element of one list item (key, set value or index); InvalidObject when impossible."""
    if not lt.associative:
        return PathElement.index(index)
    if lt.keys:
        if child is None:
            raise InvalidObject("associative list with keys may not have a null element")
        if not isinstance(child, dict):
            raise InvalidObject("associative list with keys may not have non-map elements")
        key: dict[str, Any] = {}
        for name in lt.keys:
            if name in child:
                key[name] = child[name]
            elif name in lt.defaults:
                key[name] = lt.defaults[name]
            else:
                raise InvalidObject(f"associative list with keys has an element that omits key field "
                                    f"{name!r} (and doesn't have default value)")
        return PathElement.key(key)
    if isinstance(child, dict):
        raise InvalidObject("associative list without keys has an element that's a map type")
    if isinstance(child, list):
        raise InvalidObject("not supported: associative list with lists as elements")
    if child is None:
        raise InvalidObject("associative list without keys has an element that's an explicit null")
    return PathElement.value(child)


def _part(atom: Atom, value: Any) -> str | None:
    return handler(deduce(atom, value, ABSENT))


# --- validation -------------------------------------------------------------------------------

_SCALAR_CHECKS = {"numeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool)}


def validate(value: Any, node: TypeNode, path: Path = ()) -> None:
    """Raise :class:`InvalidObject` (with the field path) when ``value`` does not fit ``node``."""
    if len(path) > MAX_DEPTH:
        raise InvalidObject(f"nested deeper than {MAX_DEPTH} levels", path_string(path))
    atom = atom_of(node)
    part = _part(atom, value)
    if part is None:
        raise InvalidObject("schema error: invalid atom", path_string(path))
    if part == "scalar":
        check = _SCALAR_CHECKS.get(str(atom.scalar))
        if value is not None and check is not None and not check(value):
            raise InvalidObject(f"expected {atom.scalar}, got {_kind(value)}", path_string(path))
    elif part == "list":
        _validate_list(atom.list, value, path)  # type: ignore[arg-type]
    else:
        _validate_map(atom.map, value, path)  # type: ignore[arg-type]


def _kind(value: Any) -> str:
    return {dict: "map", list: "list", str: "string", bool: "boolean"}.get(type(value), "number")


def _validate_list(lt: ListAtom, value: Any, path: Path) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise InvalidObject(f"expected list, got {_kind(value)}", path_string(path))
    seen: set[PathElement] = set()
    for i, child in enumerate(value):
        try:
            pe = item_element(lt, i, child)
        except InvalidObject as exc:
            raise InvalidObject(f"element {i}: {exc.reason}", path_string(path)) from None
        if pe in seen:
            raise InvalidObject(f"duplicate entries for key {pe}", path_string(path))
        seen.add(pe)
        validate(child, lt.element, (*path, pe))


def _validate_map(mt: MapAtom, value: Any, path: Path) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidObject(f"expected map, got {_kind(value)}", path_string(path))
    for key, child in value.items():
        if not isinstance(key, str):
            raise InvalidObject("map keys must be strings", path_string(path))
        sub = mt.child(key)
        pe = PathElement.field(key)
        if sub is None:
            raise InvalidObject("field not declared in schema", path_string((*path, pe)))
        validate(child, sub, (*path, pe))


# --- field sets -------------------------------------------------------------------------------

def to_field_set(value: Any, node: TypeNode) -> FieldSet:
    """SMD's ``ToFieldSet``: every leaf and list/map item the value mentions."""
    out = FieldSet()
    _collect(value, node, (), out)
    return out


def _collect(value: Any, node: TypeNode | None, path: Path, out: FieldSet) -> None:
    atom = atom_of(node)
    part = _part(atom, value)
    if part == "scalar":
        out.insert(path)
    elif part == "list":
        lt: ListAtom = atom.list  # type: ignore[assignment]
        if not lt.associative:
            out.insert(path)
            return
        for i, child in enumerate(value if isinstance(value, list) else ()):
            sub = (*path, item_element(lt, i, child))
            _collect(child, lt.element, sub, out)
            out.insert(sub)
    elif part == "map":
        mt: MapAtom = atom.map  # type: ignore[assignment]
        if mt.atomic:
            out.insert(path)
            return
        for key, child in (value.items() if isinstance(value, dict) else ()):
            sub = (*path, PathElement.field(key))
            _collect(child, mt.child(key), sub, out)
            if child is None or child == {} or not mt.is_field(key):
                out.insert(sub)


def drop_nulls(value: Any, node: TypeNode | None) -> Any:
    """Drop ``null`` map entries at typed positions (free-form data is left alone).

    Kubernetes stores built-in objects as typed structs and prunes nulls from custom resources, so a
    ``null`` SMD leaves behind (``tags: null`` after pruning every item) never reaches storage.
    """
    atom = atom_of(node)
    if atom.map is not None and atom.map.element is not None and atom.map.element.get("any"):
        return value
    part = _part(atom, value)
    if part == "map" and isinstance(value, dict):
        mt: MapAtom = atom.map  # type: ignore[assignment]
        return {k: drop_nulls(v, mt.child(k)) for k, v in value.items() if v is not None}
    if part == "list" and isinstance(value, list):
        lt: ListAtom = atom.list  # type: ignore[assignment]
        return [drop_nulls(v, lt.element) for v in value]
    return value


def ensure_named_fields_are_members(s: FieldSet, node: TypeNode | None) -> FieldSet:
    """SMD's ``EnsureNamedFieldsAreMembers``: struct fields with owned children become members."""
    atom = atom_of(node)
    members = set(s.members)
    children: dict[PathElement, FieldSet] = {}
    for pe, child in s.children.items():
        sub: TypeNode | None = None
        if pe.kind == "f" and atom.map is not None:
            if atom.map.is_field(pe.payload):
                members.add(pe)
            sub = atom.map.child(pe.payload)
        elif pe.kind == "k" and atom.list is not None:
            sub = atom.list.element
        children[pe] = ensure_named_fields_are_members(child, sub)
    return FieldSet(members, children)
