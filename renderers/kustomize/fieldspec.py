"""Field specs: "this path in objects of this kind" — how Kustomize says where a transformer writes.

Callers: the label, annotation, namespace, prefix/suffix, name-reference, replica, image and vars
transformers. A path is ``/``-separated (``\\/`` escapes a slash inside a key, ``name[]`` marks a list);
lists met on the way are walked element by element. Design choice: the walker hands the *parent map
and key* to a callback, so one walker serves scalar, map and list targets alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from renderers.kustomize.errors import fail
from renderers.kustomize.resource import Gvk, Resource

ANY_GVK = Gvk()
Setter = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class FieldSpec:
    path: str
    gvk: Gvk = ANY_GVK
    create: bool = False

    @classmethod
    def parse(cls, raw: Any, source: object = None) -> FieldSpec:
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
            raise fail("a field spec needs a 'path'", source, "fieldSpecs")
        return cls(raw["path"], Gvk(str(raw.get("group") or ""), str(raw.get("version") or ""),
                                    str(raw.get("kind") or "")), bool(raw.get("create", False)))

    def applies_to(self, res: Resource) -> bool:
        return res.gvk.selected_by(self.gvk)


def parse_all(raw: Any, source: object = None) -> list[FieldSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise fail("field specs must be a list", source, "fieldSpecs")
    return [FieldSpec.parse(r, source) for r in raw]


def split_path(path: str) -> Sequence[str]:
    return _split_path(path)


@lru_cache(maxsize=4096)
def _split_path(path: str) -> tuple[str, ...]:
    parts, cur, i = [], "", 0
    while i < len(path):
        if path[i] == "\\" and i + 1 < len(path) and path[i + 1] == "/":
            cur += "/"
            i += 2
            continue
        if path[i] == "/":
            parts.append(cur)
            cur = ""
        else:
            cur += path[i]
        i += 1
    parts.append(cur)
    return tuple(p for p in parts if p)


def walk(node: Any, parts: Sequence[str], create: bool, setter: Setter, where: str = "") -> None:
    """Call ``setter(parent, key)`` for every field the path reaches (creating maps when asked)."""
    if not parts:
        return
    if isinstance(node, list):
        for elem in node:
            walk(elem, parts, create, setter, where)
        return
    if node is None:
        return
    if not isinstance(node, dict):
        raise fail(f"expected sequence or mapping node at '{where}'", field=where)
    key = parts[0][:-2] if parts[0].endswith("[]") else parts[0]
    if len(parts) == 1:
        if key in node or create:
            setter(node, key)
        return
    child = node.get(key)
    if child is None:
        if not create or parts[0].endswith("[]"):
            return
        child = {}
        node[key] = child
    walk(child, parts[1:], create, setter, f"{where}/{key}" if where else key)


def apply(res: Resource, specs: Iterable[FieldSpec], setter: Setter) -> None:
    for spec in specs:
        if spec.applies_to(res):
            walk(res.obj, split_path(spec.path), spec.create, setter, "")


def dedupe(specs: Iterable[FieldSpec]) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for spec in specs:
        if not any(s.path == spec.path and s.gvk == spec.gvk for s in out):
            out.append(spec)
    return out
