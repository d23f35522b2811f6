"""The target index: paged, filtered and sorted reads of every target's status, kept by the writes.

Read by the HTTP API and the dashboard (``web/``); maintained by the stores' fenced status writes and
by ``forget``, so a reader never scans every status key per request. Key design choice: the index is
a set of small Redis structures (one set per sync status, health, cluster, application; sorted sets
for each sort order; a lexicographic set of ``revision\\0target`` for "where is this commit"), so a
filtered page is a few set operations inside Redis plus one MGET of the page's statuses; the
in-memory store answers the same queries the same way (a contract test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from gitops.state.model import TargetStatus
from gitops.vocabulary import HealthStatus, SyncStatus, Target

MAX_PAGE = 500
DEFAULT_PAGE = 50


class SortKey(StrEnum):
    """Orders of a target page; ties are broken by the target's key (``app@cluster``)."""

    NAME = "name"            # application, then cluster
    CLUSTER = "cluster"      # cluster, then application
    SYNC = "sync"            # OutOfSync first (worst first), then Unknown, Synced
    HEALTH = "health"        # Degraded first (worst first) ... Healthy last
    RECONCILED = "reconciled"  # newest reconcile first when descending
    REVISION = "revision"


@dataclass(frozen=True)
class TargetQuery:
    """One page request. Empty sets and None mean "any". Label selectors are resolved by the caller
    (the web layer knows the configuration) into ``clusters`` / ``applications`` name sets."""

    sync: frozenset[SyncStatus] = frozenset()
    health: frozenset[HealthStatus] = frozenset()
    clusters: frozenset[str] | None = None
    applications: frozenset[str] | None = None
    revision: str | None = None      # a revision prefix (at least 4 characters)
    text: str | None = None          # a substring of ``app@cluster``
    drifted: bool | None = None      # True: only targets with drift; False: only without
    failed: bool | None = None       # True: only targets whose last reconcile failed
    sort: SortKey = SortKey.NAME
    descending: bool = False
    cursor: str | None = None        # opaque, from TargetPage.next_cursor of the same query
    limit: int = DEFAULT_PAGE


@dataclass(frozen=True)
class TargetPage:
    items: tuple[TargetStatus, ...]
    total: int                        # targets matching the query (all pages)
    next_cursor: str | None           # None on the last page


@dataclass(frozen=True)
class TargetCounts:
    """How many targets match a query, overall and per sync status / health (the overview's badges)."""

    total: int = 0
    sync: dict[str, int] = field(default_factory=dict)
    health: dict[str, int] = field(default_factory=dict)
    drifted: int = 0
    failed: int = 0


@dataclass(frozen=True)
class RenderedManifests:
    """The manifests a target's last reconcile rendered (Secret values masked, bounded), by digest."""

    digest: str
    operation: str
    text: str
    truncated: bool = False


class TargetIndex(Protocol):
    """Paged reads over every target's status, and the last rendered manifests of each."""

    def query(self, query: TargetQuery) -> TargetPage:
        """One page; InputError (field ``cursor``, ``limit`` or ``revision``) for a bad request."""

    def counts(self, query: TargetQuery | None = None) -> TargetCounts:
        """Counts of the targets matching ``query``'s filters (its sort, cursor and limit ignored)."""

    def at_revision(self, prefix: str, limit: int = MAX_PAGE) -> list[TargetStatus]:
        """Every target whose current revision starts with ``prefix`` (at least 4 hex characters)."""

    def keep_manifests(self, target: Target, manifests: RenderedManifests) -> None:
        """Keep the last rendered manifests of ``target`` (replacing the previous ones)."""

    def manifests(self, target: Target) -> RenderedManifests | None: ...
