"""The overview's filters, sort and paging: every filter narrows the page and the counts on the
server; label selectors are resolved against the configuration; the cursor pages forward and the
stack of cursors in the query string pages back."""

from __future__ import annotations

import html as htmllib
import re

from dashboard_kit import NOW, REVISION, Dashboard, fleet_of, hooks

from gitops.errors import Failure
from gitops.state import DriftRecord
from gitops.vocabulary import HealthStatus, SyncStatus


def keys(html: str) -> list[str]:
    return re.findall(r'<tr class="target-row[^"]*" data-target="([^"]+)"', html)


def link(html: str, testid: str) -> str | None:
    found = re.search(rf'href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return None if found is None else htmllib.unescape(found.group(1))


def fleet_grid(d: Dashboard, apps: int, clusters: int) -> None:
    d.use_fleet(fleet_of({f"app-{a:02d}": {"team": "even" if a % 2 == 0 else "odd"} for a in range(apps)},
                         {f"c-{c}": {"env": "prod" if c < clusters - 1 else "dev"} for c in range(clusters)}))


def seed(d: Dashboard) -> None:
    w = d.writer
    w.target("checkout", "prod-eu", sync=SyncStatus.OUT_OF_SYNC,
             drift=(DriftRecord("Deployment/a/b", ".spec.replicas", "5", "3", "kubectl-edit"),))
    w.target("checkout", "staging", health=HealthStatus.DEGRADED)
    w.target("ledger", "prod-us", failure=Failure("ClusterUnavailable", "down", True),
             sync=SyncStatus.UNKNOWN, health=HealthStatus.UNKNOWN)
    w.target("search", "prod-eu", revision="abcdef0123456789abcdef0123456789abcdef01")
    w.target("search", "staging")


def test_each_filter_narrows_the_rows_and_the_counts(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("viewer")
    cases = {
        "sync=OutOfSync": ["checkout@prod-eu"],
        "sync=OutOfSync&sync=Unknown": ["checkout@prod-eu", "ledger@prod-us"],
        "health=Degraded": ["checkout@staging"],
        "cluster=prod-eu": ["checkout@prod-eu", "search@prod-eu"],
        "cluster_label=env%3Dprod": ["checkout@prod-eu", "ledger@prod-us", "search@prod-eu"],
        "cluster_label=region+in+(us)": ["ledger@prod-us"],
        "app_label=team%3Dpayments": ["checkout@prod-eu", "checkout@staging", "ledger@prod-us"],
        "app_label=tier": ["checkout@prod-eu", "checkout@staging"],
        "app_label=team%3Dpayments&cluster_label=env%3Dstaging": ["checkout@staging"],
        "q=stag": ["checkout@staging", "search@staging"],
        "q=search%40prod": ["search@prod-eu"],
        "revision=abcdef01": ["search@prod-eu"],
        "revision=" + REVISION[:10]: ["checkout@prod-eu", "checkout@staging", "ledger@prod-us",
                                      "search@staging"],
        "drifted=1": ["checkout@prod-eu"],
        "failed=1": ["ledger@prod-us"],
        "cluster=nowhere": [],
        "app_label=team%3Dnobody": [],
    }
    for query, expected in cases.items():
        html = client.get(f"/?view=list&{query}").text
        assert keys(html) == expected, query
        assert re.search(rf'data-testid="count-total">{len(expected)}<', html), query
        assert ("matching targets" in html) is True, query


def test_the_counts_fragment_follows_the_overviews_filters(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("viewer")
    for query, total in {"": 5, "cluster=prod-eu": 2, "drifted=1": 1, "cluster=nowhere": 0}.items():
        answer = client.get(f"/fragments/counts?{query}")
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        fragment = answer.text
        assert fragment.lstrip().startswith('<section class="stats" data-testid="counts"')
        assert re.search(rf'data-testid="count-total">{total}<', fragment), query
        page = client.get(f"/?{query}").text  # the same section the page itself shows
        assert re.search(r'<section class="stats".*?</section>', page, re.S).group(0) == re.search(  # type: ignore[union-attr]
            r'<section class="stats".*?</section>', fragment, re.S).group(0), query  # type: ignore[union-attr]


def test_bad_filters_say_why_and_match_nothing(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("viewer")
    for query, message in (("cluster_label=env%3D%3D%3Dprod", "cluster labels: unable to parse"),
                           ("app_label=a+in+b", "application labels: unable to parse"),
                           ("revision=xyz", "revision: at least 4 hexadecimal characters")):
        answer = client.get(f"/?view=list&{query}")
        assert answer.status_code == 200
        assert hooks(answer.text, "notice") == 1 and message in answer.text, query
        assert keys(answer.text) == [], query
        assert "No target matches these filters." in answer.text


def test_unknown_values_in_the_query_are_ignored(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get(
        "/?view=list&sync=Bogus&health=%3Cb%3E&sort=nope&limit=7&desc=yes").text
    assert len(keys(html)) == 5
    assert "&lt;b&gt;" not in html and "Bogus" not in html
    assert hooks(dashboard.client.get("/?view=%3Cb%3E").text, "matrix") == 1


def test_badges_toggle_their_filter(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("viewer")
    html = client.get("/?view=list").text
    degraded = link(html, "count-health-Degraded")
    assert degraded == "/?view=list&health=Degraded"
    narrowed = client.get(degraded).text
    assert keys(narrowed) == ["checkout@staging"]
    assert link(narrowed, "count-health-Degraded") == "/?view=list"


def test_sort_links_order_the_rows_and_flip_the_direction(dashboard: Dashboard) -> None:
    w = dashboard.writer
    w.target("bravo", "c-1", at=NOW - 30, health=HealthStatus.DEGRADED)
    w.target("alpha", "c-2", at=NOW - 20)
    w.target("charlie", "c-0", at=NOW - 10, health=HealthStatus.PROGRESSING)
    client = dashboard.as_user("viewer")
    html = client.get("/?view=list").text
    assert keys(html) == ["alpha@c-2", "bravo@c-1", "charlie@c-0"]
    by_name = link(html, "sort-name")
    assert by_name is not None and keys(client.get(by_name).text) == ["charlie@c-0", "bravo@c-1", "alpha@c-2"]
    by_cluster = link(html, "sort-cluster")
    assert by_cluster is not None
    html = client.get(by_cluster).text
    assert keys(html) == ["charlie@c-0", "bravo@c-1", "alpha@c-2"]
    by_health = link(html, "sort-health")
    assert by_health is not None and keys(client.get(by_health).text)[0] == "bravo@c-1"   # worst first
    newest = link(html, "sort-reconciled")
    assert newest is not None and "desc=1" in newest
    assert keys(client.get(newest).text) == ["charlie@c-0", "alpha@c-2", "bravo@c-1"]


def test_paging_forward_with_the_cursor_and_back_with_the_stack(dashboard: Dashboard) -> None:
    fleet_grid(dashboard, 12, 3)
    for a in range(12):
        for c in range(3):
            dashboard.writer.target(f"app-{a:02d}", f"c-{c}")
    client = dashboard.as_user("viewer")
    first = client.get("/?view=list&limit=25").text
    assert len(keys(first)) == 25 and keys(first)[0] == "app-00@c-0"
    assert re.search(r'data-testid="page-range">1\u201325 of 36<', first)
    assert link(first, "page-prev") is None
    second_link = link(first, "page-next")
    assert second_link is not None
    second = client.get(second_link).text
    assert keys(second)[0] == "app-08@c-1" and len(keys(second)) == 11
    assert re.search(r'data-testid="page-range">26\u201336 of 36<', second)
    assert link(second, "page-next") is None
    back = link(second, "page-prev")
    assert back is not None
    assert keys(client.get(back).text) == keys(first)
    # three pages of 12 with a filter kept across pages, and back twice
    pages = [client.get("/?view=list&limit=25&cluster_label=env%3Dprod").text]
    assert re.search(r'of 24<', pages[0])                  # c-0 and c-1 are prod
    assert link(pages[0], "page-next") is None


def test_paging_back_through_several_pages(dashboard: Dashboard) -> None:
    fleet_grid(dashboard, 80, 1)
    for a in range(80):
        dashboard.writer.target(f"app-{a:02d}", "c-0")
    client = dashboard.as_user("viewer")
    seen = [client.get("/?view=list&limit=25").text]
    while (following := link(seen[-1], "page-next")) is not None:
        seen.append(client.get(following).text)
    assert [len(keys(p)) for p in seen] == [25, 25, 25, 5]
    assert re.search(r'data-testid="page-range">76\u201380 of 80<', seen[-1])
    current = seen[-1]
    for expected in reversed(seen[:-1]):
        previous = link(current, "page-prev")
        assert previous is not None
        current = client.get(previous).text
        assert keys(current) == keys(expected)
    assert link(current, "page-prev") is None


def test_a_cursor_the_index_refuses_falls_back_to_the_first_page(dashboard: Dashboard) -> None:
    seed(dashboard)
    answer = dashboard.as_user("viewer").get("/?view=list&cursor=not-a-cursor&back=-")
    assert answer.status_code == 200
    assert "That page link no longer works" in answer.text
    assert len(keys(answer.text)) == 5
    assert link(answer.text, "page-prev") is None


def test_the_filter_form_keeps_what_was_chosen(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get(
        "/?view=list&sync=OutOfSync&q=check&cluster=prod-eu&app_label=team%3Dpayments").text
    assert 'name="q" value="check"' in html
    assert re.search(r'value="OutOfSync" checked data-testid="filter-sync-OutOfSync"', html)
    assert '<option value="prod-eu" selected>' in html
    assert 'name="app_label" value="team=payments"' in html
    assert '<input type="hidden" name="view" value="list">' in html


def test_view_switch_keeps_the_filters(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/?view=list&health=Degraded").text
    matrix = link(html, "view-matrix")
    assert matrix == "/?health=Degraded"
    shown = dashboard.client.get(matrix).text
    assert hooks(shown, "matrix-cell") == 1
