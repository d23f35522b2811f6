"""Error helpers of the kustomize renderer: every failure is a located :class:`RenderError`.

Callers: every module of the package. One helper so messages always name the kustomization file and
the field, the way ``kubectl kustomize`` does.
"""

from __future__ import annotations

from typing import Any

from renderers.errors import RenderError


def fail(message: str, path: object = None, field: str | None = None) -> RenderError:
    """A :class:`RenderError` to raise (``raise fail(...)``)."""
    return RenderError(message, path=str(path) if path is not None else None, field=field)


def as_list(value: Any, where: object, field: str) -> list[Any]:
    """``value`` as a list (``None`` is empty); anything else is a located error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"expected a list, got {type(value).__name__}", where, field)
    return value


def as_map(value: Any, where: object, field: str) -> dict[str, Any]:
    """``value`` as a map (``None`` is empty); anything else is a located error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"expected a map, got {type(value).__name__}", where, field)
    return value
