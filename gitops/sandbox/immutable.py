"""Immutable-field checks (placeholder)."""

from __future__ import annotations

from typing import Any

from gitops.sandbox.catalog import ResourceType


def check_immutable(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise 422 Invalid when ``new`` changes a field Kubernetes declares immutable."""
