"""Label and field selectors for LIST and WATCH, parsed once per request.

Grammar and semantics follow "Labels and Selectors" in the Kubernetes docs: equality-based
(``=``, ``==``, ``!=``) and set-based (``in``, ``notin``, ``key``, ``!key``) requirements joined by
commas, all of which must hold. ``!=`` and ``notin`` match objects without the label. Field selectors
support ``metadata.name`` and ``metadata.namespace`` (the fields every kind supports); anything else
is a 400 BadRequest like kube-apiserver's "field label not supported".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gitops.sandbox.status import ApiError, bad_request

Predicate = Callable[[Mapping[str, str]], bool]

_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]{0,252}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^()]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Predicate:
    if m := _SET.match(text):
        key, op = m.group(1), m.group(3)
        values = {v.strip() for v in m.group(4).split(",") if v.strip()}
        if not all(re.fullmatch(_VALUE, v) for v in values) or not values:
            raise bad_request(f"unable to parse requirement: invalid values in {text.strip()!r}")
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(text):
        key, op, value = m.group(1), m.group(3), m.group(4)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(text):
        negate, key = m.group(1) == "!", m.group(2)
        return (lambda labels: key not in labels) if negate else (lambda labels: key in labels)
    raise bad_request(f"unable to parse requirement: {text.strip()!r} is not a valid label selector")


def label_selector(text: str | None) -> Predicate | None:
    """A predicate over an object's labels; None when the selector is empty (matches everything)."""
    if not text or not text.strip():
        return None
    if len(text) > 10_000:
        raise bad_request("label selector too long")
    preds = [_requirement(part) for part in _split(text)]
    return lambda labels: all(p(labels) for p in preds)


_FIELDS = {"metadata.name": "name", "metadata.namespace": "namespace"}


def field_selector(text: str | None) -> Callable[[Mapping[str, Any]], bool] | None:
    """A predicate over an object's metadata for ``metadata.name`` / ``metadata.namespace`` terms."""
    if not text or not text.strip():
        return None
    if len(text) > 10_000:
        raise bad_request("field selector too long")
    terms: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        op = next((o for o in ("!=", "==", "=") if o in part), None)  # no regex: no backtracking
        if op is None:
            raise bad_request(f"invalid field selector: {part[:100]!r}")
        key, _, value = part.partition(op)
        key = key.strip()
        if key not in _FIELDS:
            raise ApiError(400, "BadRequest", f"field label not supported: {key[:100]}")
        terms.append((_FIELDS[key], op == "!=", value.strip()))

    def match(meta: Mapping[str, Any]) -> bool:
        return all((meta.get(k, "") == v) != neg for k, neg, v in terms)
    return match
