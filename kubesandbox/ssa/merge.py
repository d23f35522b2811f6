"""Merge, compare and remove walks (ports of SMD v4 ``typed/merge.go`` and ``typed/remove.go``).

:func:`merge_values` is SMD's ``TypedValue.Merge`` (the applied config wins on leaves; list items keep
the live order, new items follow in the config's order); :func:`compare` is ``TypedValue.Compare``
(added, removed and modified field sets); :func:`remove_items` is ``RemoveItems``. Called by
:mod:`.updater`. Inputs must have passed :func:`.typed.validate` first. Key design choice: one walker
class with a ``comparing`` switch, mirroring SMD's merge walker with its two rules, so both walks
share the exact traversal (and its double visit when live and config disagree on a deduced type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesandbox.ssa.schema import ListAtom, MapAtom, atom_of, deduce, handler
from kubesandbox.ssa.typed import ABSENT, item_element
from renderers.k8s.fieldpath import FieldSet, Path, PathElement
from renderers.k8s.schema import TypeNode
from renderers.k8s.values import equals


@dataclass
class Comparison:
    """Fields ``added``, ``removed`` and ``modified`` between two values of one type."""

    added: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)

    def is_same(self) -> bool:
        return self.added.empty() and self.removed.empty() and self.modified.empty()

    def exclude(self, fields: FieldSet) -> Comparison:
        return Comparison(self.added.recursive_difference(fields), self.removed.recursive_difference(fields),
                          self.modified.recursive_difference(fields))


class _Walker:
    def __init__(self, comparing: bool) -> None:
        self.comparing = comparing
        self.result = Comparison()

    def merge(self, lhs: Any, rhs: Any, node: TypeNode | None, path: Path) -> Any:
        atom = atom_of(node)
        left, right = deduce(atom, lhs, ABSENT), deduce(atom, rhs, ABSENT)
        if left != right:
            self._handle(handler(left), node, lhs, rhs, path)
        out, leaf = self._handle(handler(right), node, lhs, rhs, path)
        if not leaf and self.comparing:
            if lhs is ABSENT:
                self.result.added.insert(path)
            elif rhs is ABSENT:
                self.result.removed.insert(path)
        return out

    def _handle(self, part: str | None, node: TypeNode | None, lhs: Any, rhs: Any,
                path: Path) -> tuple[Any, bool]:
        atom = atom_of(node)
        if part == "map":
            return self._map(atom.map, lhs, rhs, path)  # type: ignore[arg-type]
        if part == "list":
            return self._list(atom.list, lhs, rhs, path)  # type: ignore[arg-type]
        return self._leaf(lhs, rhs, path), True

    def _leaf(self, lhs: Any, rhs: Any, path: Path) -> Any:
        if not self.comparing:
            return rhs if rhs is not ABSENT else lhs
        if lhs is ABSENT:
            self.result.added.insert(path)
        elif rhs is ABSENT:
            self.result.removed.insert(path)
        elif not equals(lhs, rhs):
            self.result.modified.insert(path)
        return ABSENT

    def _list(self, lt: ListAtom, lhs: Any, rhs: Any, path: Path) -> tuple[Any, bool]:
        left = lhs if isinstance(lhs, list) else None
        right = rhs if isinstance(rhs, list) else None
        if not lt.associative or (not left and not right):
            return self._leaf(lhs, rhs, path), True
        observed: dict[PathElement, Any] = {}
        order: list[PathElement] = []
        for i, child in enumerate(right or ()):
            pe = item_element(lt, i, child)
            observed[pe] = child
            order.append(pe)
        out: list[Any] = []
        seen: set[PathElement] = set()
        for i, child in enumerate(left or ()):
            pe = item_element(lt, i, child)
            if pe in seen:
                continue
            seen.add(pe)
            merged = self.merge(child, observed.get(pe, ABSENT), lt.element, (*path, pe))
            if merged is not ABSENT:
                out.append(merged)
        for pe in order:
            if pe not in seen:
                merged = self.merge(ABSENT, observed[pe], lt.element, (*path, pe))
                if merged is not ABSENT:
                    out.append(merged)
        return (out if out else ABSENT), False

    def _map(self, mt: MapAtom, lhs: Any, rhs: Any, path: Path) -> tuple[Any, bool]:
        left = lhs if isinstance(lhs, dict) else None
        right = rhs if isinstance(rhs, dict) else None
        if mt.atomic or (not left and not right):
            return self._leaf(lhs, rhs, path), True
        out: dict[str, Any] = {}
        for key in [*(left or ()), *(k for k in (right or ()) if not left or k not in left)]:
            merged = self.merge((left or {}).get(key, ABSENT), (right or {}).get(key, ABSENT),
                                mt.child(key), (*path, PathElement.field(key)))
            if merged is not ABSENT:
                out[key] = merged
        return (out if out else ABSENT), False


def merge_values(live: Any, config: Any, node: TypeNode) -> Any:
    """SMD's ``live.Merge(config)``: the config's values win; nothing is removed."""
    out = _Walker(comparing=False).merge(live, config, node, ())
    return None if out is ABSENT else out


def compare(old: Any, new: Any, node: TypeNode) -> Comparison:
    """SMD's ``old.Compare(new)``: the fields ``new`` added, removed and modified."""
    walker = _Walker(comparing=True)
    walker.merge(old, new, node, ())
    return walker.result


def remove_items(value: Any, node: TypeNode | None, items: FieldSet) -> Any:
    """SMD's ``RemoveItems``: drop every listed field or list item (empty containers become null)."""
    atom = atom_of(node)
    part = handler(deduce(atom, value, ABSENT))
    if part == "list":
        lt: ListAtom = atom.list  # type: ignore[assignment]
        if not isinstance(value, list) or not value or not lt.associative:
            return None
        kept = []
        for i, item in enumerate(value):
            pe = item_element(lt, i, item)
            if items.has((pe,)):
                continue
            sub = items.children.get(pe)
            kept.append(remove_items(item, lt.element, sub) if sub is not None and not sub.empty() else item)
        return kept or None
    if part == "map":
        mt: MapAtom = atom.map  # type: ignore[assignment]
        if not isinstance(value, dict) or not value or mt.atomic:
            return None
        out = {}
        for key, child in value.items():
            pe = PathElement.field(key)
            if pe in items.members:
                continue
            sub = items.children.get(pe)
            out[key] = child if sub is None or sub.empty() else remove_items(child, mt.child(key), sub)
        return out or None
    return value
