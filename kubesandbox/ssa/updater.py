"""SMD's ``merge.Updater``: Apply and Update over managers' field sets (port of merge/update.go).

This is the pure ownership algorithm the differential tests compare, step for step, with the real
structured-merge-diff (``ssaoracle``). Managers are opaque ids here; :mod:`.managed` maps them to
``metadata.managedFields`` entries. Called by :mod:`.managed` (``apply_patch``, ``record_update``) and
by the tests. Key design choice: a faithful port (conflict detection from ``Compare``, prune with
"add back owned" and "add back dangling" passes) rather than a re-derivation, so SMD's corner cases
come along for free; what differs is listed in docs/sandbox-ssa.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubesandbox.ssa.merge import Comparison, compare, merge_values, remove_items
from kubesandbox.ssa.typed import ensure_named_fields_are_members, to_field_set, validate
from renderers.k8s.fieldpath import FieldSet, path_string
from renderers.k8s.schema import TypeNode


@dataclass(frozen=True)
class Owned:
    """One manager's field set and whether it came from Apply (True) or Update (False)."""

    fields: FieldSet
    applied: bool


Managers = dict[str, Owned]


class Conflicts(Exception):
    """Fields an apply would take from other managers: (manager id, field path) pairs."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        super().__init__("; ".join(f"conflict with {m!r}: {p}" for m, p in items))


def _update(old: Any, new: Any, node: TypeNode, managers: Managers, workflow: str, *, force: bool,
            ignored: FieldSet | None) -> tuple[Managers, Comparison]:
    cmp = compare(old, new, node)
    if ignored is not None:
        cmp = cmp.exclude(ignored)
    changed = cmp.modified.union(cmp.added)
    conflicts: dict[str, FieldSet] = {}
    for name, owned in managers.items():
        if name == workflow:
            continue
        hit = owned.fields.intersection(changed)
        if not hit.empty():
            conflicts[name] = hit
    if conflicts and not force:
        raise Conflicts([(name, path_string(p)) for name in sorted(conflicts) for p in conflicts[name]])
    out: Managers = {}
    for name, owned in managers.items():
        fields = owned.fields
        if name != workflow:
            if name in conflicts:
                fields = fields.difference(conflicts[name])
            if not cmp.removed.empty():
                fields = fields.difference(cmp.removed)
        if not fields.empty():
            out[name] = Owned(fields, owned.applied)
    return out, cmp


def update(live: Any, new: Any, node: TypeNode, managers: Managers, manager: str, *,
           ignored: FieldSet | None = None) -> tuple[Any, Managers, Comparison]:
    """Update (PUT/PATCH/create): ``manager`` takes every field it changed or added."""
    validate(live, node)
    validate(new, node)
    out, cmp = _update(live, new, node, dict(managers), manager, force=True, ignored=ignored)
    previous = out.get(manager, Owned(FieldSet(), False)).fields
    mine = previous.union(cmp.modified).union(cmp.added).difference(cmp.removed)
    if ignored is not None:
        mine = mine.recursive_difference(ignored)
    out.pop(manager, None)
    if not mine.empty():
        out[manager] = Owned(mine, False)
    return new, out, cmp


def apply(live: Any, config: Any, node: TypeNode, managers: Managers, manager: str, *, force: bool,
          ignored: FieldSet | None = None) -> tuple[Any, Managers]:
    """Apply: merge ``config`` into ``live``; returns (new object or None if unchanged, managers).

    Raises :class:`Conflicts` unless ``force``; raises ``InvalidObject`` for values off the schema.
    """
    validate(live, node)
    validate(config, node)
    merged = merge_values(live, config, node)
    last = managers.get(manager)
    fields = to_field_set(config, node)
    if ignored is not None:
        fields = fields.recursive_difference(ignored)
    working = dict(managers)
    working[manager] = Owned(fields, True)
    merged = _prune(merged, node, working, last)
    out, cmp = _update(live, merged, node, working, manager, force=force, ignored=ignored)
    return (None if cmp.is_same() else merged), out


def _prune(merged: Any, node: TypeNode, managers: Managers, last: Owned | None) -> Any:
    """Remove what ``last`` applied and nobody (including the new config) owns any more."""
    if last is None or last.fields.empty():
        return merged
    pruned = remove_items(merged, node, ensure_named_fields_are_members(last.fields, node))
    pruned = _add_back_owned(merged, pruned, node, managers)
    return _add_back_dangling(merged, pruned, node, last.fields)


def _add_back_owned(merged: Any, pruned: Any, node: TypeNode, managers: Managers) -> Any:
    managed = FieldSet()
    for owned in managers.values():
        managed = managed.union(owned.fields)
    merged_set = ensure_named_fields_are_members(to_field_set(merged, node), node)
    pruned_set = ensure_named_fields_are_members(to_field_set(pruned, node), node)
    keep = pruned_set.union(ensure_named_fields_are_members(managed, node))
    return remove_items(merged, node, merged_set.difference(keep))


def _add_back_dangling(merged: Any, pruned: Any, node: TypeNode, last: FieldSet) -> Any:
    pruned_set = ensure_named_fields_are_members(to_field_set(pruned, node), node)
    merged_set = ensure_named_fields_are_members(to_field_set(merged, node), node)
    last_set = ensure_named_fields_are_members(last, node)
    return remove_items(merged, node, merged_set.difference(pruned_set).intersection(last_set))
