"""Type atoms: what the merge walkers need to know about one type node.

Translates the shared type nodes of :mod:`renderers.k8s.schema` (``root_for(apiVersion, kind)``) and
CRD schemas (:func:`from_openapi_v3`) into SMD's "atoms": a scalar, a list (atomic, or associative
with or without key fields) and/or a map (struct fields and/or element type, atomic or granular).
Free-form nodes (``{"any": True}``) become SMD's *deduced* type: maps granular, lists atomic, scalars
untyped, the part chosen by the value at hand. List types follow kube-openapi's conversion, which the
oracle's ``smd_schema.py`` reproduces: ``x-kubernetes-list-type`` first, else a strategic-merge
``merge`` strategy makes a map list (with the merge key) or a set, else the list is atomic.

Key design choice: atoms are computed once per node and memoised by identity (the node is kept alive
by the cache, so an id is never reused while cached); resolution of ``ref`` is memoised by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from renderers.k8s.schema import TypeNode, definition

DEDUCED: TypeNode = {"any": True}
UNTYPED_ATOMIC: TypeNode = {"any": "atomic"}
# Key fields Kubernetes defaults in its schema (absent from the OpenAPI v2 document we derive from).
_BUILTIN_KEY_DEFAULTS = {"io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
                         "io.k8s.api.core.v1.ServicePort": {"protocol": "TCP"}}


@dataclass(frozen=True, eq=False)
class ListAtom:
    element: TypeNode
    associative: bool
    keys: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class MapAtom:
    fields: dict[str, TypeNode] | None
    element: TypeNode | None
    atomic: bool

    def child(self, name: str) -> TypeNode | None:
        """The node of one key: the named field, else the element type, else None (undeclared)."""
        if self.fields is not None:
            node = self.fields.get(name)
            if node is not None:
                return node
        return self.element

    def is_field(self, name: str) -> bool:
        return self.fields is not None and name in self.fields


@dataclass(frozen=True, eq=False)
class Atom:
    scalar: str | None = None
    list: ListAtom | None = None
    map: MapAtom | None = None

    def parts(self) -> frozenset[str]:
        return frozenset(p for p in ("scalar", "list", "map") if getattr(self, p) is not None)


EMPTY_ATOM = Atom()
_ATOMIC_ATOM = Atom("untyped", ListAtom(UNTYPED_ATOMIC, False), MapAtom(None, UNTYPED_ATOMIC, True))
_DEDUCED_ATOM = Atom("untyped", ListAtom(UNTYPED_ATOMIC, False), MapAtom(None, DEDUCED, False))
_cache: dict[int, tuple[TypeNode, Atom]] = {}
_by_ref: dict[str, Atom] = {}
_CACHE_LIMIT = 100_000


def atom_of(node: TypeNode | None) -> Atom:
    """The atom of a type node (``None`` is the empty type: nothing is known about it)."""
    if node is None:
        return EMPTY_ATOM
    hit = _cache.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    atom = _build(node)
    if len(_cache) > _CACHE_LIMIT:
        _cache.clear()
    _cache[id(node)] = (node, atom)
    return atom


def _build(node: TypeNode) -> Atom:
    ref = node.get("ref")
    if isinstance(ref, str):
        atom = _by_ref.get(ref)
        if atom is None:
            atom = _by_ref[ref] = _build(definition(ref))
        return atom
    if node.get("any") == "atomic":
        return _ATOMIC_ATOM
    if node.get("any"):
        return _DEDUCED_ATOM
    if "scalar" in node:
        return Atom(scalar=str(node["scalar"]))
    if "list" in node:
        return Atom(list=_list_atom(node))
    if "fields" in node or "map" in node:
        return Atom(map=MapAtom(node.get("fields"), node.get("map"), bool(node.get("atomic"))))
    return _DEDUCED_ATOM


def _list_atom(node: TypeNode) -> ListAtom:
    element: TypeNode = node["list"]
    list_type = node.get("listType")
    merge_key = node.get("mergeKey")
    if list_type is None and str(node.get("patch", "")).startswith("merge"):
        list_type = "map" if merge_key else "set"
    if list_type == "set":
        return ListAtom(element, True)
    keys = tuple(node.get("keys") or ([merge_key] if merge_key else ()))
    if list_type != "map" or not keys:
        return ListAtom(element, False)
    return ListAtom(element, True, keys, _key_defaults(element, keys))


def _key_defaults(element: TypeNode, keys: tuple[str, ...]) -> dict[str, Any]:
    defaults = dict(_BUILTIN_KEY_DEFAULTS.get(str(element.get("ref")), {}))
    fields = element.get("fields") or {}
    for key in keys:
        sub = fields.get(key)
        if isinstance(sub, dict) and "default" in sub:
            defaults[key] = sub["default"]
    return {k: v for k, v in defaults.items() if k in keys}


def deduce(atom: Atom, value: Any, absent: object) -> frozenset[str]:
    """SMD's ``deduceAtom``: the part of the atom that handles this value (all parts if none fits)."""
    if value is not absent and value is not None:
        if isinstance(value, dict):
            part = "map"
        elif isinstance(value, list):
            part = "list"
        else:
            part = "scalar"
        if getattr(atom, part) is not None:
            return frozenset((part,))
    return atom.parts()


def handler(parts: frozenset[str]) -> str | None:
    """SMD's ``handleAtom`` order: map, then scalar, then list."""
    for part in ("map", "scalar", "list"):
        if part in parts:
            return part
    return None
