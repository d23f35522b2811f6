"""Defaulting of built-in kinds (placeholder filled in below by :func:`apply_defaults`)."""

from __future__ import annotations

from typing import Any

from gitops.sandbox.catalog import ResourceType


def apply_defaults(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Fill in the fields kube-apiserver defaults (mutates ``obj``)."""
    if rt.kind == "Namespace" and not rt.group:
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
