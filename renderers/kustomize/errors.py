"""Error helpers of the kustomize renderer: every failure is a located :class:`RenderError`.

Callers: every module of the package. One helper so messages always name the kustomization file and
the field, the way ``kubectl kustomize`` does.
"""

from __future__ import annotations

from renderers.errors import RenderError


def fail(message: str, path: object = None, field: str | None = None) -> RenderError:
    """A :class:`RenderError` to raise (``raise fail(...)``)."""
    return RenderError(message, path=str(path) if path is not None else None, field=field)
