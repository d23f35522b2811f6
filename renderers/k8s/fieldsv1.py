"""FieldsV1: the JSON encoding of a field set inside ``metadata.managedFields``.

``{"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}``: each key is a
serialised path element, ``{}`` marks an owned leaf and ``".": {}`` marks a node that is owned itself
and also has owned children. Encoding follows SMD's ``emitContentsV1`` (members and children merged in
sorted order, ``"."`` first) so that our output is key-for-key what kube-apiserver writes; decoding
follows ``readIterV1`` (unknown element types skipped). Called by the sandbox's field manager
(``kubesandbox.ssa.managed``) for every request and by the engine to read who owns which field
(``gitops.plan.managed``); a malformed set raises :class:`renderers.k8s.errors.InvalidObject`.
"""

from __future__ import annotations

import json
from typing import Any

from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import FIELD, INDEX, KEY, VALUE, FieldSet, PathElement

MAX_DEPTH = 256


def encode(s: FieldSet) -> dict[str, Any]:
    """The FieldsV1 object of a set (``{}`` for the empty set)."""
    return _emit(s, include_self=False)


def _emit(s: FieldSet, *, include_self: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = {pe: c for pe, c in s.children.items() if not c.empty()}
    if include_self and (s.members or children):
        out["."] = {}
    for pe in sorted(s.members | children.keys()):
        child = children.get(pe)
        if child is None:
            out[pe.serialize()] = {}
        else:
            out[pe.serialize()] = _emit(child, include_self=pe in s.members)
    return out


def decode(fields: Any, where: str = "fieldsV1") -> FieldSet:
    """Parse a FieldsV1 object; raises :class:`InvalidObject` naming ``where`` when malformed."""
    if not isinstance(fields, dict):
        raise InvalidObject(f"expected a JSON object, got {type(fields).__name__}", where)
    children, _ = _read(fields, where, 0)
    return children or FieldSet()


def _read(obj: dict[str, Any], where: str, depth: int) -> tuple[FieldSet | None, bool]:
    if depth > MAX_DEPTH:
        raise InvalidObject(f"nested deeper than {MAX_DEPTH} levels", where)
    children: FieldSet | None = None
    is_member = False
    for key, sub in obj.items():
        if key == ".":
            is_member = True
            continue
        pe = parse_element(key, where)
        if pe is None:
            continue
        if not isinstance(sub, dict):
            raise InvalidObject(f"value of {key!r} must be a JSON object", where)
        grandchildren, child_is_member = _read(sub, where, depth + 1)
        if children is None and (child_is_member or grandchildren is not None):
            children = FieldSet()
        if children is not None and child_is_member:
            children.members.add(pe)
        if children is not None and grandchildren is not None:
            prev = children.children.get(pe)
            children.children[pe] = grandchildren if prev is None else prev.union(grandchildren)
    if children is None:
        is_member = True
    return children, is_member


def parse_element(key: str, where: str = "fieldsV1") -> PathElement | None:
    """One serialised path element; ``None`` for an unknown element type (skipped, as SMD does)."""
    if len(key) < 2:
        raise InvalidObject(f"path element {key!r} must be at least 2 characters long", where)
    if key[1] != ":":
        raise InvalidObject(f"path element {key!r} is missing its colon", where)
    kind, body = key[0], key[2:]
    if kind == FIELD:
        return PathElement.field(body)
    if kind == INDEX:
        if not body.lstrip("-").isdigit():
            raise InvalidObject(f"list index {body!r} is not an integer", where)
        return PathElement.index(int(body))
    if kind not in (KEY, VALUE):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidObject(f"path element {key!r} is not valid JSON: {exc}", where) from exc
    if kind == VALUE:
        return PathElement.value(parsed)
    if not isinstance(parsed, dict):
        raise InvalidObject(f"key path element {key!r} must hold a JSON object", where)
    return PathElement.key(parsed)
