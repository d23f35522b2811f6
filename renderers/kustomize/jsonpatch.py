"""RFC 6902 JSON patch on plain values (``patchesJson6902`` and JSON ``patches``).

Callers: :mod:`renderers.kustomize.patches`. Operations add, remove, replace, move, copy and test;
paths are RFC 6901 pointers. A patch whose path does not exist fails with the operation index and
path, and the target is left untouched (the patch is applied to a copy).
"""

from __future__ import annotations

import copy
from typing import Any

from renderers.kustomize.errors import fail

OPS = ("add", "remove", "replace", "move", "copy", "test")


def _tokens(pointer: Any, where: str) -> list[str]:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise fail(f"invalid JSON pointer {pointer!r}", where, "path")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _index(container: list[Any], token: str, *, insert: bool, where: str) -> int:
    if insert and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise fail(f"invalid array index {token!r}", where, "path")
    idx = int(token)
    if idx > len(container) or (not insert and idx == len(container)):
        raise fail(f"array index {idx} out of bounds", where, "path")
    return idx


def _parent(doc: Any, tokens: list[str], where: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise fail(f"doc is missing path: /{'/'.join(tokens)}", where, "path")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, insert=False, where=where)]
        else:
            raise fail(f"doc is missing path: /{'/'.join(tokens)}", where, "path")
    return node


def _get(doc: Any, tokens: list[str], where: str) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens, where)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise fail(f"doc is missing key: /{'/'.join(tokens)}", where, "path")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, insert=False, where=where)]
    raise fail(f"doc is missing path: /{'/'.join(tokens)}", where, "path")


def _remove(doc: Any, tokens: list[str], where: str) -> Any:
    value = _get(doc, tokens, where)
    parent = _parent(doc, tokens, where)
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[int(tokens[-1])]
    return value


def _add(doc: Any, tokens: list[str], value: Any, where: str) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens, where)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, insert=True, where=where), value)
    else:
        raise fail(f"add operation does not apply: doc is missing path: /{'/'.join(tokens)}", where, "path")
    return doc


def _replace(doc: Any, tokens: list[str], value: Any, where: str) -> Any:
    if not tokens:
        return value
    _get(doc, tokens, where)
    parent = _parent(doc, tokens, where)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        parent[int(tokens[-1])] = value
    return doc


def apply(doc: Any, ops: list[Any], where: str) -> Any:
    """``doc`` with every operation applied (``doc`` itself is not modified)."""
    result = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        at = f"{where} (operation {i})"
        if not isinstance(op, dict) or op.get("op") not in OPS:
            raise fail(f"unexpected kind of JSON patch operation: {op!r}", at, "op")
        kind, path = op["op"], _tokens(op.get("path"), at)
        if kind in ("add", "replace", "test") and "value" not in op:
            raise fail(f"missing value for {kind} operation", at, "value")
        if kind == "add":
            result = _add(result, path, copy.deepcopy(op["value"]), at)
        elif kind == "replace":
            result = _replace(result, path, copy.deepcopy(op["value"]), at)
        elif kind == "remove":
            _remove(result, path, at)
        elif kind == "test":
            if _get(result, path, at) != op["value"]:
                raise fail(f"testing value {op.get('path')} failed", at, "value")
        else:
            source = _tokens(op.get("from"), at)
            value = _remove(result, source, at) if kind == "move" else copy.deepcopy(_get(result, source, at))
            result = _add(result, path, value, at)
    return result
