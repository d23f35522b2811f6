"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

Called by the sandbox REST layer on a private copy of the live object. Failures to apply a
well-formed patch (a missing path, a failed ``test``) are 422 like kube-apiserver's patch handler;
a body that is not a patch at all is 400. Strategic merge uses ``renderers.k8s.strategic.merge`` with
the kind's type node (shared with kustomize), including the ``$patch``/``$retainKeys`` directives it
implements; custom resources have no patch strategies, and the
apiserver rejects strategic merge patches for them with 415, which we do too.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesandbox.status import ApiError, bad_request
from renderers.errors import RenderError
from renderers.k8s.schema import TypeNode
from renderers.k8s.strategic import merge


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise _unprocessable(f"invalid array index {token!r}")
    idx = int(token)
    if idx > len(container) or (not adding and idx == len(container)):
        raise _unprocessable(f"array index {idx} out of bounds")
    return idx


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise _unprocessable(f"doc is missing path: {path!r}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise _unprocessable(f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], adding=True), value)
    else:
        raise _unprocessable(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise _unprocessable("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict) and tokens[-1] in parent:
        del parent[tokens[-1]]
    elif isinstance(parent, list):
        del parent[_index(parent, tokens[-1], adding=False)]
    else:
        raise _unprocessable(f"Unable to remove nonexistent key: {tokens[-1]}: missing value")
    return doc


def json_patch(doc: dict[str, Any], ops: Any) -> Any:
    """Apply an RFC 6902 operation list to ``doc`` (mutated and returned)."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    if len(ops) > 10_000:
        raise ApiError(413, "RequestEntityTooLarge", "json patch has more than 10000 operations")
    result: Any = doc
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise bad_request(f"invalid json patch operation: {op!r:.200}")
        result = _apply_op(result, op)
    return result


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    name, path = op["op"], op.get("path")
    if not isinstance(path, str):
        raise bad_request(f"json patch {name} operation has no path")
    if name in ("add", "replace", "test") and "value" not in op:
        raise bad_request(f"json patch {name} operation at {path!r} has no value")
    if name == "add":
        return _add(doc, path, op["value"])
    if name == "remove":
        return _remove(doc, path)
    if name == "replace":
        _get(doc, path)
        return _add(_remove(doc, path), path, op["value"]) if _pointer(path) else op["value"]
    if name in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise bad_request(f"json patch {name} operation has no from")
        value = _get(doc, source)
        if name == "move":
            doc = _remove(doc, source)
        return _add(doc, path, copy.deepcopy(value) if name == "copy" else value)
    if name == "test":
        if _get(doc, path) != op["value"]:
            raise _unprocessable(f"testing value {path} failed")
        return doc
    raise bad_request(f"unknown json patch operation {name!r}")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_patch(target: dict[str, Any], patch: Any, node: TypeNode) -> dict[str, Any]:
    """Strategic merge patch with the kind's merge keys and strategies (shared with kustomize)."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    try:
        merged: dict[str, Any] = merge(target, patch, node)
    except (RenderError, ValueError, TypeError, KeyError) as exc:
        raise _unprocessable(f"strategic merge patch failed: {exc}") from exc
    return merged
