"""The sandbox's bridge to the server-side apply library (``kubesandbox.ssa``).

Every write asks this module for the new object with ``metadata.managedFields`` maintained: apply
requests merge through ``apply_patch`` (operation Apply), every other write goes through
``record_update`` (operation Update: the writer takes ownership of the fields it changed), exactly as
the "Server-Side Apply" documentation describes. This is the one place where the library's errors
become API errors: conflicts a 409 with causes, schema violations a 422 (apply) or 400 (other writes,
where kube-apiserver's typed decoder would have refused the body).
"""

from __future__ import annotations

import copy
from typing import Any

from kubesandbox import ssa, typed
from kubesandbox.apierrors import ApiError, apply_conflict, invalid
from renderers.k8s.schema import TypeNode


def _invalid(exc: Exception, kind: str, group: str, name: str) -> ApiError:
    path = str(getattr(exc, "path", "") or "").lstrip(".")
    message = str(getattr(exc, "reason", "") or exc)
    return invalid(kind, group, name, [("FieldValueInvalid", path, message)])


def apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str, *, force: bool,
          schema: TypeNode | None, now: str, resource: str, group: str,
          status_subresource: bool = False, zero: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object after applying ``applied`` for ``manager``; 409 with causes on conflicts."""
    name = str(applied["metadata"].get("name", ""))
    try:
        merged: dict[str, Any] = ssa.apply_patch(live, applied, manager, force=force, schema=schema, now=now,
                                                 status_subresource=status_subresource, zero=zero)
    except ssa.ApplyConflict as exc:
        raise apply_conflict(resource, group, name, list(exc.conflicts), str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise _invalid(exc, str(applied.get("kind", resource)), group, name) from exc
    return merged


def update(live: dict[str, Any] | None, new: dict[str, Any], manager: str, *, subresource: str,
           schema: TypeNode | None, now: str, status_subresource: bool = False,
           zero: dict[str, Any] | None = None) -> dict[str, Any]:
    """``new`` with managedFields recording that ``manager`` wrote the fields it changed; none when an
    update starts from none (the object has none, or the request reset them), as kube-apiserver's
    skipNonAppliedManager leaves such objects untracked until an apply.

    ``zero`` (built-in kinds, :func:`kubesandbox.typed.zero`) is laid under both objects before they
    are compared, as the apiserver compares typed objects (a create compares with the zero object):
    only the managedFields of that comparison are kept, the object stays ``new``."""
    if zero is not None and not subresource:
        base = typed.with_zero(live if live is not None else {}, zero)
        compared = _record(base, typed.with_zero(new, zero), manager, subresource, schema, now,
                           status_subresource)
        result = copy.deepcopy(new)
        entries = compared["metadata"].get("managedFields")
        if entries is None:
            result["metadata"].pop("managedFields", None)
        else:
            result["metadata"]["managedFields"] = entries
    else:
        result = _record(live, new, manager, subresource, schema, now, status_subresource)
    if live is not None and not ssa.tracks(live, new, subresource):
        result["metadata"].pop("managedFields", None)  # skipNonAppliedManager: an untracked object stays so
    return result


def _record(live: dict[str, Any] | None, new: dict[str, Any], manager: str, subresource: str,
            schema: TypeNode | None, now: str, status_subresource: bool) -> dict[str, Any]:
    try:
        result: dict[str, Any] = ssa.record_update(live, new, manager, subresource=subresource, schema=schema,
                                                   now=now, status_subresource=status_subresource)
    except (ValueError, TypeError) as exc:  # a typed decoder would have refused the body: 400
        kind, version = str(new.get("kind", "")), str(new.get("apiVersion", "")).rpartition("/")[2]
        raise ApiError(400, "BadRequest", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                       f"{exc}") from exc
    return result


def crd_schema(openapi_v3: dict[str, Any]) -> TypeNode | None:
    """The merge schema of one CRD version (None when the schema cannot be used)."""
    try:
        node: TypeNode = ssa.from_openapi_v3(openapi_v3)
    except (ValueError, TypeError, KeyError):
        return None
    return node
