"""The target index (gitops.state.index), run against InMemoryStore and RedisStore (a real redis-server).

Every answer is checked against an oracle written here from the statuses themselves (filter, then sort
by explicit tuples), so both stores are held to the documented semantics, and a hypothesis test drives
random writes into both and compares every page, cursor and count. Hostile input: forged, foreign and
oversized cursors, limits out of range, text with glob, Lua-pattern and Redis-special characters,
invalid names and statuses. Redis specifics: the cost of a page (commands counted by Redis), scratch
keys neither left behind nor written to the append-only file, and the rebuild of an index over
statuses written before it existed.
"""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.errors import Failure, InputError
from gitops.state import (
    MAX_PAGE,
    InMemoryStore,
    Operation,
    RedisStore,
    RenderedManifests,
    SortKey,
    TargetCounts,
    TargetIndex,
    TargetQuery,
    TargetStatus,
)
from gitops.state.index import INDEX_VERSION, MAX_MANIFESTS, MAX_TEXT_FILTER
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger
from workers.redis_server import RedisServer

AnyStore = InMemoryStore | RedisStore
Oracle = dict[Target, TargetStatus]

APPS = ["api", "web", "web-api", "db", "a.b"]
CLUSTERS = ["prod", "dev", "edge.1"]
SYNCS = [SyncStatus.SYNCED, SyncStatus.OUT_OF_SYNC, SyncStatus.UNKNOWN]
HEALTHS = list(HealthStatus)
SYNC_RANK = {SyncStatus.OUT_OF_SYNC: 0, SyncStatus.UNKNOWN: 1, SyncStatus.SYNCED: 2}

_ops = iter(range(10**9))


def write(store: AnyStore, oracle: Oracle, status: TargetStatus) -> None:
    operation = Operation(f"op{next(_ops)}", status.application, status.cluster, Trigger.POLL,
                          OperationPhase.SUCCEEDED, revision=status.revision, started=1.0)
    store.record(status, operation)
    oracle[status.target] = status


def fleet_status(i: int, app: str, cluster: str) -> TargetStatus:
    failure = Failure("RenderFailed", "boom", False) if i % 7 == 3 else None
    revision = None if i % 5 == 4 else f"{'ABCD' if i % 3 else 'abce'}{i:036x}"
    return TargetStatus(app, cluster, revision=revision,
                        sync=SYNCS[i % 3], health=HEALTHS[(i * 5) % 6], drift_count=(i % 4 == 1) * i,
                        error=None if i % 11 != 5 else "timeout", failure=failure,
                        reconciled_at=float(100 + (i * 37) % 13))  # ties on purpose


@pytest.fixture
def fleet(store: AnyStore) -> Oracle:
    oracle: Oracle = {}
    i = 0
    for app in APPS:
        for cluster in CLUSTERS:
            write(store, oracle, fleet_status(i, app, cluster))
            i += 1
    return oracle


# -- the oracle -------------------------------------------------------------------------------------

def order_key(sort: SortKey, s: TargetStatus) -> tuple[Any, ...]:
    tie = (s.application, s.cluster)
    return {SortKey.NAME: tie, SortKey.CLUSTER: (s.cluster, s.application),
            SortKey.SYNC: (SYNC_RANK[s.sync], *tie), SortKey.HEALTH: (5 - s.health.severity, *tie),
            SortKey.RECONCILED: (s.reconciled_at, *tie),
            SortKey.REVISION: ((s.revision or "").lower(), *tie)}[sort]


def is_failed(s: TargetStatus) -> bool:
    return s.error is not None or s.failure is not None


def selects(q: TargetQuery, s: TargetStatus) -> bool:
    text = (q.text or "").strip().lower()
    return ((not q.sync or s.sync in q.sync) and (not q.health or s.health in q.health)
            and (q.clusters is None or s.cluster in q.clusters)
            and (q.applications is None or s.application in q.applications)
            and (q.revision is None or (s.revision or "").lower().startswith(q.revision.lower()))
            and text in s.target.key
            and (q.drifted is None or (s.drift_count > 0) == q.drifted)
            and (q.failed is None or is_failed(s) == q.failed))


def expected(oracle: Oracle, q: TargetQuery) -> list[str]:
    found = sorted((s for s in oracle.values() if selects(q, s)), key=lambda s: order_key(q.sort, s),
                   reverse=q.descending)
    return [s.target.key for s in found]


def keys(items: Any) -> list[str]:
    return [s.target.key for s in items]


