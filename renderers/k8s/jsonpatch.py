"""RFC 6902 JSON patch on plain values: add, remove, replace, move, copy and test.

The one implementation shared by Kustomize (``patchesJson6902`` and JSON ``patches``,
:mod:`renderers.kustomize.patches`) and the sandbox API server (``application/json-patch+json``,
``kubesandbox.patch``); paths are RFC 6901 pointers (:mod:`renderers.k8s.jsonpointer`). A failure is
a :class:`PatchError` naming the operation's index and the field at fault; ``malformed`` tells a list
that is not a JSON patch at all (a 400 for the sandbox) from a patch that does not apply to this
document (a missing path, a failed ``test``: a 422). Each caller turns it into its own error. By
default the document is left untouched (the patch is applied to a copy).
"""

from __future__ import annotations

import copy
from typing import Any

from renderers.k8s.jsonpointer import PointerError, get, index, parent, text, tokens

OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchError(ValueError):
    """Operation ``op`` (its index) failed; ``field`` is the operation's field at fault (``path``,
    ``from``, ``value``, ``op``) and ``malformed`` whether the operation itself is invalid."""

    def __init__(self, message: str, op: int, field: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.field = field
        self.malformed = malformed


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PointerError("cannot remove the whole document")
    value = get(doc, parts)
    node = parent(doc, parts)
    if isinstance(node, dict):
        del node[parts[-1]]
    else:
        del node[index(node, parts[-1])]
    return value


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    node = parent(doc, parts)
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        node.insert(index(node, last, adding=True), value)
    else:
        raise PointerError(f"doc is missing path: {text(parts)}")
    return doc


def _replace(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    get(doc, parts)
    node = parent(doc, parts)
    if isinstance(node, dict):
        node[parts[-1]] = value
    else:
        node[index(node, parts[-1])] = value
    return doc


def _pointer(op: dict[str, Any], key: str, i: int) -> list[str]:
    try:
        return tokens(op.get(key))
    except PointerError as exc:
        raise PatchError(str(exc), i, key, malformed=True) from None


def _apply_op(doc: Any, op: Any, i: int) -> Any:
    if not isinstance(op, dict) or op.get("op") not in OPS:
        raise PatchError(f"unexpected kind of JSON patch operation: {op!r:.200}", i, "op", malformed=True)
    kind, path = op["op"], _pointer(op, "path", i)
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"missing value for {kind} operation", i, "value", malformed=True)
    source = _pointer(op, "from", i) if kind in ("move", "copy") else []
    try:
        if kind == "add":
            return _add(doc, path, copy.deepcopy(op["value"]))
        if kind == "replace":
            return _replace(doc, path, copy.deepcopy(op["value"]))
        if kind == "remove":
            _remove(doc, path)
            return doc
        if kind == "test":
            if get(doc, path) != op["value"]:
                raise PatchError(f"testing value {op.get('path')} failed", i, "value")
            return doc
        value = _remove(doc, source) if kind == "move" else copy.deepcopy(get(doc, source))
        return _add(doc, path, value)
    except PointerError as exc:
        raise PatchError(f"{kind} operation does not apply: {exc}", i, "path") from None


def apply(doc: Any, ops: list[Any], *, in_place: bool = False) -> Any:
    """``doc`` with every operation of ``ops`` applied, in order. ``doc`` itself is not modified
    unless ``in_place`` (the caller holds a private copy); a whole-document ``add``/``replace``
    returns the new value."""
    result = doc if in_place else copy.deepcopy(doc)
    for i, op in enumerate(ops):
        result = _apply_op(result, op, i)
    return result
