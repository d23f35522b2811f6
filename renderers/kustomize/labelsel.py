"""Kubernetes label-selector strings (``a=b,c!=d,e in (x,y),!f``) evaluated against a map.

Callers: target selectors of patches and replacements (label and annotation selectors).
"""

from __future__ import annotations

import re
from typing import Any

from renderers.kustomize.errors import fail

_SET = re.compile(r"^\s*(!?)([^\s!=(),]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


def _split(selector: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def matches(selector: str, labels: dict[str, Any]) -> bool:
    values = {str(k): str(v) for k, v in labels.items()}
    for term in _split(selector):
        eq = _EQ.match(term)
        if eq:
            key, op, val = eq.groups()
            if (values.get(key) == val) != (op != "!="):
                return False
            continue
        st = _SET.match(term)
        if not st:
            raise fail(f"unable to parse requirement: {term.strip()!r}", field="labelSelector")
        neg, key, op, items = st.groups()
        if op:
            options = {i.strip() for i in items.split(",")}
            if (key in values and values[key] in options) != (op == "in"):
                return False
        elif (key in values) == bool(neg):
            return False
    return True