def pages(store: AnyStore, q: TargetQuery) -> Iterator[tuple[list[str], int]]:
    """Every page of ``q`` from its cursor on: (target keys, total)."""
    cursor = q.cursor
    for _ in range(1000):
        page = store.query(replace(q, cursor=cursor))
        yield keys(page.items), page.total
        if page.next_cursor is None:
            return
        assert len(page.items) == q.limit
        cursor = page.next_cursor
    raise AssertionError("paging never ended")


def all_pages(store: AnyStore, q: TargetQuery) -> list[str]:
    seen: list[str] = []
    for items, _total in pages(store, q):
        seen += items
    return seen


# -- the port ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", [InMemoryStore, RedisStore])
def test_both_stores_implement_the_index_with_its_signatures(impl: type) -> None:
    for name in ("query", "counts", "at_revision", "keep_manifests", "manifests"):
        want = inspect.signature(getattr(TargetIndex, name)).parameters.values()
        got = inspect.signature(getattr(impl, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in got] == [(p.name, p.kind, p.default) for p in want]


def test_empty_store_answers_empty(store: AnyStore) -> None:
    page = store.query(TargetQuery())
    assert (page.items, page.total, page.next_cursor) == ((), 0, None)
    counts = store.counts()
    assert counts.total == 0 and set(counts.sync) == {str(s) for s in SyncStatus}
    assert set(counts.health) == {str(h) for h in HealthStatus} and not any(counts.health.values())
    assert store.at_revision("abcd") == []


# -- sorts and paging -------------------------------------------------------------------------------

@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", list(SortKey))
def test_paging_through_everything_in_every_order(store: AnyStore, fleet: Oracle, sort: SortKey,
                                                  descending: bool) -> None:
    q = TargetQuery(sort=sort, descending=descending, limit=4)
    seen = all_pages(store, q)
    assert seen == expected(fleet, q)
    assert len(seen) == len(set(seen)) == len(fleet)
    assert {total for _, total in pages(store, q)} == {len(fleet)}
    one = store.query(replace(q, limit=MAX_PAGE))
    assert keys(one.items) == seen and one.next_cursor is None


def test_name_order_is_application_then_cluster_not_the_key_text(store: AnyStore) -> None:
    oracle: Oracle = {}
    for app, cluster in [("web-api", "prod"), ("web", "prod"), ("web", "a"), ("we", "z")]:
        write(store, oracle, TargetStatus(app, cluster))
    assert keys(store.query(TargetQuery()).items) == ["we@z", "web@a", "web@prod", "web-api@prod"]
    assert keys(store.query(TargetQuery(sort=SortKey.CLUSTER)).items) == [
        "web@a", "web@prod", "web-api@prod", "we@z"]


def test_worst_first_orders(store: AnyStore) -> None:
    oracle: Oracle = {}
    for i, health in enumerate(HealthStatus):
        write(store, oracle, TargetStatus(f"app{i}", "c", health=health, sync=SYNCS[i % 3]))
    page = store.query(TargetQuery(sort=SortKey.HEALTH))
    assert [s.health for s in page.items] == [
        HealthStatus.DEGRADED, HealthStatus.MISSING, HealthStatus.UNKNOWN, HealthStatus.PROGRESSING,
        HealthStatus.SUSPENDED, HealthStatus.HEALTHY]
    page = store.query(TargetQuery(sort=SortKey.SYNC))
    assert [s.sync for s in page.items][:2] == [SyncStatus.OUT_OF_SYNC] * 2
    assert [s.sync for s in page.items][-2:] == [SyncStatus.SYNCED] * 2


def test_reconciled_order_handles_any_float(store: AnyStore) -> None:
    oracle: Oracle = {}
    for i, at in enumerate([1.5e9, -3.0, 0.0, -0.0, 2.0, float("inf"), float("-inf"), 1e-300, 1.7e9 + 0.25]):
        write(store, oracle, TargetStatus(f"app{i}", "c", reconciled_at=at))
    newest_first = store.query(TargetQuery(sort=SortKey.RECONCILED, descending=True))
    ats = [s.reconciled_at for s in newest_first.items]
    assert ats == sorted(ats, reverse=True) and ats[0] == float("inf")


def test_ties_are_broken_by_the_target_and_pages_split_them_cleanly(store: AnyStore) -> None:
    oracle: Oracle = {}
    for i in range(23):
        write(store, oracle, TargetStatus(f"app{i:02d}", "prod" if i % 2 else "dev", sync=SyncStatus.SYNCED,
                                          reconciled_at=7.0))
    for sort in (SortKey.SYNC, SortKey.RECONCILED, SortKey.HEALTH, SortKey.REVISION):
        for descending in (False, True):
            q = TargetQuery(sort=sort, descending=descending, limit=5)
            by_target = sorted(oracle, key=lambda t: (t.application, t.cluster), reverse=descending)
            assert all_pages(store, q) == [t.key for t in by_target]


def test_a_target_changing_between_pages_makes_no_other_repeat_or_vanish(store: AnyStore,
                                                                         fleet: Oracle) -> None:
    q = TargetQuery(sort=SortKey.RECONCILED, limit=4)
    first = store.query(q)
    seen = keys(first.items)
    # the last target served moves to the end, one not yet served moves to the front, one is forgotten
    moved_last = fleet[first.items[-1].target]
    write(store, fleet, replace(moved_last, reconciled_at=10_000.0))
    pending = [k for k in expected(fleet, q) if k not in seen]
    to_front = next(s for s in fleet.values() if s.target.key == pending[2])
    write(store, fleet, replace(to_front, reconciled_at=-1.0))
    gone = next(s for s in fleet.values() if s.target.key == pending[5])
    store.forget(gone.target)
    del fleet[gone.target]
    cursor = first.next_cursor
    while cursor is not None:
        page = store.query(replace(q, cursor=cursor))
        seen += keys(page.items)
        cursor = page.next_cursor
    others = set(fleet) - {moved_last.target, to_front.target}
    for target in others:
        assert seen.count(target.key) == 1, target
    assert gone.target.key not in seen
    assert seen.count(moved_last.target.key) == 2  # served once at its old place, once at its new one
    assert to_front.target.key not in seen        # moved behind the cursor: served by neither page


def test_filtered_pages_after_a_cursor_whose_target_is_gone(store: AnyStore, fleet: Oracle) -> None:
    q = TargetQuery(sort=SortKey.CLUSTER, health=frozenset(HealthStatus) - {HealthStatus.HEALTHY}, limit=3)
    first = store.query(q)
    store.forget(first.items[-1].target)
    rest = all_pages(store, replace(q, cursor=first.next_cursor))
    del fleet[first.items[-1].target]
    assert keys(first.items)[:-1] + rest == expected(fleet, q)


# -- filters ----------------------------------------------------------------------------------------

FILTERS: list[dict[str, Any]] = [
    {"sync": frozenset({SyncStatus.OUT_OF_SYNC})},
    {"sync": frozenset({SyncStatus.OUT_OF_SYNC, SyncStatus.UNKNOWN})},
    {"health": frozenset({HealthStatus.DEGRADED})},
    {"health": frozenset({HealthStatus.HEALTHY, HealthStatus.MISSING, HealthStatus.PROGRESSING})},
    {"clusters": frozenset({"prod"})},
    {"clusters": frozenset({"prod", "edge.1", "nowhere"})},
    {"applications": frozenset({"web", "a.b"})},
    {"revision": "abcd"},
    {"revision": "ABCE0000"},
    {"revision": "abcd" + "0" * 35 + "5"},
    {"text": "web"},
    {"text": "B@D"},
    {"text": "  Edge.1 "},
    {"text": "b-a"},          # a Lua pattern would read this as "any 'a'"
    {"text": "."},            # a Lua pattern would match every target
    {"drifted": True},
    {"drifted": False},
    {"failed": True},
    {"failed": False},
    {"sync": frozenset({SyncStatus.SYNCED}), "clusters": frozenset({"prod", "dev"}), "failed": False},
    {"health": frozenset({HealthStatus.HEALTHY, HealthStatus.DEGRADED}), "applications": frozenset(APPS[:3]),
     "drifted": False, "text": "p"},
    {"revision": "abcd", "sync": frozenset({SyncStatus.SYNCED, SyncStatus.OUT_OF_SYNC}), "failed": False,
     "drifted": False},
    {"clusters": frozenset({"dev"}), "applications": frozenset({"web"}), "text": "web@dev"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}"[:40] for k, v in f.items()))
def test_each_filter_and_combinations(store: AnyStore, fleet: Oracle, filters: dict[str, Any]) -> None:
    q = TargetQuery(**filters)
    want = expected(fleet, q)
    page = store.query(q)
    assert keys(page.items) == want and page.total == len(want)
    for sort in SortKey:
        for descending in (False, True):
            sq = replace(q, sort=sort, descending=descending, limit=2)
            assert all_pages(store, sq) == expected(fleet, sq), (sort, descending)
    counts = store.counts(q)
    matching = [s for s in fleet.values() if selects(q, s)]
    assert counts == TargetCounts(
        total=len(matching), sync={str(v): sum(s.sync == v for s in matching) for v in SyncStatus},
        health={str(h): sum(s.health == h for s in matching) for h in HealthStatus},
        drifted=sum(s.drift_count > 0 for s in matching), failed=sum(is_failed(s) for s in matching))


def test_fleet_covers_every_filter_with_some_but_not_all(fleet: Oracle) -> None:
    for filters in FILTERS[:19]:
        assert 0 < len(expected(fleet, TargetQuery(**filters))) < len(fleet), filters


def test_empty_name_sets_match_nothing_but_empty_status_sets_match_all(store: AnyStore,
                                                                       fleet: Oracle) -> None:
    assert store.query(TargetQuery(clusters=frozenset())).total == 0
    assert store.query(TargetQuery(applications=frozenset())).total == 0
    assert store.counts(TargetQuery(clusters=frozenset())).total == 0
    assert store.query(TargetQuery(sync=frozenset(), health=frozenset())).total == len(fleet)


def test_counts_without_a_query_count_everything(store: AnyStore, fleet: Oracle) -> None:
    counts = store.counts()
    assert counts.total == len(fleet) == sum(counts.sync.values()) == sum(counts.health.values())
    assert counts == store.counts(TargetQuery(sort=SortKey.HEALTH, limit=1))
    assert counts.failed == sum(is_failed(s) for s in fleet.values()) > 0


def test_the_index_follows_each_write_and_forget(store: AnyStore, fleet: Oracle) -> None:
    target = Target("web", "prod")
    old = fleet[target]
    write(store, fleet, replace(old, sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.DEGRADED, drift_count=3,
                                revision="feedface" * 5, error="x"))
    for filters in [*FILTERS, {"revision": "feedface"}, {"health": frozenset({HealthStatus.DEGRADED})}]:
        q = TargetQuery(**filters)
        assert keys(store.query(q).items) == expected(fleet, q), filters
    assert keys(store.at_revision("FEEDFACE")) == ["web@prod"]
    assert keys(store.at_revision(old.revision or "")) == []
    assert store.forget(target) is True
    del fleet[target]
    for filters in FILTERS:
        q = TargetQuery(**filters)
        assert keys(store.query(q).items) == expected(fleet, q), filters
    assert store.counts().total == len(fleet)
    assert store.at_revision("feedface") == []
    assert store.forget(target) is False


def test_a_write_without_status_leaves_the_index_alone(store: AnyStore, fleet: Oracle) -> None:
    before = store.query(TargetQuery(limit=MAX_PAGE))
    store.begin(Operation("running-1", "web", "prod", Trigger.MANUAL, OperationPhase.RUNNING))
    assert store.query(TargetQuery(limit=MAX_PAGE)) == before


# -- at_revision ------------------------------------------------------------------------------------

def test_at_revision_finds_every_target_at_a_commit_prefix(store: AnyStore, fleet: Oracle) -> None:
    for prefix in ("abcd", "ABCE", "abcd00000000000000000000000000000000000d", "0000"):
        want = sorted((s for s in fleet.values() if (s.revision or "").lower().startswith(prefix.lower())),
                      key=lambda s: order_key(SortKey.REVISION, s))
        assert store.at_revision(prefix) == want
    assert len(store.at_revision("abcd", limit=2)) == 2


@pytest.mark.parametrize("bad", ["abc", "", "abcg", "abcd*", "abcd\x00", "[abcd", "a" * 65, " abcd", None,
                                 1234])
def test_revision_prefix_must_be_hex(store: AnyStore, bad: Any) -> None:
    with pytest.raises(InputError) as raised:
        store.at_revision(bad)
    assert raised.value.problem.field == "revision"
    if bad:
        with pytest.raises(InputError) as raised:
            store.query(TargetQuery(revision=bad))
        assert raised.value.problem.field == "revision"


def test_revisions_that_are_not_hex_are_kept_and_sorted(store: AnyStore) -> None:
    oracle: Oracle = {}
    for i, revision in enumerate(["main@{1}", "Zz\x00\n\u00e9", "x" * 500, "ABCDEF", "abcdee"]):
        write(store, oracle, TargetStatus(f"app{i}", "c", revision=revision))
    assert keys(store.query(TargetQuery(sort=SortKey.REVISION)).items) == [
        "app4@c", "app3@c", "app0@c", "app2@c", "app1@c"]
    assert keys(store.at_revision("abcdef")) == ["app3@c"]


# -- manifests --------------------------------------------------------------------------------------

def test_manifests_are_kept_replaced_and_forgotten(store: AnyStore, fleet: Oracle) -> None:
    target = Target("web", "prod")
    assert store.manifests(target) is None
    first = RenderedManifests("sha256:1", "op1", "kind: ConfigMap\n\u00e9\u4e2d <script>")
    store.keep_manifests(target, first)
    assert store.manifests(target) == first
    second = RenderedManifests("sha256:2", "op2", "", truncated=True)
    store.keep_manifests(target, second)
    assert store.manifests(target) == second
    assert store.manifests(Target("web", "dev")) is None
    store.forget(target)
    assert store.manifests(target) is None


def test_manifests_are_cut_at_two_mebibytes_on_a_character_boundary(store: AnyStore) -> None:
    target = Target("web", "prod")
    text = "a" + "\u4e2d" * (MAX_MANIFESTS // 3 + 5)  # 3 bytes each: the cut falls inside a character
    store.keep_manifests(target, RenderedManifests("d", "o", text))
    kept = store.manifests(target)
    assert kept is not None and kept.truncated
    assert len(kept.text.encode()) <= MAX_MANIFESTS and text.startswith(kept.text)
    assert len(kept.text.encode()) > MAX_MANIFESTS - 3
    store.keep_manifests(target, RenderedManifests("d" * 1000, "o", "lone \ud800 surrogate"))
    kept = store.manifests(target)
    assert kept is not None and kept.text == "lone ? surrogate" and not kept.truncated
    assert len(kept.digest) <= 128


def test_manifests_of_a_forged_target_are_refused(store: AnyStore) -> None:
    with pytest.raises(InputError):
        store.keep_manifests(Target("web*", "prod"), RenderedManifests("d", "o", "x"))
    with pytest.raises(InputError):
        store.manifests(Target("web", "prod:x"))


# -- hostile input ----------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def cursor_parts(cursor: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return parsed


def forged(cursor: str, **changes: Any) -> str:
    return b64(json.dumps({**cursor_parts(cursor), **changes}).encode())


def test_hostile_cursors_are_refused_naming_the_field(store: AnyStore, fleet: Oracle) -> None:
    q = TargetQuery(sort=SortKey.HEALTH, limit=3)
    good = store.query(q).next_cursor
    assert good is not None
    fp = cursor_parts(good)["q"]
    bad = [
        "", "garbage!", "a", "====", good + "!", "x" * 100_000, good[:-3],
        b64(b"not json"), b64(b"[]"), b64(b"null"), b64(b"{}"), b64(b"[" * 1500),
        b64(json.dumps({"v": 1, "q": fp, "m": "web\x00prod"}).encode()),         # a name-order position
        b64(json.dumps({"v": 2, "q": fp, "m": "0\x00web\x00prod"}).encode()),
        b64(json.dumps({"v": 1, "q": fp, "m": "0\x00web\x00prod", "x": 1}).encode()),
        b64(json.dumps({"v": 1, "q": fp, "m": 5}).encode()),
        forged(good, m="9\x00web\x00prod"), forged(good, m="0\x00web*\x00prod"),
        forged(good, m="0\x00web\x00prod\x00x"), forged(good, m="0\x00\x00"),
        forged(good, m="')--\x00web\x00prod"), forged(good, q="0" * 16),
        b64("\u00e9".encode("latin-1")),
    ]
    for cursor in bad:
        with pytest.raises(InputError) as raised:
            store.query(replace(q, cursor=cursor))
        assert raised.value.problem.field == "cursor", cursor[:80]


@pytest.mark.parametrize("other", [
    {"sort": SortKey.NAME}, {"descending": True}, {"health": frozenset({HealthStatus.HEALTHY})},
    {"text": "web"}, {"clusters": frozenset({"prod"})}, {"drifted": False}, {"revision": "abcd"}])
def test_a_cursor_of_another_query_is_refused(store: AnyStore, fleet: Oracle, other: dict[str, Any]) -> None:
    q = TargetQuery(sort=SortKey.HEALTH, limit=3)
    cursor = store.query(q).next_cursor
    with pytest.raises(InputError, match="another query") as raised:
        store.query(replace(q, cursor=cursor, **other))
    assert raised.value.problem.field == "cursor"
    assert store.query(replace(q, cursor=cursor, limit=7)).items  # the page size may change


def test_a_wellformed_position_not_in_the_index_pages_from_there(store: AnyStore, fleet: Oracle) -> None:
    q = TargetQuery(sort=SortKey.CLUSTER, limit=4)
    good = store.query(q).next_cursor
    assert good is not None
    cursor = forged(good, m="dev\x00zzz\x00dev")  # after every application of cluster dev
    assert keys(store.query(replace(q, cursor=cursor)).items) == [
        k for k in expected(fleet, q) if not k.endswith("@dev")][:4]


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1, True, "10", 1.5, None, 10**30])
def test_limit_out_of_range_is_refused(store: AnyStore, limit: Any) -> None:
    with pytest.raises(InputError) as raised:
        store.query(TargetQuery(limit=limit))
    assert raised.value.problem.field == "limit"
    with pytest.raises(InputError) as raised:
        store.at_revision("abcd", limit=limit)
    assert raised.value.problem.field == "limit"


def test_limit_bounds_are_accepted(store: AnyStore, fleet: Oracle) -> None:
    assert len(store.query(TargetQuery(limit=1)).items) == 1
    assert len(store.query(TargetQuery(limit=MAX_PAGE)).items) == len(fleet)


@pytest.mark.parametrize("text", [
    "*", "?", "[", "[a-z]*", "web*", "w?b", "\\", "%", "%a", "^web", "web$", "(", ")", "+", "{", "}",
    "'", '"', "\n", "\x00", "\x00@", "@", "\u00e9", "\U0001f600", "\ud800", "KEYS *",
    "redis.call('FLUSHALL')", "]]--", "\r\nFLUSHALL\r\n"])
def test_text_with_special_characters_matches_literally(store: AnyStore, fleet: Oracle, text: str) -> None:
    q = TargetQuery(text=text)
    want = expected(fleet, q)
    page = store.query(q)
    assert keys(page.items) == want and page.total == len(want)
    assert store.counts(q).total == len(want)
    assert store.counts().total == len(fleet)  # nothing was flushed or changed


def test_text_is_bounded(store: AnyStore) -> None:
    assert store.query(TargetQuery(text="a" * MAX_TEXT_FILTER)).total == 0
    with pytest.raises(InputError) as raised:
        store.query(TargetQuery(text="a" * (MAX_TEXT_FILTER + 1)))
    assert raised.value.problem.field == "text"


@pytest.mark.parametrize(("filters", "field"), [
    ({"clusters": frozenset({"prod", "bad*name"})}, "clusters"),
    ({"clusters": frozenset({"Prod"})}, "clusters"),
    ({"applications": frozenset({"a" * 254})}, "applications"),
    ({"applications": frozenset({"x\x00y"})}, "applications"),
    ({"clusters": "prod"}, "clusters"),
    ({"applications": frozenset(f"a{i}" for i in range(20_001))}, "applications"),
    ({"sync": frozenset({"Bogus"})}, "sync"),
    ({"health": frozenset({"healthy"})}, "health"),
    ({"sort": "popularity"}, "sort"),
    ({"descending": "yes"}, "descending"),
    ({"drifted": "no"}, "drifted"),
    ({"text": 5}, "text"),
])
def test_bad_filters_are_refused_naming_the_field(store: AnyStore, filters: dict[str, Any],
                                                  field: str) -> None:
    with pytest.raises(InputError) as raised:
        store.query(TargetQuery(**filters))
    assert raised.value.problem.field == field
    if field not in ("sort", "descending"):
        with pytest.raises(InputError):
            store.counts(TargetQuery(**filters))


def test_status_strings_are_accepted_for_status_filters(store: AnyStore, fleet: Oracle) -> None:
    q = TargetQuery(sync=frozenset({"OutOfSync"}), sort="health")  # type: ignore[arg-type]
    assert keys(store.query(q).items) == expected(fleet, replace(q, sync=frozenset({SyncStatus.OUT_OF_SYNC}),
                                                              sort=SortKey.HEALTH))


# -- Redis specifics --------------------------------------------------------------------------------

def command_calls(client: Any) -> dict[str, int]:
    """Commands Redis ran since CONFIG RESETSTAT (commands run by scripts included), but the
    bookkeeping ones of the test and the client."""
    return {name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in client.info("commandstats").items()
            if name.removeprefix("cmdstat_") not in {"config", "info", "client", "hello", "select"}}


def test_redis_unfiltered_page_is_one_range_and_one_mget(redis_store: RedisStore) -> None:
    oracle: Oracle = {}
    for i in range(30):
        write(redis_store, oracle, fleet_status(i, f"app{i}", "prod"))
    redis_store.query(TargetQuery())  # the once-per-store index version check
    for sort in SortKey:
        redis_store.redis.config_resetstat()
        page = redis_store.query(TargetQuery(sort=sort, limit=10))
        assert len(page.items) == 10 and page.total == 30
        assert command_calls(redis_store.redis) == {"multi": 1, "zcard": 1, "zrangebylex": 1, "exec": 1,
                                                    "mget": 1}
    redis_store.redis.config_resetstat()
    redis_store.query(TargetQuery(descending=True))
    assert set(command_calls(redis_store.redis)) == {"multi", "zcard", "zrevrangebylex", "exec", "mget"}


def test_redis_filtered_page_reads_no_status_but_the_page(redis_store: RedisStore) -> None:
    oracle: Oracle = {}
    for i in range(40):
        write(redis_store, oracle, fleet_status(i, f"app{i}", "prod" if i % 2 else "dev"))
    redis_store.query(TargetQuery(text="warm"))  # the version check, the script loaded
    redis_store.redis.config_resetstat()
    q = TargetQuery(health=frozenset({HealthStatus.HEALTHY, HealthStatus.DEGRADED}),
                    clusters=frozenset({"dev"}), failed=False, text="app", sort=SortKey.RECONCILED, limit=3)
    page = redis_store.query(q)
    assert keys(page.items) == expected(oracle, q)[:3]
    calls = command_calls(redis_store.redis)
    assert calls["mget"] == 1 and calls["evalsha"] == 1
    assert not {"get", "scan", "keys", "sscan", "hgetall"} & set(calls), calls


def test_redis_queries_leave_no_scratch_keys_and_write_nothing_durable(redis_store: RedisStore) -> None:
    client: Any = redis_store.redis
    oracle: Oracle = {}
    for i in range(60):
        write(redis_store, oracle, fleet_status(i, APPS[i % 5], f"c{i}"))
    redis_store.query(TargetQuery())
    before = {k: client.type(k) for k in client.keys("*")}
    aof = client.info("persistence")["aof_current_size"]
    for filters in FILTERS:
        for sort in SortKey:
            redis_store.query(TargetQuery(sort=sort, limit=5, **filters))
        redis_store.counts(TargetQuery(**filters))
    assert {k: client.type(k) for k in client.keys("*")} == before
    assert not client.keys("*idx:tmp*")
    assert client.info("persistence")["aof_current_size"] == aof


def drop_index(client: Any) -> None:
    for key in client.keys("gitops:v1:idx:*"):
        client.delete(key)


def index_dump(client: Any) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for key in sorted(client.keys("gitops:v1:idx:*")):
        kind = client.type(key)
        out[key] = {b"set": client.smembers, b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                    b"hash": client.hgetall, b"string": client.get}[kind](key)
    return out


def test_redis_rebuilds_the_index_of_statuses_written_before_it(redis_store: RedisStore) -> None:
    memory = InMemoryStore()
    oracle: Oracle = {}
    for i in range(25):
        write(redis_store, oracle, fleet_status(i, APPS[i % 5], CLUSTERS[i % 3] + str(i)))
        write(memory, {}, fleet_status(i, APPS[i % 5], CLUSTERS[i % 3] + str(i)))
    client = redis_store.redis
    assert redis_store.reindex() == 25  # what the writes built, and the version mark
    built = index_dump(client)
    drop_index(client)
    # a status written by code that knew no index: the status key and the targets set only
    legacy = fleet_status(99, "legacy", "prod")
    client.set("gitops:v1:status:legacy:prod", json.dumps(legacy.to_dict()))
    client.sadd("gitops:v1:targets", "legacy@prod")
    write(memory, {}, legacy)
    fresh = RedisStore(client)
    for filters in FILTERS:
        q = TargetQuery(**filters, sort=SortKey.REVISION, limit=7)
        assert list(pages(fresh, q)) == list(pages(memory, q)), filters
        assert fresh.counts(q) == memory.counts(q)
    assert client.get("gitops:v1:idx:version") == INDEX_VERSION.encode()
    client.delete("gitops:v1:status:legacy:prod")
    client.srem("gitops:v1:targets", "legacy@prod")
    assert fresh.reindex() == 25
    assert index_dump(client) == built  # the same index the writes built, the legacy entry dropped
    assert fresh.reindex() == 25 and index_dump(client) == built  # idempotent


def test_a_write_replaces_an_entry_of_the_first_layout(redis_store: RedisStore) -> None:
    """Layout 1 kept full key names and members in the entry; a worker writing over such an entry
    (before any reader rebuilt the index) replaces it instead of failing the fenced write."""
    write(redis_store, {}, fleet_status(1, "web", "prod"))
    client = redis_store.redis
    facet, order = "gitops:v1:idx:f:app:web", "gitops:v1:idx:by:name"
    client.hset("gitops:v1:idx:entry", "web@prod", json.dumps(
        {"f": [facet], "z": [[order, "gitops:v1:idx:of:name", "layout-1\x00web\x00prod"]]}))
    client.zadd(order, {"layout-1\x00web\x00prod": 0})
    write(redis_store, {}, fleet_status(2, "web", "prod"))  # raised a Lua error before
    assert client.zrange(order, 0, -1) == [b"web\x00prod"]  # the layout-1 member is gone
    assert json.loads(client.hget("gitops:v1:idx:entry", "web@prod") or b"{}").get("s")
    assert keys(redis_store.query(TargetQuery()).items) == ["web@prod"]


def test_redis_reindex_skips_a_status_written_meanwhile(redis_store: RedisStore,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    oracle: Oracle = {}
    for i in range(5):
        write(redis_store, oracle, fleet_status(i, f"app{i}", "prod"))
    client = redis_store.redis
    real_mget: Callable[..., Any] = client.mget
    newer = replace(oracle[Target("app2", "prod")], health=HealthStatus.DEGRADED, revision="beef" * 10)

    def mget_then_a_write(keys: Any, *args: Any) -> Any:
        found = real_mget(keys, *args)
        monkeypatch.setattr(client, "mget", real_mget)
        write(redis_store, oracle, newer)  # a worker writes between the rebuild's read and its script
        return found

    monkeypatch.setattr(client, "mget", mget_then_a_write)
    assert redis_store.reindex() == 4  # the fifth was written meanwhile: its writer's entry stays
    assert keys(redis_store.at_revision("beef")) == ["app2@prod"]
    assert keys(redis_store.query(TargetQuery(health=frozenset({HealthStatus.DEGRADED}))).items) == [
        k for k in expected(oracle, TargetQuery(health=frozenset({HealthStatus.DEGRADED})))]


def test_redis_corrupt_status_is_left_out_of_the_index(redis_store: RedisStore) -> None:
    oracle: Oracle = {}
    for i in range(3):
        write(redis_store, oracle, fleet_status(i, f"app{i}", "prod"))
    redis_store.redis.set("gitops:v1:status:app1:prod", b"{not json")
    assert redis_store.reindex() == 2
    assert keys(redis_store.query(TargetQuery()).items) == ["app0@prod", "app2@prod"]


# -- equivalence under random writes ----------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "web", "web-api", "x.y"])
STATUSES = st.builds(
    TargetStatus, application=NAMES, cluster=st.sampled_from(["p", "d", "e-1"]),
    revision=st.one_of(st.none(), st.sampled_from(["abcd1", "ABCD2", "abce", "main", ""])),
    sync=st.sampled_from(SYNCS), health=st.sampled_from(HEALTHS), drift_count=st.integers(0, 2),
    error=st.sampled_from([None, "e"]), reconciled_at=st.sampled_from([0.0, 1.0, 2.5, -1.0]))
WRITES = st.lists(st.one_of(STATUSES, st.tuples(NAMES, st.sampled_from(["p", "d", "e-1"]))), max_size=25)
QUERIES = st.builds(
    TargetQuery, sync=st.frozensets(st.sampled_from(SYNCS), max_size=2),
    health=st.frozensets(st.sampled_from(HEALTHS), max_size=2),
    clusters=st.one_of(st.none(), st.frozensets(st.sampled_from(["p", "d", "e-1", "z"]), max_size=2)),
    applications=st.one_of(st.none(), st.frozensets(NAMES, max_size=3)),
    revision=st.sampled_from([None, "abcd", "ABCE"]), text=st.sampled_from([None, "", "web", "-", "a@", "*"]),
    drifted=st.sampled_from([None, True, False]), failed=st.sampled_from([None, True, False]),
    sort=st.sampled_from(list(SortKey)), descending=st.booleans(), limit=st.integers(1, 4))


def replay(store: AnyStore, writes: list[Any]) -> None:
    for i, item in enumerate(writes):
        if isinstance(item, TargetStatus):
            store.record(item, Operation(f"o{i}", item.application, item.cluster, Trigger.POLL,
                                         OperationPhase.SUCCEEDED))
        else:
            store.forget(Target(*item))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=WRITES, queries=st.lists(QUERIES, min_size=1, max_size=4))
def test_memory_and_redis_indexes_agree(redis_server: RedisServer, writes: list[Any],
                                        queries: list[TargetQuery]) -> None:
    client = redis_server.client()
    client.flushdb()
    memory, redis_store = InMemoryStore(), RedisStore(client)
    replay(memory, writes)
    replay(redis_store, writes)
    oracle = {s.target: s for s in memory.statuses()}
    for q in queries:
        assert list(pages(memory, q)) == list(pages(redis_store, q))
        assert all_pages(memory, q) == expected(oracle, q)
        assert memory.counts(q) == redis_store.counts(q)
    assert memory.at_revision("abcd") == redis_store.at_revision("abcd")
