"""The target index: paged, filtered and sorted reads of every target's status, kept by the writes.

Read by the HTTP API and the dashboard (``web/``) through :class:`TargetIndex`; maintained by the
stores' fenced status writes and by ``forget``, so a reader never scans every status key per request.
This module holds what both stores share, so they answer every query alike: the validation of a
query (:func:`plan_query`), the index entry of a status (:func:`index_entry`), the sort members, the
opaque cursor, and the bounds of kept manifests.

Key design choice: every sort order is a *member string* compared byte by byte, ``primary \\0
application \\0 cluster`` (see :func:`sort_member`): a rank digit for sync and health (worst first), a
16-hex-digit order-preserving encoding of ``reconciled_at``, the cluster name, the lowercased revision;
the name order has no primary. In Redis each order is one sorted set with every score 0, so ZRANGEBYLEX
walks it in that order and a page is one range read; ties are broken by (application, cluster), and a
cursor is simply the last member served, so the next page starts strictly after it whatever changed
in between (a target that moved may show twice or not at all; no other target repeats or is skipped).
Descending reverses the whole order, ties included. Filters are *facets*, sets of target keys
(``sync:<status>``, ``health:<status>``, ``cluster:<name>``, ``app:<name>``, ``drifted``, ``failed``):
values of one filter are united, filters intersected, ``drifted=False``/``failed=False`` subtracted;
the revision filter is a prefix range of the revision order and the text filter a plain substring
test of ``app@cluster`` over what the other filters left. The Redis layout and costs are described in
:mod:`gitops.state.redis_store`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

from gitops.errors import InputError
from gitops.state.model import TargetStatus, clip
from gitops.state.names import check_name
from gitops.vocabulary import HealthStatus, SyncStatus, Target

MAX_PAGE = 500
DEFAULT_PAGE = 50
INDEX_VERSION: Final = "2"           # bump when the entry layout changes: stores rebuild their index
SEP: Final = "\x00"                  # separates the fields of a sort member (never in a name)
MAX_TEXT_FILTER: Final = 512         # longer than any ``app@cluster`` (253 + 1 + 253)
MAX_NAMES: Final = 20_000            # names in one clusters / applications filter
MAX_CURSOR: Final = 2048             # characters of an encoded cursor
MAX_REVISION_KEY: Final = 128        # characters of a revision kept in the revision order
MAX_MANIFESTS: Final = 2 << 20       # bytes (UTF-8) of kept manifests text; cut beyond, truncated=True
_TEXT_ALPHABET = re.compile(r"^[a-z0-9._@-]*$")
_REVISION_PREFIX = re.compile(r"^[0-9a-fA-F]{4,64}$")
_CURSOR_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


class SortKey(StrEnum):
    """Orders of a target page; ties are broken by the target (application, then cluster)."""

    NAME = "name"            # application, then cluster
    CLUSTER = "cluster"      # cluster, then application
    SYNC = "sync"            # OutOfSync first (worst first), then Unknown, Synced
    HEALTH = "health"        # Degraded first (worst first) ... Healthy last
    RECONCILED = "reconciled"  # newest reconcile first when descending
    REVISION = "revision"    # lowercased revision; targets without one first


@dataclass(frozen=True)
class TargetQuery:
    """One page request. Empty ``sync``/``health`` and None mean "any"; an *empty* ``clusters`` or
    ``applications`` set matches nothing (a label selector that selected nothing). Label selectors are
    resolved by the caller (the web layer knows the configuration) into those name sets."""

    sync: frozenset[SyncStatus] = frozenset()
    health: frozenset[HealthStatus] = frozenset()
    clusters: frozenset[str] | None = None
    applications: frozenset[str] | None = None
    revision: str | None = None      # a revision prefix: 4 to 64 hex digits, any case
    text: str | None = None          # a substring of ``app@cluster``, case-insensitive
    drifted: bool | None = None      # True: only targets with drift; False: only without
    failed: bool | None = None       # True: only targets whose last reconcile failed; False: only not
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
    """How many targets match a query, overall and per sync status / health (the overview's badges).
    ``sync`` and ``health`` name every status, zero counts included."""

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
        """One page; InputError (field ``cursor``, ``limit``, ``revision``, ``text``, ``sync``,
        ``health``, ``clusters``, ``applications`` or ``sort``) for a bad request."""

    def counts(self, query: TargetQuery | None = None) -> TargetCounts:
        """Counts of the targets matching ``query``'s filters (its sort, cursor and limit ignored)."""

    def at_revision(self, prefix: str, limit: int = MAX_PAGE) -> list[TargetStatus]:
        """Every target whose current revision starts with ``prefix`` (4 to 64 hex characters), in the
        revision order, at most ``limit`` (1 to MAX_PAGE)."""

    def keep_manifests(self, target: Target, manifests: RenderedManifests) -> None:
        """Keep the last rendered manifests of ``target`` (replacing the previous ones), bounded by
        :func:`bounded_manifests`; ``forget`` drops them."""

    def manifests(self, target: Target) -> RenderedManifests | None: ...


# -- the entry of one status --------------------------------------------------------------------------

SYNC_RANK: Final[Mapping[str, int]] = {SyncStatus.OUT_OF_SYNC: 0, SyncStatus.UNKNOWN: 1, SyncStatus.SYNCED: 2}
HEALTH_RANK: Final[Mapping[str, int]] = {h: len(HealthStatus) - 1 - h.severity for h in HealthStatus}


def float_key(value: float) -> str:
    """16 hex digits whose byte order is the numeric order of ``value`` (NaN and -0.0 count as 0)."""
    number = float(value)
    if math.isnan(number) or number == 0.0:
        number = 0.0
    bits: int = struct.unpack(">Q", struct.pack(">d", number))[0]
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def revision_key(revision: str | None) -> str:
    """A revision as the revision order keeps it: cut to 128 characters, anything but printable ASCII
    replaced by ``?``, lowercased (commit ids compare case-insensitively); "" for none."""
    if not revision:
        return ""
    cut = str(revision)[:MAX_REVISION_KEY]
    return "".join(c if " " <= c <= "~" else "?" for c in cut).lower()


def _primary(sort: SortKey, status: TargetStatus, target: Target) -> tuple[str, ...]:
    if sort is SortKey.NAME:
        return ()
    if sort is SortKey.CLUSTER:
        return (target.cluster,)
    if sort is SortKey.SYNC:
        return (str(SYNC_RANK.get(status.sync, 1)),)
    if sort is SortKey.HEALTH:
        return (str(HEALTH_RANK.get(status.health, HEALTH_RANK[HealthStatus.UNKNOWN])),)
    if sort is SortKey.RECONCILED:
        return (float_key(status.reconciled_at),)
    return (revision_key(status.revision),)


def sort_member(sort: SortKey, status: TargetStatus, target: Target | None = None) -> str:
    """The member of ``status`` in the ``sort`` order: ``primary \\0 application \\0 cluster``."""
    where = target or status.target
    return SEP.join((*_primary(sort, status, where), where.application, where.cluster))


def member_target(member: str) -> Target:
    """The target a sort member names (its last two fields)."""
    parts = member.split(SEP)
    return Target(parts[-2], parts[-1])


def failed(status: TargetStatus) -> bool:
    return status.error is not None or status.failure is not None


@dataclass(frozen=True)
class IndexEntry:
    """What the index holds for one target: the facets (sets) it is in and its member in each order."""

    key: str                              # app@cluster
    facets: frozenset[str]
    members: Mapping[SortKey, str]

    @property
    def revision(self) -> str:
        return self.members[SortKey.REVISION].split(SEP)[0]


def index_entry(target: Target, status: TargetStatus) -> IndexEntry:
    """The index entry of ``status`` stored for ``target`` (the target it is written under)."""
    facets = {f"sync:{status.sync}", f"health:{status.health}", f"cluster:{target.cluster}",
              f"app:{target.application}"}
    if status.drift_count > 0:
        facets.add("drifted")
    if failed(status):
        facets.add("failed")
    return IndexEntry(target.key, frozenset(facets),
                      {sort: sort_member(sort, status, target) for sort in SortKey})


COUNTED_FACETS: Final = (*(f"sync:{s}" for s in SyncStatus), *(f"health:{h}" for h in HealthStatus),
                         "drifted", "failed")


def counts_from(total: int, found: Mapping[str, int]) -> TargetCounts:
    """TargetCounts from the number of matching targets in each of :data:`COUNTED_FACETS`."""
    return TargetCounts(total=total, sync={str(s): found.get(f"sync:{s}", 0) for s in SyncStatus},
                        health={str(h): found.get(f"health:{h}", 0) for h in HealthStatus},
                        drifted=found.get("drifted", 0), failed=found.get("failed", 0))


# -- a validated query --------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryPlan:
    """A query checked and reduced to facets: ``groups`` are united within and intersected across,
    ``negatives`` subtracted; ``revision`` a lowercase hex prefix, ``text`` a lowercase substring.
    ``nothing`` when no target can match (an empty name set, text outside the names' alphabet)."""

    groups: tuple[tuple[str, ...], ...] = ()
    negatives: tuple[str, ...] = ()
    revision: str = ""
    text: str = ""
    nothing: bool = False
    sort: SortKey = SortKey.NAME
    descending: bool = False
    after: str | None = None              # the cursor's member: the page starts strictly after it
    limit: int = DEFAULT_PAGE
    fingerprint: str = ""

    @property
    def filtered(self) -> bool:
        return bool(self.groups or self.negatives or self.revision or self.text)

    def matches(self, entry: IndexEntry) -> bool:
        return (all(entry.facets.intersection(group) for group in self.groups)
                and not entry.facets.intersection(self.negatives)
                and entry.revision.startswith(self.revision)
                and self.text in entry.key)


def check_limit(limit: object, most: int = MAX_PAGE) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= most:
        raise InputError(f"limit must be an integer from 1 to {most}, got {str(limit)[:40]!r}",
                         field="limit")
    return limit


def revision_prefix(prefix: object) -> str:
    """A revision prefix, lowercased: 4 to 64 hexadecimal digits (a commit id or its abbreviation)."""
    if not isinstance(prefix, str) or not _REVISION_PREFIX.match(prefix):
        raise InputError(f"revision must be 4 to 64 hexadecimal digits, got {str(prefix)[:70]!r}",
                         field="revision")
    return prefix.lower()


def _enum_values(values: object, kind: type[SyncStatus] | type[HealthStatus], what: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InputError(f"{what} must be a set of statuses", field=what)
    out = []
    for value in values:
        try:
            out.append(str(kind(value)))
        except ValueError:
            raise InputError(f"unknown {what} status {str(value)[:40]!r}; expected one of "
                             f"{', '.join(kind)}", field=what) from None
    return sorted(set(out))


def _names(values: object, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InputError(f"{what} must be a set of names", field=what)
    names = list(values)
    if len(names) > MAX_NAMES:
        raise InputError(f"{what}: at most {MAX_NAMES} names, got {len(names)}", field=what)
    return sorted({check_name(name, what) for name in names})


def plan_query(query: TargetQuery, *, paged: bool = True) -> QueryPlan:
    """``query`` validated and reduced to a :class:`QueryPlan` (InputError naming the field);
    ``paged=False`` (counts) ignores sort, cursor and limit."""
    sync = _enum_values(query.sync, SyncStatus, "sync")
    health = _enum_values(query.health, HealthStatus, "health")
    clusters = _names(query.clusters, "clusters")
    applications = _names(query.applications, "applications")
    revision = "" if query.revision is None or query.revision == "" else revision_prefix(query.revision)
    if query.text is not None and not isinstance(query.text, str):
        raise InputError("text must be a string", field="text")
    text = (query.text or "").strip().lower()
    if len(text) > MAX_TEXT_FILTER:
        raise InputError(f"text: at most {MAX_TEXT_FILTER} characters, got {len(text)}", field="text")
    for name in ("drifted", "failed"):
        if getattr(query, name) not in (None, True, False):
            raise InputError(f"{name} must be true, false or unset", field=name)
    groups: list[tuple[str, ...]] = []
    negatives: list[str] = []
    for prefix, values in (("sync", sync), ("health", health)):
        if values:
            groups.append(tuple(f"{prefix}:{v}" for v in values))
    for prefix, names in (("cluster", clusters), ("app", applications)):
        if names is not None:
            groups.append(tuple(f"{prefix}:{n}" for n in names))
    for name in ("drifted", "failed"):
        flag = getattr(query, name)
        if flag is True:
            groups.append((name,))
        elif flag is False:
            negatives.append(name)
    nothing = any(not g for g in groups) or not _TEXT_ALPHABET.match(text)
    plan = QueryPlan(groups=tuple(groups), negatives=tuple(negatives), revision=revision, text=text,
                     nothing=nothing)
    if not paged:
        return plan
    try:
        sort = SortKey(query.sort)
    except ValueError:
        raise InputError(f"unknown sort {str(query.sort)[:40]!r}; expected one of {', '.join(SortKey)}",
                         field="sort") from None
    if not isinstance(query.descending, bool):
        raise InputError("descending must be true or false", field="descending")
    limit = check_limit(query.limit)
    canonical = json.dumps({"sync": sync, "health": health, "clusters": clusters, "apps": applications,
                            "revision": revision, "text": text, "drifted": query.drifted,
                            "failed": query.failed, "sort": str(sort), "desc": query.descending})
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    plan = QueryPlan(groups=plan.groups, negatives=plan.negatives, revision=revision, text=text,
                     nothing=nothing, sort=sort, descending=query.descending, limit=limit,
                     fingerprint=fingerprint)
    if query.cursor is None:
        return plan
    return QueryPlan(groups=plan.groups, negatives=plan.negatives, revision=revision, text=text,
                     nothing=nothing, sort=sort, descending=plan.descending, limit=limit,
                     fingerprint=fingerprint, after=decode_cursor(query.cursor, plan))


# -- the cursor ---------------------------------------------------------------------------------------

def encode_cursor(plan: QueryPlan, member: str) -> str:
    """The opaque cursor of the page after ``member``: url-safe base64 (unpadded) of a small JSON
    object {v: version, q: the query's fingerprint, m: the last member served}. It carries no
    authority, only a position in the query's order."""
    raw = json.dumps({"v": 1, "q": plan.fingerprint, "m": member}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor(why: str) -> InputError:
    return InputError(f"cursor: {why}; start again without a cursor", field="cursor")


def _check_member(sort: SortKey, member: str) -> str:
    parts = member.split(SEP)
    if len(parts) != (2 if sort is SortKey.NAME else 3):
        raise _bad_cursor("not a position of this order")
    try:
        check_name(parts[-2], "application")
        check_name(parts[-1], "cluster")
        if sort is SortKey.CLUSTER:
            check_name(parts[0], "cluster")
    except InputError:
        raise _bad_cursor("not a position of this order") from None
    primary = parts[0]
    ok = {SortKey.NAME: True, SortKey.CLUSTER: True,
          SortKey.SYNC: primary in {str(r) for r in SYNC_RANK.values()},
          SortKey.HEALTH: primary in {str(r) for r in HEALTH_RANK.values()},
          SortKey.RECONCILED: bool(_HEX16.match(primary)),
          SortKey.REVISION: len(primary) <= MAX_REVISION_KEY and revision_key(primary) == primary}[sort]
    if not ok:
        raise _bad_cursor("not a position of this order")
    return member


def decode_cursor(cursor: object, plan: QueryPlan) -> str:
    """The member a cursor of ``plan``'s query points after; InputError(field="cursor") for anything
    else: not a string, too long, not base64 JSON of the expected shape, another query's cursor."""
    if not isinstance(cursor, str) or not cursor:
        raise _bad_cursor("expected a non-empty string")
    if len(cursor) > MAX_CURSOR:
        raise _bad_cursor(f"longer than {MAX_CURSOR} characters")
    if not _CURSOR_CHARS.match(cursor):
        raise _bad_cursor("not a cursor of this API")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise _bad_cursor("not a cursor of this API") from None
    if not isinstance(data, dict) or set(data) != {"v", "q", "m"} or data["v"] != 1 \
            or not isinstance(data["q"], str) or not isinstance(data["m"], str):
        raise _bad_cursor("not a cursor of this API")
    if data["q"] != plan.fingerprint:
        raise _bad_cursor("it belongs to another query (filters, sort or order changed)")
    return _check_member(plan.sort, data["m"])


# -- kept manifests -----------------------------------------------------------------------------------

def bounded_manifests(manifests: RenderedManifests) -> RenderedManifests:
    """``manifests`` as the stores keep them: digest and operation clipped, text cut at
    :data:`MAX_MANIFESTS` bytes of UTF-8 (on a character boundary) with ``truncated`` set; characters
    that cannot be encoded (lone surrogates) become ``?``."""
    raw = str(manifests.text).encode("utf-8", "replace")
    truncated = bool(manifests.truncated) or len(raw) > MAX_MANIFESTS
    text = raw[:MAX_MANIFESTS].decode("utf-8", "ignore")
    return RenderedManifests(digest=clip(manifests.digest, 128), operation=clip(manifests.operation, 128),
                             text=text, truncated=truncated)
