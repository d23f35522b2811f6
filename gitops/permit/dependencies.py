"""Dependencies between applications: is what an application depends on ready, and whom does a ready
target release?

Called by workers/gates.py around every reconcile; pure (the workers read the statuses and the heads
and pass them in). A dependency is *ready* when its target's recorded status is Synced and Healthy,
without error, and at its *current revision*: what its source resolves to now — for an application
following its repository's head, the head the poller last recorded; for a source pinned to a commit,
that commit. When the current revision is not known (no poll recorded a head yet, or the source names a
branch or tag other than the repository's), the recorded revision counts: the dependency is ready at
whatever it last synced, rather than waiting for a poll that may never come. The dependency graph has
no cycle (the configuration refuses one: :func:`gitops.config.dependencies.find_cycle`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitops.domain import Application, Fleet
from gitops.state.model import TargetStatus
from gitops.vocabulary import HealthStatus, SyncStatus, Target

_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class Blocker:
    """A dependency that is not ready: its ``target`` and ``reason`` ("db@prod is OutOfSync");
    ``stale``: it only needs a reconcile (never reconciled, or synced at an older commit than Git's),
    which the workers ask for rather than waiting for a poll that touches its path."""

    target: Target
    reason: str
    stale: bool = False


def dependencies_of(app: Application, cluster: str) -> tuple[Target, ...]:
    """The targets ``app`` on ``cluster`` waits for (a dependency without a cluster: the same cluster)."""
    return tuple(dict.fromkeys(Target(d.application, d.cluster or cluster) for d in app.depends_on))


def current_revision(app: Application, repo_head: str | None) -> str | None:
    """What ``app``'s source resolves to now: the recorded head when it follows its repository's head,
    the commit it is pinned to, else None (unknown: a branch or tag the poller does not watch)."""
    wanted = app.source.revision
    if wanted is None:
        return repo_head.lower() if repo_head and _COMMIT.match(repo_head) else None
    return wanted.lower() if _COMMIT.match(wanted) else None


def _why_not(target: Target, status: TargetStatus | None, current: str | None) -> Blocker | None:
    if status is None:
        return Blocker(target, f"{target} has never been reconciled", stale=True)
    if status.error is not None:
        first = status.error.splitlines()[0][:200] if status.error else "an error"
        return Blocker(target, f"{target} failed: {first}")
    if status.sync is not SyncStatus.SYNCED:
        return Blocker(target, f"{target} is {status.sync}")
    if status.health is not HealthStatus.HEALTHY:
        return Blocker(target, f"{target} is {status.health}")
    if current is not None and (status.revision or "").lower() != current:
        at = (status.revision or "no revision")[:12]
        return Blocker(target, f"{target} is at {at}, Git is at {current[:12]}", stale=True)
    return None


def blocked_on(app: Application, cluster: str, fleet: Fleet, statuses: Mapping[Target, TargetStatus | None],
               current_revisions: Mapping[Target, str | None]) -> tuple[Blocker, ...]:
    """The dependencies of ``app`` on ``cluster`` that are not ready, in the order configured. A
    dependency that is not configured (an application removed, or deployed elsewhere) blocks too."""
    blockers = []
    for target in dependencies_of(app, cluster):
        dep = fleet.applications.get(target.application)
        if dep is None or dep.destination.cluster != target.cluster:
            blockers.append(Blocker(target, f"{target} is not configured"))
            continue
        found = _why_not(target, statuses.get(target), current_revisions.get(target))
        if found is not None:
            blockers.append(found)
    return tuple(blockers)


def dependants(target: Target, fleet: Fleet) -> tuple[Target, ...]:
    """The configured targets that depend on ``target`` (on its cluster by default, or naming its
    cluster), sorted."""
    found = {Target(name, app.destination.cluster) for name, app in fleet.applications.items()
             if target in dependencies_of(app, app.destination.cluster)}
    return tuple(sorted(found, key=lambda t: (t.application, t.cluster)))


def message(blockers: tuple[Blocker, ...]) -> str:
    """``waiting for db@prod (db@prod is OutOfSync), cache@prod (...)``, bounded."""
    shown = "; ".join(b.reason for b in blockers[:4])
    more = f"; and {len(blockers) - 4} more" if len(blockers) > 4 else ""
    return f"waiting for its dependencies: {shown}{more}"
