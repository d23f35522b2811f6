"""Request counters and fault injection of the sandbox, for tests and benchmarks.

The HTTP handler records every request in :class:`Stats` (verb as the Kubernetes audit log names it:
get, list, watch, create, update, patch, delete, plus ``discovery`` for discovery documents) and asks
:class:`Faults` whether to fail it first. Both are thread-safe and cheap (one small lock each).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class RequestRecord:
    verb: str
    kind: str  # Kind, e.g. "Deployment" ("" for discovery)
    plural: str  # e.g. "deployments"


class Stats:
    """How many requests the sandbox served, by verb and resource."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[RequestRecord] = Counter()

    def record(self, verb: str, kind: str = "", plural: str = "") -> None:
        with self._lock:
            self._counts[RequestRecord(verb, kind, plural)] += 1

    def count(self, verb: str | None = None, kind: str | None = None, write: bool | None = None) -> int:
        """Requests matching every given filter; ``kind`` matches the Kind or the plural resource name."""
        with self._lock:
            items = list(self._counts.items())
        return sum(n for rec, n in items
                   if (verb is None or rec.verb == verb)
                   and (kind is None or kind in (rec.kind, rec.plural))
                   and (write is None or (rec.verb in WRITE_VERBS) == write))

    def snapshot(self) -> dict[str, int]:
        """``{"verb kind": count}`` for reports."""
        with self._lock:
            return {f"{r.verb} {r.kind}".strip(): n for r, n in sorted(
                self._counts.items(), key=lambda kv: (kv[0].verb, kv[0].kind))}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class FaultRule:
    """Fail (or slow down, or cut short) matching requests.

    ``verb`` matches the recorded verb (None: any); ``path_regex`` is searched in the request path
    including the query string. ``status`` (e.g. 429, 500, 409) answers with a Status of that code;
    None means no error (useful with ``delay`` or ``drop_watch``). ``times`` is how many requests it
    hits (None: unlimited). ``retry_after`` sets the Retry-After header; ``delay`` sleeps before
    answering; ``drop_watch`` ends a matching watch stream right after its headers.
    """

    verb: str | None = None
    path_regex: str | None = None
    status: int | None = None
    times: int | None = 1
    retry_after: float | None = None
    delay: float = 0.0
    drop_watch: bool = False
    hits: int = field(default=0, compare=False)

    def matches(self, verb: str, path: str) -> bool:
        if self.verb is not None and self.verb != verb:
            return False
        return self.path_regex is None or re.search(self.path_regex, path) is not None


class Faults:
    """The active fault rules; the first matching rule with hits left applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, verb: str, path: str) -> FaultRule | None:
        """The rule to apply to this request (its hit counted), or None."""
        with self._lock:
            if not self._rules:
                return None
            for rule in self._rules:
                if rule.matches(verb, path) and (rule.times is None or rule.hits < rule.times):
                    rule.hits += 1
                    return rule
        return None
