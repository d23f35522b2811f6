"""Who owns which field: the engine's reading of ``metadata.managedFields``.

Used by the plan (gitops.plan) to attribute drift ("who changed it": the manager owning the live
value, and when: the ``time`` of that manager's entry, :func:`changed_at`) and to drop fields that
ignore rules leave to another manager (an HPA owning ``.spec.replicas``), and by the in-memory fake
cluster. The FieldsV1 format, field paths and their printed form are the shared implementation in
``renderers.k8s`` (:mod:`renderers.k8s.fieldsv1`, :mod:`renderers.k8s.fieldpath`, the same code the
sandbox's server-side apply uses); this module only adds the engine's questions. A path is a tuple
of :class:`~renderers.k8s.fieldpath.PathElement`; an entry whose FieldsV1 does not decode is skipped,
and one whose time does not parse has none (the engine reads real clusters' objects and must not
fail on one bad entry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from renderers.k8s import fieldsv1
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import Path, path_string

__all__ = ["Entry", "Path", "changed_at", "decode", "display", "entries", "owner_of", "owners", "owners_of",
           "parse_time", "paths_of"]

_MAX_TIME_TEXT = 64


@dataclass(frozen=True)
class Entry:
    """One managedFields entry as the engine reads it: who, when (epoch seconds, None when the entry has
    no readable ``time``) and the paths it owns."""

    manager: str
    time: float | None
    paths: frozenset[Path]


def decode(fields_v1: Any) -> set[Path]:
    """Every path a FieldsV1 set names (leaves, plus the parents marked with ``.``); a malformed
    set names none."""
    try:
        return set(fieldsv1.decode(fields_v1))
    except InvalidObject:
        return set()


def parse_time(value: Any) -> float | None:
    """An RFC 3339 ``time`` of a managedFields entry (``2026-01-01T10:00:00Z``) in epoch seconds; None
    when it is absent or does not parse (a time without a zone is read as UTC)."""
    if not isinstance(value, str) or not value or len(value) > _MAX_TIME_TEXT:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def entries(managed_fields: Iterable[Mapping[str, Any]] | Any) -> list[Entry]:
    """The readable entries of a ``managedFields`` list (anything that is not one names none)."""
    if not isinstance(managed_fields, list | tuple):
        return []
    out = []
    for entry in managed_fields:
        if not isinstance(entry, Mapping):
            continue
        fields = entry.get("fieldsV1")
        paths = frozenset(decode(fields)) if isinstance(fields, Mapping) else frozenset()
        out.append(Entry(str(entry.get("manager") or "unknown"), parse_time(entry.get("time")), paths))
    return out


def owners_of(found: Iterable[Entry]) -> dict[str, set[Path]]:
    """Manager name -> every path it owns (operations and subresources of one manager merged)."""
    result: dict[str, set[Path]] = {}
    for entry in found:
        if entry.paths:
            result.setdefault(entry.manager, set()).update(entry.paths)
    return result


def owners(managed_fields: Iterable[Mapping[str, Any]] | None) -> dict[str, set[Path]]:
    """Manager name -> every path it owns (operations and subresources of one manager merged)."""
    return owners_of(entries(managed_fields))


def changed_at(path: Path, manager: str | None, found: Iterable[Entry]) -> float | None:
    """When ``manager`` last changed the field at ``path``: the latest time of its entries that own the
    path (or a parent or a child of it), else of any of its entries; None when none has a time.

    The API server updates an entry's time whenever its manager changes one of the fields it owns, so
    this is "changed by <manager> at <time>" of the drift view.
    """
    if manager is None:
        return None
    mine = [e for e in found if e.manager == manager and e.time is not None]
    holding = [e for e in mine if any(p == path[:len(p)] or path == p[:len(path)] for p in e.paths)]
    times = [e.time for e in (holding or mine) if e.time is not None]
    return max(times) if times else None


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
