"""Sync windows at an instant: which windows are open for a target, whether automated and manual syncs
may run, and when that changes.

Called by workers/gates.py before every reconcile (with the runtime clock's ``now``) and by the tests
with fixed instants. Semantics are Argo CD's (docs/sync-windows.md): a window is open from each tick of
its cron ``schedule`` (in its IANA ``time_zone``, daylight saving handled by cronsim) for
``duration_seconds``; an open deny window blocks automated syncs, and manual ones unless every open deny
window has ``manual_sync``; where allow windows select a target, automated syncs run only while one of
them is open, and a manual sync outside them only when one of them has ``manual_sync``; deny wins over
allow. Key design choices: pure functions of typed values and an injected instant (epoch seconds);
every search is bounded (:data:`MAX_STEPS` boundaries, :data:`HORIZON` seconds, :data:`MAX_CHAIN` ticks
of one overlapping run), so a schedule that fires rarely, never, or every minute cannot loop; a window
whose schedule or zone cannot be evaluated raises :class:`~gitops.errors.InputError` (the configuration
refuses such windows; the caller fails closed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from gitops.domain import SyncWindow
from gitops.errors import InputError

HORIZON = 400 * 86400.0  # how far ahead "when does it change" looks (a yearly window still answers)
MAX_STEPS = 64           # window boundaries visited by one search
MAX_CHAIN = 512          # ticks followed to find where a run of overlapping openings ends


@dataclass(frozen=True)
class WindowState:
    """What the windows selecting a target say at ``at``: the open ones (``active``, names), whether
    automated and manual syncs may run, the windows that block automated syncs (``blocking``: the open
    deny windows, or the closed allow windows when none is open) and those blocking a manual sync
    (``blocking_manual``); ``changes_at``: when blocked, the next instant the verdict flips (None:
    not blocked, or not within the bounded search)."""

    at: float
    active: tuple[str, ...] = ()
    automated: bool = True
    manual: bool = True
    blocking: tuple[str, ...] = ()
    blocking_manual: tuple[str, ...] = ()
    changes_at: float | None = None


def selecting(windows: Iterable[SyncWindow], application: str, app_labels: Mapping[str, str],
              cluster: str, cluster_labels: Mapping[str, str]) -> tuple[SyncWindow, ...]:
    """The windows whose application selector and cluster selector both match (an empty selector
    matches everything), sorted by name."""
    return tuple(sorted((w for w in windows if w.applications.matches(application, app_labels)
                         and w.clusters.matches(cluster, cluster_labels)), key=lambda w: w.name))


def _zone(window: SyncWindow) -> ZoneInfo:
    try:
        return ZoneInfo(window.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"sync window {window.name}: unknown time zone {window.time_zone[:64]!r}",
                         field="timeZone") from exc


def _ticks(window: SyncWindow, at: float, *, reverse: bool) -> Iterable[datetime]:
    """Ticks of the window's schedule strictly after ``at`` (or at or before it, newest first)."""
    whole = math.floor(at)  # cron ticks fall on whole minutes: compare in whole seconds
    start = datetime.fromtimestamp(whole + 1 if reverse else whole, _zone(window))
    try:
        return CronSim(window.schedule, start, reverse=reverse)
    except CronSimError as exc:
        raise InputError(f"sync window {window.name}: bad schedule: {exc}", field="schedule") from exc


def _next(ticks: Iterable[datetime]) -> float | None:
    try:
        return next(iter(ticks)).timestamp()
    except StopIteration:  # cronsim gives up on schedules that never fire again
        return None


def last_opened(window: SyncWindow, at: float) -> float | None:
    """The latest tick at or before ``at`` (None: none that cronsim can find)."""
    return _next(_ticks(window, at, reverse=True))


def is_open(window: SyncWindow, at: float) -> bool:
    """Whether a tick happened within the last ``duration_seconds`` (the window is open on
    ``[tick, tick + duration)``)."""
    opened = last_opened(window, at)
    return opened is not None and at - opened < window.duration_seconds


def _boundary(window: SyncWindow, at: float) -> float | None:
    """The next instant after ``at`` the window opens or closes (None: none found)."""
    opened = last_opened(window, at)
    if opened is None or at - opened >= window.duration_seconds:
        return _next(_ticks(window, at, reverse=False))
    end = opened + window.duration_seconds  # an open window closes when its last overlapping run ends
    ticks = iter(_ticks(window, opened, reverse=False))
    for _ in range(MAX_CHAIN):
        following = _next(ticks)
        if following is None or following >= end:
            return end
        end = following + window.duration_seconds
    return None  # open for longer than the search follows (e.g. every minute for an hour)


