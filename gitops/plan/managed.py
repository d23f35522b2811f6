"""Who owns which field: the engine's reading of ``metadata.managedFields``.

Used by the plan (gitops.plan) to attribute drift ("who changed it": the manager owning the live value) and
to drop fields that ignore rules leave to another manager (an HPA owning ``.spec.replicas``), and by the
in-memory fake cluster. The FieldsV1 format, field paths and their printed form are the shared
implementation in ``renderers.k8s`` (:mod:`renderers.k8s.fieldsv1`, :mod:`renderers.k8s.fieldpath`, the same
code the sandbox's server-side apply uses); this module only adds the engine's questions. A path is a tuple
of :class:`~renderers.k8s.fieldpath.PathElement`; an entry whose FieldsV1 does not decode is skipped (the
engine reads real clusters' objects and must not fail on one bad entry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from renderers.k8s import fieldsv1
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import Path, path_string

__all__ = ["Path", "decode", "display", "owner_of", "owners", "paths_of"]


def decode(fields_v1: Any) -> set[Path]:
    """Every path a FieldsV1 set names (leaves, plus the parents marked with ``.``); a malformed
    set names none."""
    try:
        return set(fieldsv1.decode(fields_v1))
    except InvalidObject:
        return set()


def owners(managed_fields: Iterable[Mapping[str, Any]] | None) -> dict[str, set[Path]]:
    """Manager name -> every path it owns (operations and subresources of one manager merged)."""
    result: dict[str, set[Path]] = {}
    for entry in managed_fields or ():
        if not isinstance(entry, Mapping):
            continue
        manager = str(entry.get("manager") or "unknown")
        fields = entry.get("fieldsV1")
        if isinstance(fields, Mapping):
            result.setdefault(manager, set()).update(decode(fields))
    return result


def owner_of(path: Path, owned: Mapping[str, set[Path]]) -> str | None:
    """The manager owning ``path``: the longest owned prefix wins, else one owning a descendant."""
    for cut in range(len(path), 0, -1):
        head = path[:cut]
        found = sorted(m for m, paths in owned.items() if head in paths)
        if found:
            return found[0]
    below = sorted(m for m, paths in owned.items() if any(p[:len(path)] == path for p in paths))
    return below[0] if below else None


def paths_of(owned: Mapping[str, set[Path]], managers: Iterable[str]) -> set[Path]:
    """The union of the paths owned by ``managers``."""
    out: set[Path] = set()
    for manager in managers:
        out |= owned.get(manager, set())
    return out


def display(path: Path) -> str:
    """``.spec.containers[name="web"].image`` for a path (``.`` for the whole object)."""
    return path_string(path) or "."
