"""What the dashboard's pages show, computed from the fleet and the state's answers: plain functions.

Called by :mod:`web.dashboard.pages` and :mod:`web.dashboard.actions` (the routes), which pass in what
they read (``ctx.state``, ``ctx.fleet()``, the principal, the query parameters); nothing here touches a
request, a response or a template. Key design choice: every page is bounded by what it shows, never by
the fleet: the overview asks the target index for one page (:class:`TargetQuery`) and its counts, and
the matrix is built from that page's rows only, so a 10,000-target fleet renders as fast and as small
as a 50-target one. Webhook deliveries (``ctx.deliveries``, typed loosely on the context) are read
defensively (``getattr`` with a default), so a record of another shape never breaks the page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlencode

from gitops.domain import Fleet
from gitops.state.index import DEFAULT_PAGE, SortKey, TargetQuery
from gitops.state.model import DriftRecord, Operation, TargetStatus
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus
from renderers.k8s import labels as selectors

PAGE_SIZES = (25, 50, 100, 200)
MAX_BACK = 100          # previous-page cursors kept in the query string
MAX_CURSOR = 512
MAX_TEXT_FILTER = 200
MAX_SELECTOR = 1000


class Params(Protocol):
    """Query parameters (starlette's ``request.query_params``)."""

    def get(self, key: str, /) -> str | None: ...

    def getlist(self, key: str, /) -> list[str]: ...


# -- small formatting helpers (also Jinja filters) -------------------------------------------------

def ago(epoch: float | None, now: float) -> str:
    """``epoch`` relative to ``now``: "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for 0."""
    if not epoch or not math.isfinite(epoch):
        return "never"
    delta = now - epoch
    future = delta < 0
    delta = abs(delta)
    if delta < 60:
        text = f"{int(delta)} s"
    elif delta < 3600:
        text = f"{int(delta // 60)} min"
    elif delta < 86400:
        text = f"{int(delta // 3600)} h"
    else:
        text = f"{int(delta // 86400)} d"
    return f"in {text}" if future else f"{text} ago"


def iso(epoch: float | None) -> str:
    """``epoch`` as an ISO 8601 UTC time (seconds), "" when unknown."""
    if not epoch or not math.isfinite(epoch):
        return ""
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return ""


def duration(seconds: float | None) -> str:
    """A duration for people: "340 ms", "4.2 s", "3 min 5 s"; "" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


def short_revision(revision: str | None) -> str:
    return (revision or "")[:7]


def token(value: object) -> str:
    """A CSS class fragment from a status word: lowercase letters, digits and '-' only."""
    text = str(value).lower()
    kept = "".join(c if c.isalnum() and c.isascii() else "-" for c in text).strip("-")
    return kept[:32] or "unknown"


def pretty_value(text: str) -> str:
    """A drift value (JSON text) indented when it is an object or a list; as stored otherwise."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, sort_keys=True)
    return text


def query_string(params: Iterable[tuple[str, str]]) -> str:
    pairs = [(k, v) for k, v in params if v != ""]
    return "?" + urlencode(pairs) if pairs else ""


def select_names(selector: str, labelled: Mapping[str, Mapping[str, str]]) -> frozenset[str]:
    """The names whose labels match a Kubernetes label selector (``env=prod,tier in (web,api)``);
    ValueError naming the requirement that does not parse."""
    if len(selector) > MAX_SELECTOR:
        raise ValueError(f"label selector too long (at most {MAX_SELECTOR} characters)")
    predicate = selectors.parse(selector)  # SelectorError is a ValueError
    if predicate is None:
        return frozenset(labelled)
    return frozenset(name for name, found in labelled.items() if predicate(dict(found)))


# -- the overview's filters, sort and paging -------------------------------------------------------

def _choice(values: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    known = list(allowed)
    return tuple(dict.fromkeys(v for v in values if v in known))


def _cursor(value: str | None) -> str:
    if not value or len(value) > MAX_CURSOR or not value.isprintable():
        return ""
    return value


@dataclass(frozen=True)
class TargetFilters:
    """The overview's (and a cluster page's) GET form: filters, sort, view, page size and the cursor
    with the stack of previous pages' cursors (``back``: "" stands for the first page)."""

    sync: tuple[str, ...] = ()
    health: tuple[str, ...] = ()
    cluster: str = ""
    cluster_label: str = ""
    app_label: str = ""
    text: str = ""
    revision: str = ""
    drifted: bool = False
    failed: bool = False
    sort: SortKey = SortKey.NAME
    descending: bool = False
    view: str = "matrix"
    limit: int = DEFAULT_PAGE
    cursor: str = ""
    back: tuple[str, ...] = ()

    @staticmethod
    def parse(params: Params, *, default_view: str = "matrix") -> TargetFilters:
        sort_text = params.get("sort") or SortKey.NAME.value
        sort = SortKey(sort_text) if sort_text in SortKey._value2member_map_ else SortKey.NAME
        view = params.get("view") or default_view
        try:
            limit = int(params.get("limit") or DEFAULT_PAGE)
        except ValueError:
            limit = DEFAULT_PAGE
        return TargetFilters(
            sync=_choice(params.getlist("sync"), (s.value for s in SyncStatus)),
            health=_choice(params.getlist("health"), (h.value for h in HealthStatus)),
            cluster=(params.get("cluster") or "").strip()[:253],
            cluster_label=(params.get("cluster_label") or "").strip()[:MAX_SELECTOR],
            app_label=(params.get("app_label") or "").strip()[:MAX_SELECTOR],
            text=(params.get("q") or "").strip()[:MAX_TEXT_FILTER],
            revision=(params.get("revision") or "").strip()[:64],
            drifted=params.get("drifted") == "1", failed=params.get("failed") == "1",
            sort=sort, descending=params.get("desc") == "1",
            view=view if view in ("matrix", "list") else default_view,
            limit=limit if limit in PAGE_SIZES else DEFAULT_PAGE,
            cursor=_cursor(params.get("cursor")),
            back=tuple("" if c == "-" else _cursor(c) for c in params.getlist("back"))[-MAX_BACK:])

    @property
    def active(self) -> bool:
        """Whether any filter narrows the targets (the page says "matching" then)."""
        return bool(self.sync or self.health or self.cluster or self.cluster_label or self.app_label
                    or self.text or self.revision or self.drifted or self.failed)

    def params(self, *, paging: bool = True) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = [("view", self.view if self.view != "matrix" else "")]
        pairs += [("sync", s) for s in self.sync] + [("health", h) for h in self.health]
        pairs += [("cluster", self.cluster), ("cluster_label", self.cluster_label),
                  ("app_label", self.app_label), ("q", self.text), ("revision", self.revision),
                  ("drifted", "1" if self.drifted else ""), ("failed", "1" if self.failed else ""),
                  ("sort", self.sort.value if self.sort is not SortKey.NAME else ""),
                  ("desc", "1" if self.descending else ""),
                  ("limit", str(self.limit) if self.limit != DEFAULT_PAGE else "")]
        if paging:
            pairs.append(("cursor", self.cursor))
            # kept even when empty: "" is the first page's cursor in the stack
            pairs += [("back", c or "-") for c in self.back]
        return pairs

    def link(self, path: str, *, paging: bool = False, **changes: object) -> str:
        """``path`` with these filters, ``changes`` applied (paging dropped unless asked)."""
        changed = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        return path + query_string(changed.params(paging=paging))

    def sort_link(self, path: str, key: str) -> str:
        """The link of a column header: sort by ``key``; the same column again flips the order."""
        chosen = SortKey(key)
        descending = not self.descending if chosen is self.sort else chosen is SortKey.RECONCILED
        return self.link(path, sort=chosen, descending=descending)

    def toggle_link(self, path: str, name: str, value: str) -> str:
        """A status badge's link: add ``value`` to (or remove it from) the ``name`` filter (``sync`` or
        ``health``)."""
        current: tuple[str, ...] = getattr(self, name)
        chosen = tuple(v for v in current if v != value) if value in current else (*current, value)
        changed = replace(self, sync=chosen) if name == "sync" else replace(self, health=chosen)
        return changed.link(path)

    def next_link(self, path: str, next_cursor: str | None) -> str | None:
        if not next_cursor:
            return None
        return self.link(path, paging=True, cursor=next_cursor, back=(*self.back, self.cursor)[-MAX_BACK:])

    def previous_link(self, path: str) -> str | None:
        if not self.cursor:
            return None
        if not self.back:
            return self.link(path)
        return self.link(path, paging=True, cursor=self.back[-1], back=self.back[:-1])


@dataclass(frozen=True)
class Resolved:
    """A :class:`TargetQuery`, or why nothing can match (``empty``), with messages for the form."""

    query: TargetQuery
    empty: bool = False
    errors: tuple[str, ...] = ()


def _intersect(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    return a if b is None else a & b


def resolve(filters: TargetFilters, fleet: Fleet, visible: frozenset[str] | None, *,
            cluster: str | None = None) -> Resolved:
    """The index query of ``filters``: label selectors resolved against the fleet into name sets,
    narrowed to what the principal may see (``visible``) and to ``cluster`` (a cluster page)."""
    errors: list[str] = []
    clusters: frozenset[str] | None = None
    applications = visible
    if cluster is not None:
        clusters = frozenset({cluster})
    elif filters.cluster:
        clusters = frozenset({filters.cluster})
    if cluster is None and filters.cluster_label:
        try:
            clusters = _intersect(clusters, select_names(
                filters.cluster_label, {n: c.labels for n, c in fleet.clusters.items()}))
        except ValueError as exc:
            errors.append(f"cluster labels: {exc}")
    if filters.app_label:
        try:
            applications = _intersect(applications, select_names(
                filters.app_label, {n: a.labels for n, a in fleet.applications.items()}))
        except ValueError as exc:
            errors.append(f"application labels: {exc}")
    revision = filters.revision.lower() or None
    if revision is not None and (len(revision) < 4 or any(c not in "0123456789abcdef" for c in revision)):
        errors.append("revision: at least 4 hexadecimal characters of a commit id")
        revision = None
    query = TargetQuery(
        sync=frozenset(SyncStatus(s) for s in filters.sync),
        health=frozenset(HealthStatus(h) for h in filters.health),
        clusters=clusters, applications=applications, revision=revision,
        text=filters.text or None, drifted=True if filters.drifted else None,
        failed=True if filters.failed else None, sort=filters.sort, descending=filters.descending,
        cursor=filters.cursor or None, limit=filters.limit)
    # an empty name set matches nothing (the index reads an empty set as "any": never ask it)
    empty = bool(errors) or clusters == frozenset() or applications == frozenset()
    return Resolved(query, empty, tuple(errors))


# -- the matrix ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Matrix:
    """Applications x clusters of one page of targets; ``cells[(app, cluster)]`` is the status."""

    applications: tuple[str, ...]
    clusters: tuple[str, ...]
    cells: Mapping[tuple[str, str], TargetStatus]

    def cell(self, application: str, cluster: str) -> TargetStatus | None:
        return self.cells.get((application, cluster))


def matrix(items: Sequence[TargetStatus]) -> Matrix:
    """The applications of a page (in page order) against the clusters of its rows (by name)."""
    applications = tuple(dict.fromkeys(s.application for s in items))
    clusters = tuple(sorted({s.cluster for s in items}))
    return Matrix(applications, clusters, {(s.application, s.cluster): s for s in items})


# -- the application page --------------------------------------------------------------------------

@dataclass(frozen=True)
class DriftField:
    path: str
    live: str
    desired: str
    manager: str | None
    changed_at: float | None


@dataclass(frozen=True)
class DriftGroup:
    """The drifted fields of one object."""

    object: str
    fields: tuple[DriftField, ...]


def drift_groups(drift: Sequence[DriftRecord]) -> list[DriftGroup]:
    groups: dict[str, list[DriftField]] = {}
    for record in drift:
        groups.setdefault(record.object, []).append(DriftField(
            record.path, pretty_value(record.live), pretty_value(record.predicted), record.manager,
            record.changed_at))
    return [DriftGroup(name, tuple(fields)) for name, fields in groups.items()]


@dataclass(frozen=True)
class SpanBar:
    """One span of a trace laid out on a 0-100 scale (percentages for the SVG's ``x``/``width``)."""

    name: str
    offset: float
    width: float
    duration: float
    error: str | None
    attributes: tuple[tuple[str, str], ...]


def trace_bars(operation: Operation | None) -> list[SpanBar]:
    """The spans of ``operation`` (none when it has no trace) as bars relative to the whole."""
    spans = [] if operation is None else [
        sp for sp in operation.spans if math.isfinite(sp.start) and math.isfinite(sp.duration)]
    if not spans:
        return []
    first = min(sp.start for sp in spans)
    total = max(max(sp.start + max(0.0, sp.duration) for sp in spans) - first, 1e-9)
    bars = []
    for sp in spans:
        took = max(0.0, sp.duration)
        offset = min(round(100.0 * (sp.start - first) / total, 2), 99.6)
        width = min(round(max(0.4, 100.0 * took / total), 2), round(100.0 - offset, 2))
        bars.append(SpanBar(sp.name, offset, width, took, sp.error,
                            tuple(list(sp.attributes.items())[:16])))
    return bars


def trace_total(operation: Operation | None) -> float | None:
    """From the first span's start to the last one's end (None without a trace)."""
    if operation is None or not operation.spans:
        return None
    return (max(sp.start + max(0.0, sp.duration) for sp in operation.spans)
            - min(sp.start for sp in operation.spans))


def action_counts(operation: Operation) -> list[tuple[str, int]]:
    """How many objects of ``operation`` got each action, most frequent first."""
    counts: dict[str, int] = {}
    for record in operation.objects:
        counts[record.action] = counts.get(record.action, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def running(history: Sequence[Operation]) -> Operation | None:
    """The operation still running (the newest in history), if any."""
    newest = history[0] if history else None
    return newest if newest is not None and newest.phase is OperationPhase.RUNNING else None


_HEALTH_ORDER = {h.value: i for i, h in enumerate(
    (HealthStatus.DEGRADED, HealthStatus.MISSING, HealthStatus.UNKNOWN, HealthStatus.PROGRESSING,
     HealthStatus.SUSPENDED, HealthStatus.HEALTHY))}


def objects_by_health(operation: Operation | None, limit: int) -> tuple[list[object], int]:
    """The objects of the last operation, worst health first (at most ``limit``), and how many more."""
    if operation is None:
        return [], 0
    ordered = sorted(operation.objects, key=lambda o: (_HEALTH_ORDER.get(o.health or "", 2), o.object))
    return list(ordered[:limit]), max(0, len(ordered) - limit) + operation.objects_dropped


# -- webhook deliveries ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryView:
    """One webhook delivery as the page shows it (read from whatever the receivers store)."""

    id: str
    provider: str
    receiver: str
    event: str
    repository: str
    ref: str
    commit: str
    verdict: str
    reason: str
    triggered: tuple[tuple[str, str], ...]
    hidden: int
    time: float | None
    remote: str


def _text(value: object, limit: int = 512) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def delivery_view(found: object, visible: frozenset[str] | None) -> DeliveryView:
    """``found`` (a delivery record) read defensively; triggered targets narrowed to ``visible``."""
    triggered: list[tuple[str, str]] = []
    hidden = 0
    raw = getattr(found, "triggered", None) or ()
    for entry in list(raw)[:1000] if isinstance(raw, list | tuple) else ():
        if isinstance(entry, list | tuple) and len(entry) == 2:
            key, task = _text(entry[0], 600), _text(entry[1], 200)
        else:
            key, task = _text(entry, 600), ""
        if visible is not None and key.partition("@")[0] not in visible:
            hidden += 1
            continue
        triggered.append((key, task))
    when = getattr(found, "time", None)
    return DeliveryView(
        id=_text(getattr(found, "id", ""), 200), provider=_text(getattr(found, "provider", ""), 64),
        receiver=_text(getattr(found, "receiver", ""), 200), event=_text(getattr(found, "event", ""), 200),
        repository=_text(getattr(found, "repository", ""), 1000), ref=_text(getattr(found, "ref", ""), 500),
        commit=_text(getattr(found, "commit", ""), 64), verdict=_text(getattr(found, "verdict", ""), 64),
        reason=_text(getattr(found, "reason", ""), 2000), triggered=tuple(triggered), hidden=hidden,
        time=float(when) if isinstance(when, int | float) and not isinstance(when, bool) else None,
        remote=_text(getattr(found, "remote", ""), 100))


@dataclass
class Flash:
    """A message after an action, chosen from a fixed list by a code in the query string (so a link
    cannot make the page say anything else) with the task id it started."""

    kind: str
    text: str


FLASH_TEXTS = {
    "sync": ("ok", "Sync queued"),
    "sync-dry-run": ("ok", "Dry-run sync queued"),
    "refresh": ("ok", "Refresh queued"),
    "refresh-coalesced": ("info", "A refresh of this target is already queued"),
    "hard-refresh": ("ok", "Hard refresh queued (render cache dropped)"),
    "hard-refresh-coalesced": ("info", "A refresh of this target is already queued; render cache dropped"),
    "resume": ("ok", "Automated sync resumed; reconcile queued"),
    "resume-coalesced": ("ok", "Automated sync resumed; a reconcile is already queued"),
}


def flash(code: str | None, task: str | None) -> Flash | None:
    found = FLASH_TEXTS.get(code or "")
    if found is None:
        return None
    kind, text = found
    if task and len(task) <= 200 and task.isprintable():
        text = f"{text}: task {task}"
    return Flash(kind, text)
