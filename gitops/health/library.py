"""The library of health rules for common operators, shipped as data (``gitops/health/rules/*.yaml``).

Called by :mod:`gitops.health` (the default :class:`~gitops.health.cel.Rules` of ``assess``) and by
:func:`rules_for`, which puts an application's own rules (``domain.Application.health_checks``) in
front. The files are package data read once per process; each holds ``rules:``, a list of entries with
``name``, ``group`` and ``kind`` (globs), an optional ``when`` (the object's shape), the expressions
``suspended``, ``inProgress``, ``failed``, ``current`` and an optional ``message`` (a CEL string quoted
in the health message). A broken library file is a bug of this package: the tests compile every rule,
and a rule that does not compile judges its objects Unknown instead of stopping the engine.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Final

from gitops.domain import HealthCheck
from gitops.health.cel import FIELDS, Rule, Rules, make_rule, user_rule
from renderers.yamlio import load

KEYS: Final = frozenset({"name", "group", "kind", "when", "message", *FIELDS})


def _rule(entry: Any, source: str) -> Rule:
    if not isinstance(entry, dict) or not set(entry) <= KEYS or not {"name", "group", "kind"} <= set(entry):
        raise ValueError(f"{source}: a rule needs name, group and kind and may have only {sorted(KEYS)}")
    texts = {f: str(entry[f]) for f in FIELDS if entry.get(f)}
    return make_rule(str(entry["name"]), str(entry["group"]), str(entry["kind"]), texts,
                     when=entry.get("when"), message=entry.get("message"))


def parse(text: str, source: str) -> tuple[Rule, ...]:
    """The rules of one library file."""
    doc = load(text, source)
    entries = doc.get("rules") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a mapping with a list 'rules'")
    return tuple(_rule(e, source) for e in entries)


@functools.cache
def library() -> Rules:
    """The shipped rules, files in name order (a glob rule of an earlier file is tried first)."""
    folder = resources.files("gitops.health").joinpath("rules")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return Rules((), tuple(r for f in files for r in parse(f.read_text(encoding="utf-8"), f.name)))


@functools.lru_cache(maxsize=256)
def rules_for(health_checks: tuple[HealthCheck, ...]) -> Rules:
    """An application's rules (its ``healthCheckExprs``, compiled once per tuple) before the library's."""
    user = tuple(user_rule(h.api_version, h.kind, h.current, h.in_progress, h.failed) for h in health_checks)
    return Rules(user, library().library)
