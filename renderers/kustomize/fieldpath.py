"""Dotted field paths of ``replacements`` and ``vars`` (``spec.containers.[name=app].image``).

Callers: :mod:`renderers.kustomize.replacements` and :mod:`renderers.kustomize.vars`. Segments are
map keys, ``[key=value]`` list-element matchers, ``[=value]`` scalar-element matchers, list indexes
and ``*`` (every element). Dots inside brackets do not split; ``a[0]`` is ``a.0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renderers.kustomize.errors import fail


def split(path: str) -> list[str]:
    parts, cur, depth = [], "", 0
    for ch in path:
        if ch == "[":
            if depth == 0 and cur:
                parts.append(cur)
                cur = ""
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    out = []
    for part in (p for p in parts if p != ""):
        if part.startswith("[") and part.endswith("]") and "=" not in part:
            out.append(part[1:-1])
        else:
            out.append(part)
    return out


def _match(elem: Any, seg: str) -> bool:
    key, _, want = seg[1:-1].partition("=")
    if key == "":
        return _text(elem) == want
    return isinstance(elem, dict) and key in elem and _text(elem[key]) == want


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


Visit = Callable[[Any, Any], None]


def visit(node: Any, parts: list[str], create: bool, fn: Visit) -> int:
    """Call ``fn(container, key)`` at every place the path reaches; returns how many were reached."""
    if not parts:
        return 0
    seg, rest = parts[0], parts[1:]
    targets: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        if seg.startswith("[") and "=" in seg:
            return 0
        if seg == "*":
            targets = [(node, k) for k in node]
        elif seg in node:
            targets = [(node, seg)]
        elif create:
            if rest:
                node[seg] = [] if rest[0].startswith("[") else {}
            targets = [(node, seg)]
    elif isinstance(node, list):
        if seg == "*" or seg == "-":
            targets = [(node, i) for i in range(len(node))]
        elif seg.startswith("[") and "=" in seg:
            targets = [(node, i) for i, e in enumerate(node) if _match(e, seg)]
            if not targets and create and not seg.startswith("[="):
                key, _, want = seg[1:-1].partition("=")
                node.append({key: want})
                targets = [(node, len(node) - 1)]
        elif seg.isdigit():
            if int(seg) < len(node):
                targets = [(node, int(seg))]
        else:
            raise fail(f"cannot find field '{seg}' in a list (use [key=value] or an index)", field=seg)
    if not rest:
        for container, key in targets:
            fn(container, key)
        return len(targets)
    return sum(visit(container[key], rest, create, fn) for container, key in targets)


def get(node: Any, path: str) -> list[Any]:
    found: list[Any] = []
    visit(node, split(path), False, lambda c, k: found.append(c[k]))
    return found
