"""Kubernetes label-selector strings, parsed into a predicate over a label map.

Grammar and semantics follow "Labels and Selectors" in the Kubernetes docs (the parser apimachinery
uses for ``kubectl -l``, LIST ``labelSelector`` and Kustomize's patch targets): equality-based
(``=``, ``==``, ``!=``) and set-based (``in``, ``notin``, ``key``, ``!key``) requirements joined by
commas, all of which must hold; ``!=`` and ``notin`` match objects without the label. Callers: the
kustomize target selectors and the sandbox API server's LIST/WATCH; each turns :class:`SelectorError`
into its own error type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Predicate = Callable[[Mapping[str, str]], bool]
MAX_LENGTH = 10_000

_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]{0,252}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    """The selector text does not parse; the message quotes the requirement."""


def split_terms(text: str) -> list[str]:
    """Comma-separated requirements, commas inside ``( )`` kept."""
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
        if not values or not all(re.fullmatch(_VALUE, v) for v in values):
            raise SelectorError(f"unable to parse requirement: invalid values in {text.strip()!r}")
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
    raise SelectorError(f"unable to parse requirement: {text.strip()[:200]!r} is not a valid label selector")


def parse(text: str | None) -> Predicate | None:
    """A predicate over a label map; None when the selector is empty (it matches everything)."""
    if not text or not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise SelectorError("label selector too long")
    predicates = [_requirement(term) for term in split_terms(text)]
    return lambda labels: all(p(labels) for p in predicates)


def matches(text: str, labels: Mapping[str, object]) -> bool:
    """Whether ``labels`` satisfy the selector ``text``."""
    predicate = parse(text)
    return predicate is None or predicate({str(k): str(v) for k, v in labels.items()})
