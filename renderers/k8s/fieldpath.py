"""Field paths and field sets: the vocabulary of ownership (SMD's ``fieldpath`` package).

A path element is a field name (``.spec``), an associative-list key (``[name="nginx"]``), a set value
(``[="a"]``) or a list index (``[0]``). A :class:`FieldSet` is a tree of members (owned nodes) and
children (nodes with owned descendants), exactly like SMD's ``fieldpath.Set``. The one implementation
shared by the engine (drift attribution and ignore rules, ``gitops.plan``; the fake cluster) and the
sandbox (its server-side apply walkers, updater and field manager, ``kubesandbox.ssa``); the FieldsV1
codec is :mod:`renderers.k8s.fieldsv1`. :func:`remove` deletes the field a path names from an object.

Key design choice: a :class:`PathElement` carries a precomputed sort key that reproduces SMD's
``PathElement.Compare``; equality and hashing use it, so ``1`` and ``1.0`` are the same key as in Go,
and sorted iteration yields SMD's order (which FieldsV1 encoding and conflict lists rely on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from renderers.k8s.values import Key, equals, go_json, go_json_string, order_key, to_string

FIELD, KEY, VALUE, INDEX = "f", "k", "v", "i"
_RANK = {FIELD: 0, KEY: 1, VALUE: 2, INDEX: 3}


class PathElement:
    """One step of a field path; immutable, hashable, ordered as SMD orders them."""

    __slots__ = ("_hash", "kind", "payload", "sort_key")

    kind: str
    payload: Any
    sort_key: Key
    _hash: int

    def __init__(self, kind: str, payload: Any) -> None:
        if kind == FIELD:
            skey: Key = (0, payload)
        elif kind == KEY:
            payload = tuple(sorted(payload, key=lambda kv: kv[0]))
            skey = (1, tuple((name, order_key(v)) for name, v in payload))
        elif kind == VALUE:
            skey = (2, order_key(payload))
        elif kind == INDEX:
            skey = (3, payload)
        else:
            raise ValueError(f"unknown path element kind {kind!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "sort_key", skey)
        object.__setattr__(self, "_hash", hash(skey))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PathElement is immutable")

    @classmethod
    def field(cls, name: str) -> PathElement:
        return cls(FIELD, name)

    @classmethod
    def key(cls, fields: dict[str, Any]) -> PathElement:
        return cls(KEY, tuple(fields.items()))

    @classmethod
    def value(cls, v: Any) -> PathElement:
        return cls(VALUE, v)

    @classmethod
    def index(cls, i: int) -> PathElement:
        return cls(INDEX, i)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self.sort_key == other.sort_key

    def __lt__(self, other: PathElement) -> bool:
        return self.sort_key < other.sort_key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"PathElement({self.serialize()})"

    def __str__(self) -> str:
        """The element as SMD prints it in paths and conflict messages."""
        if self.kind == FIELD:
            return "." + str(self.payload)
        if self.kind == KEY:
            return "[" + ",".join(f"{name}={to_string(v)}" for name, v in self.payload) + "]"
        if self.kind == VALUE:
            return f"[={to_string(self.payload)}]"
        return f"[{self.payload}]"

    def serialize(self) -> str:
        """The element as a FieldsV1 key: ``f:name``, ``k:{...}``, ``v:...`` or ``i:N``."""
        if self.kind == FIELD:
            return "f:" + str(self.payload)
        if self.kind == KEY:
            body = ",".join(f"{go_json_string(name)}:{go_json(v)}" for name, v in self.payload)
            return "k:{" + body + "}"
        if self.kind == VALUE:
            return "v:" + go_json(self.payload)
        return f"i:{self.payload}"


Path = tuple[PathElement, ...]


def path_string(path: Path) -> str:
    """A path as Kubernetes prints it: ``.spec.template.spec.containers[name="nginx"].image``."""
    return "".join(str(pe) for pe in path)


def make_path(*parts: str | int | PathElement) -> Path:
    """Build a path from field names, indexes and ready elements (tests and constant sets)."""
    out: list[PathElement] = []
    for part in parts:
        if isinstance(part, PathElement):
            out.append(part)
        elif isinstance(part, int):
            out.append(PathElement.index(part))
        else:
            out.append(PathElement.field(part))
    return tuple(out)


class FieldSet:
    """A set of field paths stored as a tree (members owned here, children owned below).

    Operations return new sets and never share mutable state with their operands' callers, except
    that unchanged child subtrees may be shared (they are never mutated after construction outside
    :meth:`insert`, which only the builder of a fresh set calls).
    """

    __slots__ = ("children", "members")

    def __init__(self, members: set[PathElement] | None = None,
                 children: dict[PathElement, FieldSet] | None = None) -> None:
        self.members: set[PathElement] = members if members is not None else set()
        self.children: dict[PathElement, FieldSet] = children if children is not None else {}

    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        s = cls()
        for p in paths:
            s.insert(p)
        return s

    def insert(self, path: Path) -> None:
        """Add one path (the empty path is ignored, as in SMD)."""
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def copy(self) -> FieldSet:
        return FieldSet(set(self.members), {pe: c.copy() for pe, c in self.children.items()})

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node is not None else None
        return bool(path) and node is not None and path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def union(self, other: FieldSet) -> FieldSet:
        children = dict(self.children)
        for pe, c in other.children.items():
            mine = children.get(pe)
            children[pe] = c if mine is None else mine.union(c)
        return FieldSet(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        children = {}
        for pe, c in self.children.items():
            theirs = other.children.get(pe)
            if theirs is not None:
                both = c.intersection(theirs)
                if not both.empty():
                    children[pe] = both
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        children = {}
        for pe, c in self.children.items():
            theirs = other.children.get(pe)
            rest = c if theirs is None else c.difference(theirs)
            if not rest.empty():
                children[pe] = rest
        return FieldSet(self.members - other.members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``other`` also removes everything below it."""
        children = {}
        for pe, c in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            rest = c if theirs is None else c.recursive_difference(theirs)
            if not rest.empty():
                children[pe] = rest
        return FieldSet(self.members - other.members, children)

    def leaves(self) -> FieldSet:
        """Only the members that have no children (the deepest owned nodes)."""
        return FieldSet({m for m in self.members if m not in self.children},
                        {pe: c.leaves() for pe, c in self.children.items()})

    def map_children(self, fn: Callable[[PathElement, FieldSet], FieldSet]) -> FieldSet:
        return FieldSet(set(self.members), {pe: fn(pe, c) for pe, c in self.children.items()})

    def __iter__(self) -> Iterator[Path]:
        """Every path, in SMD's iteration order (members first, then children, each sorted)."""
        yield from self._iterate(())

    def _iterate(self, prefix: Path) -> Iterator[Path]:
        for pe in sorted(self.members):
            yield (*prefix, pe)
        for pe in sorted(self.children):
            yield from self.children[pe]._iterate((*prefix, pe))

    def paths(self) -> list[Path]:
        return list(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        mine = {pe: c for pe, c in self.children.items() if not c.empty()}
        theirs = {pe: c for pe, c in other.children.items() if not c.empty()}
        return self.members == other.members and mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self) + ")"


def _matches(element: Any, pe: PathElement) -> bool:
    if pe.kind == KEY:
        return isinstance(element, dict) and all(
            name in element and equals(element[name], value) for name, value in pe.payload)
    return pe.kind == VALUE and equals(element, pe.payload)


def remove(obj: Any, path: Path) -> bool:
    """Delete the field ``path`` names from ``obj`` in place; ``True`` when something was removed.

    A keyed element (``[name="web"]``) or a set value (``[="a"]``) is the first list element that
    matches it; a path that does not exist in ``obj`` removes nothing."""
    if not path:
        return False
    head, rest = path[0], path[1:]
    if head.kind == FIELD and isinstance(obj, dict) and head.payload in obj:
        if not rest:
            del obj[head.payload]
            return True
        return remove(obj[head.payload], rest)
    if head.kind in (KEY, VALUE) and isinstance(obj, list):
        for i, element in enumerate(obj):
            if _matches(element, head):
                if not rest:
                    del obj[i]
                    return True
                return remove(element, rest)
    if head.kind == INDEX and isinstance(obj, list) and 0 <= head.payload < len(obj):
        if not rest:
            del obj[head.payload]
            return True
        return remove(obj[head.payload], rest)
    return False
