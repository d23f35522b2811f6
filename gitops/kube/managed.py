"""A small reader of ``metadata.managedFields`` (the FieldsV1 format): who owns which field.

Used by diff.py to attribute drift ("who changed it": the manager owning the live value) and by
apply.py to drop fields that ignore rules leave to another manager (an HPA owning
``.spec.replicas``). We decode FieldsV1 ourselves rather than borrowing the sandbox's SSA code: the
format is tiny and the engine must read real clusters' objects without the sandbox.

A path is a tuple of FieldsV1 tokens: ``f:<field>``, ``k:<json of key fields>`` (an element of a
list keyed by merge keys), ``v:<json value>`` (an element of a set) and ``i:<index>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Path = tuple[str, ...]
_MAX_DEPTH = 64


def decode(fields_v1: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """Every path a FieldsV1 set names (leaves, plus the parents marked with ``.``)."""
    out: set[Path] = set()
    if len(prefix) > _MAX_DEPTH:
        return out
    for token, sub in fields_v1.items():
        if token == ".":
            out.add(prefix)
            continue
        path = (*prefix, token)
        if isinstance(sub, Mapping) and sub:
            out |= decode(sub, path)
        else:
            out.add(path)
    return out


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


def key_token(fields: Mapping[str, Any]) -> str:
    """The ``k:`` token of a keyed list element, spelled as the API server spells it."""
    return "k:" + json.dumps(dict(sorted(fields.items())), separators=(",", ":"))


def display(path: Path) -> str:
    """``.spec.containers[name="web"].image`` for a token path."""
    parts: list[str] = []
    for token in path:
        kind, _, rest = token.partition(":")
        if kind == "f":
            parts.append(f".{rest}")
        elif kind == "k":
            try:
                keys = json.loads(rest)
                parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
            except (ValueError, AttributeError):
                parts.append(f"[{rest}]")
        elif kind == "v":
            parts.append(f"[={rest}]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts) or "."


def _matches(element: Any, token: str) -> bool:
    kind, _, rest = token.partition(":")
    try:
        value = json.loads(rest)
    except ValueError:
        return False
    if kind == "k":
        return isinstance(element, dict) and isinstance(value, dict) and all(
            element.get(k) == v for k, v in value.items())
    return kind == "v" and element == value


def remove(obj: Any, path: Path) -> bool:
    """Delete the field ``path`` names from ``obj`` in place; ``True`` when something was removed."""
    if not path:
        return False
    head, rest = path[0], path[1:]
    kind, _, name = head.partition(":")
    if kind == "f" and isinstance(obj, dict) and name in obj:
        if not rest:
            del obj[name]
            return True
        return remove(obj[name], rest)
    if kind in ("k", "v") and isinstance(obj, list):
        for i, element in enumerate(obj):
            if _matches(element, head):
                if not rest:
                    del obj[i]
                    return True
                return remove(element, rest)
    if kind == "i" and isinstance(obj, list) and name.isdigit() and int(name) < len(obj):
        if not rest:
            del obj[int(name)]
            return True
        return remove(obj[int(name)], rest)
    return False
