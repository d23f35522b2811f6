"""The dashboard's view functions on their own: time and duration text, status tokens, the filters'
query string round trip, label selectors resolved against the fleet, trace bars, deliveries read
defensively."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from dashboard_kit import fleet_of
from starlette.datastructures import QueryParams

from gitops.state import Operation
from gitops.state.index import SortKey
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from web.dashboard import views

FLEET = fleet_of({"checkout": {"team": "payments"}, "search": {"team": "discovery"}},
                 {"prod-eu": {"env": "prod"}, "staging": {"env": "staging"}})


@pytest.mark.parametrize(("delta", "text"), [
    (0, "0 s ago"), (59.9, "59 s ago"), (60, "1 min ago"), (3599, "59 min ago"), (3600, "1 h ago"),
    (86399, "23 h ago"), (86400 * 3, "3 d ago"), (-120, "in 2 min")])
def test_ago(delta: float, text: str) -> None:
    assert views.ago(1_000_000 - delta, 1_000_000) == text


def test_ago_of_nothing_is_never() -> None:
    assert views.ago(0, 5) == views.ago(None, 5) == views.ago(float("nan"), 5) == "never"
    assert views.iso(0) == views.iso(float("inf")) == views.iso(1e300) == ""
    assert views.iso(86400) == "1970-01-02T00:00:00Z"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0123, "12 ms"), (4.25, "4.2 s"), (185, "3 min 5 s"), (None, ""), (-1, ""), (float("nan"), "")])
def test_duration(seconds: float | None, text: str) -> None:
    assert views.duration(seconds) == text


def test_tokens_are_safe_class_names() -> None:
    assert views.token("OutOfSync") == "outofsync"
    assert views.token("no match") == "no-match"
    assert views.token('"><script>') == "script"
    assert views.token("") == views.token("<>") == "unknown"
    assert len(views.token("x" * 100)) == 32


def test_pretty_value_indents_objects_and_keeps_the_rest() -> None:
    assert views.pretty_value('{"b": 1, "a": [2]}') == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}'
    assert views.pretty_value('"text"') == '"text"'
    assert views.pretty_value("{cut...[12 more]") == "{cut...[12 more]"


def test_filters_round_trip_through_the_query_string() -> None:
    query = QueryParams("view=list&sync=OutOfSync&sync=Unknown&health=Degraded&cluster=prod-eu"
                        "&cluster_label=env%3Dprod&app_label=team&q=check&revision=abcd&drifted=1&failed=1"
                        "&sort=health&desc=1&limit=100&cursor=c2&back=-&back=c1")
    found = views.TargetFilters.parse(query)
    assert found.sync == ("OutOfSync", "Unknown") and found.health == ("Degraded",)
    assert found.sort is SortKey.HEALTH and found.descending and found.limit == 100
    assert found.cursor == "c2" and found.back == ("", "c1")
    again = views.TargetFilters.parse(QueryParams(found.link("/", paging=True).partition("?")[2]))
    assert again == found
    assert found.previous_link("/") == found.link("/", paging=True, cursor="c1", back=("",))
    assert found.next_link("/", "c3") == found.link("/", paging=True, cursor="c3", back=("", "c1", "c2"))
    assert found.next_link("/", None) is None


def test_filters_drop_what_they_cannot_use() -> None:
    found = views.TargetFilters.parse(QueryParams(
        "sync=Nope&sync=Synced&sync=Synced&limit=13&sort=bogus&cursor=" + "x" * 600 + "&back=%0A"))
    assert found.sync == ("Synced",) and found.limit == 50 and found.sort is SortKey.NAME
    assert found.cursor == "" and found.back == ("",)
    assert views.TargetFilters.parse(QueryParams("")).link("/") == "/"


def test_sort_links_flip_the_same_column_and_start_reconciled_newest_first() -> None:
    plain = views.TargetFilters()
    assert plain.sort_link("/", "name") == "/?desc=1"
    assert plain.sort_link("/", "reconciled") == "/?sort=reconciled&desc=1"
    by_cluster = views.TargetFilters(sort=SortKey.CLUSTER, descending=True)
    assert by_cluster.sort_link("/", "cluster") == "/?sort=cluster"


def test_resolve_turns_selectors_into_name_sets() -> None:
    resolved = views.resolve(views.TargetFilters(cluster_label="env=prod", app_label="team in (payments)",
                                                 sync=("OutOfSync",), health=("Degraded",)), FLEET, None)
    assert resolved.query.clusters == frozenset({"prod-eu"})
    assert resolved.query.applications == frozenset({"checkout"})
    assert resolved.query.sync == frozenset({SyncStatus.OUT_OF_SYNC})
    assert resolved.query.health == frozenset({HealthStatus.DEGRADED})
    assert not resolved.empty and resolved.errors == ()


def test_resolve_narrows_to_what_the_caller_may_see_and_never_asks_with_an_empty_set() -> None:
    scoped = views.resolve(views.TargetFilters(), FLEET, frozenset({"search"}))
    assert scoped.query.applications == frozenset({"search"})
    nothing = views.resolve(views.TargetFilters(app_label="team=payments"), FLEET, frozenset({"search"}))
    assert nothing.empty                                  # the index would read an empty set as "any"
    assert views.resolve(views.TargetFilters(), FLEET, frozenset()).empty
    assert views.resolve(views.TargetFilters(cluster_label="env=dev"), FLEET, None).empty
    on_cluster = views.resolve(views.TargetFilters(cluster="staging"), FLEET, None, cluster="prod-eu")
    assert on_cluster.query.clusters == frozenset({"prod-eu"})


def test_resolve_reports_bad_selectors_and_revisions() -> None:
    bad = views.resolve(views.TargetFilters(cluster_label="a==b==c", revision="zz"), FLEET, None)
    assert bad.empty and len(bad.errors) == 2
    assert views.resolve(views.TargetFilters(app_label="x" * 2000), FLEET, None).empty


def op(*spans: SpanRecord) -> Operation:
    return Operation("op-1", "a", "c", Trigger.MANUAL, OperationPhase.SUCCEEDED, spans=spans)


def test_trace_bars_are_laid_out_on_the_whole_operation() -> None:
    bars = views.trace_bars(op(SpanRecord("resolve", 100.0, 1.0), SpanRecord("render", 101.0, 2.0),
                               SpanRecord("apply", 103.0, 1.0, error="conflict", attributes={"n": "3"})))
    assert [(b.name, b.offset, b.width) for b in bars] == [("resolve", 0.0, 25.0), ("render", 25.0, 50.0),
                                                           ("apply", 75.0, 25.0)]
    assert bars[2].error == "conflict" and bars[2].attributes == (("n", "3"),)
    assert views.trace_total(op(SpanRecord("a", 100.0, 1.0), SpanRecord("b", 101.0, 2.0))) == 3.0


def test_trace_bars_of_nothing_or_instant_spans() -> None:
    assert views.trace_bars(None) == [] and views.trace_bars(op()) == []
    [bar] = views.trace_bars(op(SpanRecord("instant", 5.0, 0.0)))
    assert bar.width >= 0.4 and bar.offset == 0.0


@dataclass
class OddDelivery:
    id: object = 123
    triggered: object = (("a@b", "t1"), "loose", ("x@y", None), ("too", "many", "parts"))
    time: object = "yesterday"


def test_a_delivery_is_read_defensively() -> None:
    shown = views.delivery_view(OddDelivery(), None)
    assert shown.id == "123" and shown.provider == "" and shown.time is None
    assert shown.triggered == (("a@b", "t1"), ("loose", ""), ("x@y", ""), ("('too', 'many', 'parts')", ""))
    narrowed = views.delivery_view(OddDelivery(), frozenset({"a"}))
    assert narrowed.triggered == (("a@b", "t1"),) and narrowed.hidden == 3
    assert views.delivery_view(object(), None).triggered == ()


def test_flash_messages_come_from_a_fixed_list() -> None:
    assert views.flash("sync", "task-1") == views.Flash("ok", "Sync queued: task task-1")
    assert views.flash("anything else", "x") is None and views.flash(None, None) is None
    shown = views.flash("refresh", "x" * 300)
    assert shown is not None and shown.text == "Refresh queued"
