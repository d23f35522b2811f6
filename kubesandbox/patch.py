"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

JSON patch is the implementation shared with Kustomize (:mod:`renderers.k8s.jsonpatch`).

Called by the sandbox REST layer on a private copy of the live object. Failures to apply a
well-formed patch (a missing path, a failed ``test``) are 422 like kube-apiserver's patch handler;
a body that is not a patch at all is 400. Strategic merge uses ``renderers.k8s.strategic.merge`` with
the kind's type node (shared with kustomize), including the ``$patch``/``$retainKeys`` directives it
implements; custom resources have no patch strategies, and the
apiserver rejects strategic merge patches for them with 415, which we do too.
"""

from __future__ import annotations

from typing import Any

from kubesandbox.apierrors import ApiError, bad_request
from renderers.errors import RenderError
from renderers.k8s import jsonpatch
from renderers.k8s.schema import TypeNode
from renderers.k8s.strategic import merge


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def json_patch(doc: dict[str, Any], ops: Any) -> Any:
    """Apply an RFC 6902 operation list to ``doc`` (the caller's private copy: mutated and returned)
    with the shared implementation (:mod:`renderers.k8s.jsonpatch`): an operation that is not one is
    a 400, one that does not apply (a missing path, a failed ``test``) a 422."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    if len(ops) > 10_000:
        raise ApiError(413, "RequestEntityTooLarge", "json patch has more than 10000 operations")
    try:
        return jsonpatch.apply(doc, ops, in_place=True)
    except jsonpatch.PatchError as exc:
        raise (bad_request(exc.message) if exc.malformed else _unprocessable(exc.message)) from exc


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
