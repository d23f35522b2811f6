"""The sandbox's bridge to the server-side apply library (``gitops.sandbox.ssa``).

Every write asks this module for the new object with ``metadata.managedFields`` maintained: apply
requests merge through ``apply_patch`` (operation Apply), every other write goes through
``record_update`` (operation Update: the writer takes ownership of the fields it changed), exactly as
the "Server-Side Apply" documentation describes. The SSA package is written by another engineer and
imported lazily (it imports this package's ``__init__``); while it is absent, apply falls back to a
JSON merge patch and managedFields are not tracked, which the tests for ownership detect.
"""

from __future__ import annotations

import inspect
from typing import Any

from gitops.sandbox.patch import merge_patch
from gitops.sandbox.status import ApiError, apply_conflict, invalid
from renderers.k8s.schema import TypeNode


def _ssa() -> Any:
    try:
        from gitops.sandbox import ssa
    except ImportError:
        return None
    return ssa if hasattr(ssa, "apply_patch") else None


def available() -> bool:
    return _ssa() is not None


def _extra(func: Any, status_subresource: bool) -> dict[str, Any]:
    """Pass ``status_subresource`` when the library takes it (custom resources need it)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}
    return {"status_subresource": status_subresource} if "status_subresource" in params else {}


def _invalid(exc: Exception, resource: str, group: str, name: str) -> ApiError:
    path = str(getattr(exc, "path", "") or "").lstrip(".")
    message = str(getattr(exc, "reason", "") or exc)
    return invalid(resource, group, name, [("FieldValueInvalid", path, message)])


def apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str, *, force: bool,
          schema: TypeNode | None, now: str, resource: str, group: str,
          status_subresource: bool = False) -> dict[str, Any]:
    """The object after applying ``applied`` for ``manager``; 409 with causes on conflicts."""
    ssa = _ssa()
    name = str(applied["metadata"].get("name", ""))
    if ssa is None:
        base = live if live is not None else {}
        result: dict[str, Any] = merge_patch(base, applied)
        return result
    try:
        merged: dict[str, Any] = ssa.apply_patch(live, applied, manager, force=force, schema=schema, now=now,
                                                 **_extra(ssa.apply_patch, status_subresource))
    except ssa.ApplyConflict as exc:
        raise apply_conflict(resource, group, name, list(exc.conflicts), str(exc)) from exc
    except ApiError:
        raise
    except (ValueError, TypeError) as exc:
        raise _invalid(exc, applied.get("kind", resource), group, name) from exc
    return merged


def update(live: dict[str, Any] | None, new: dict[str, Any], manager: str, *, subresource: str,
           schema: TypeNode | None, now: str, status_subresource: bool = False) -> dict[str, Any]:
    """``new`` with managedFields recording that ``manager`` wrote the fields it changed."""
    ssa = _ssa()
    if ssa is None:
        return new
    try:
        result: dict[str, Any] = ssa.record_update(live, new, manager, subresource=subresource,
                                                   schema=schema, now=now,
                                                   **_extra(ssa.record_update, status_subresource))
    except (ValueError, TypeError) as exc:  # a typed decoder would have refused the body: 400
        kind, version = str(new.get("kind", "")), str(new.get("apiVersion", "")).rpartition("/")[2]
        raise ApiError(400, "BadRequest", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                       f"{exc}") from exc
    return result


def crd_schema(openapi_v3: dict[str, Any]) -> TypeNode | None:
    ssa = _ssa()
    if ssa is None or not hasattr(ssa, "from_openapi_v3"):
        return None
    try:
        node: TypeNode = ssa.from_openapi_v3(openapi_v3)
    except (ValueError, TypeError, KeyError):
        return None
    return node