def _verdict(windows: tuple[SyncWindow, ...], at: float,
             opened: Sequence[bool] | None = None) -> WindowState:
    """The verdict at ``at``; ``opened``: which windows are open, when the caller knows already."""
    flags = opened if opened is not None else [is_open(w, at) for w in windows]
    open_ = [w for w, flag in zip(windows, flags, strict=True) if flag]
    denies = [w for w in open_ if w.kind == "deny"]
    allows = [w for w in windows if w.kind == "allow"]
    open_allows = [w for w in open_ if w.kind == "allow"]
    if denies:
        automated, blocking = False, tuple(w.name for w in denies)
        manual = all(w.manual_sync for w in denies)
        blocking_manual = () if manual else tuple(w.name for w in denies if not w.manual_sync)
    elif allows and not open_allows:
        automated, blocking = False, tuple(w.name for w in allows)
        manual = any(w.manual_sync for w in allows)
        blocking_manual = () if manual else blocking
    else:
        automated, manual, blocking, blocking_manual = True, True, (), ()
    return WindowState(at, tuple(w.name for w in open_), automated, manual, blocking, blocking_manual)


def next_change(windows: tuple[SyncWindow, ...], at: float, *, manual: bool = False) -> float | None:
    """The first instant after ``at`` where the automated verdict (the manual one when ``manual``)
    differs from now; None when it does not change within :data:`MAX_STEPS` boundaries and
    :data:`HORIZON` seconds.

    Each window's next boundary is computed once and again only when the search passes it, and a
    window flips exactly at its boundary, so a step costs cronsim calls only for the windows that
    changed there. An open deny window without an end in reach that blocks the verdict ends the search
    at once (nothing can lift it)."""
    def verdict(state: WindowState) -> bool:
        return state.manual if manual else state.automated

    opened = [is_open(w, at) for w in windows]
    now = verdict(_verdict(windows, at, opened))
    order = sorted(range(len(windows)), key=lambda k: not (opened[k] and windows[k].kind == "deny"))
    bounds: list[float | None] = [None] * len(windows)
    for k in order:  # the open deny windows first: one without an end in reach decides
        bounds[k] = _boundary(windows[k], at)
        if (bounds[k] is None and opened[k] and windows[k].kind == "deny" and not now
                and not (manual and windows[k].manual_sync)):
            return None
    t = at
    for _ in range(MAX_STEPS):
        pending = [b for b in bounds if b is not None]
        if not pending:
            return None
        t = min(pending)
        if t - at > HORIZON:
            return None
        for k, bound in enumerate(bounds):
            if bound is not None and bound <= t:
                opened[k] = is_open(windows[k], t)
                bounds[k] = _boundary(windows[k], t)
        if verdict(_verdict(windows, t, opened)) != now:
            return t
    return None


def evaluate(windows: Iterable[SyncWindow], at: float, *, application: str = "",
             app_labels: Mapping[str, str] | None = None, cluster: str = "",
             cluster_labels: Mapping[str, str] | None = None, manual: bool = False) -> WindowState:
    """The state of the windows selecting (application, cluster) at ``at`` (epoch seconds);
    ``changes_at`` follows the automated verdict, or the manual one when ``manual``. InputError when a
    window's schedule or zone cannot be evaluated."""
    chosen = selecting(windows, application, app_labels or {}, cluster, cluster_labels or {})
    if not chosen:
        return WindowState(at)
    state = _verdict(chosen, at)
    if state.manual if manual else state.automated:  # not blocked: nothing to wait for
        return state
    return WindowState(state.at, state.active, state.automated, state.manual, state.blocking,
                       state.blocking_manual, next_change(chosen, at, manual=manual))


def explain(state: WindowState, *, manual: bool = False) -> str:
    """Why the windows block (``""`` when they do not): ``deny window freeze is open; automated syncs
    resume at 2026-12-05 18:00 UTC`` or ``outside the allow window office-hours; ...``. The instant is
    when the verdict changes, which may be later than the named window's end (another window may
    take over)."""
    blocked = not state.manual if manual else not state.automated
    if not blocked:
        return ""
    names = state.blocking_manual if manual else state.blocking
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    plural = "s" if len(names) > 1 else ""
    what = (f"deny window{plural} {shown} {'are' if plural else 'is'} open" if set(names) <= set(state.active)
            else f"outside the allow window{plural} {shown}")
    if state.changes_at is None:
        return what
    when = datetime.fromtimestamp(state.changes_at, UTC)
    return f"{what}; {'manual' if manual else 'automated'} syncs resume at {when:%Y-%m-%d %H:%M} UTC"


def change_reason(before: WindowState, after: WindowState) -> str:
    """What lifted the block between ``before`` and ``after`` (the state at ``before.changes_at``):
    ``sync window freeze closed``, ``sync window office-hours opened``, or both."""
    closed = [n for n in before.blocking if n in before.active and n not in after.active]
    opened = [n for n in after.active if n not in before.active]
    parts = [f"{', '.join(names[:4])} {verb}" for names, verb in ((closed, "closed"), (opened, "opened"))
             if names]
    plural = "s" if len(closed) + len(opened) > 1 else ""
    return f"sync window{plural} {' and '.join(parts)}" if parts else "sync windows changed"
