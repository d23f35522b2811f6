"""Each page of the dashboard renders what the state and the configuration hold: overview (matrix and
list, counts), application (clusters, objects, drift with who changed it, history, trace, manifests),
clusters, one cluster, webhook deliveries; the fragments app.js swaps in; who sees what."""

from __future__ import annotations

import re
from dataclasses import replace

from dashboard_kit import NOW, REVISION, Dashboard, fleet_of, hooks

from gitops.errors import Failure
from gitops.results import ImageCheck
from gitops.state import DriftRecord, ObjectRecord
from gitops.state.deliveries import Delivery, Verdict
from gitops.state.index import RenderedManifests
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, SyncStatus, Target, Trigger

DOWN = Failure("ClusterUnavailable", "GET https://prod-us.k8s.example.com:6443/api: connection refused", True)


def seed(d: Dashboard) -> None:
    w = d.writer
    w.target("checkout", "prod-eu", sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.PROGRESSING,
             drift=(DriftRecord("Deployment/shop/web", ".spec.replicas", "5", "3", "kubectl-edit",
                                NOW - 3600),))
    w.target("checkout", "prod-us", failure=DOWN, sync=SyncStatus.UNKNOWN, health=HealthStatus.UNKNOWN)
    w.target("ledger", "prod-eu")
    w.target("search", "staging", health=HealthStatus.DEGRADED)


def test_overview_matrix_shows_applications_against_clusters_with_badges_and_counts(
        dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/").text
    assert hooks(html, "matrix") == 1
    assert hooks(html, "matrix-row") == 3              # checkout, ledger, search
    assert hooks(html, "matrix-cell") == 4             # the four targets; the other cells are empty
    assert html.count('class="cell empty"') == 3 * 3 - 4
    cell = re.search(r'<td class="cell" data-target="checkout@prod-eu".*?</td>', html, re.S)
    assert cell is not None
    assert 'data-value="OutOfSync"' in cell.group(0) and 'data-value="Progressing"' in cell.group(0)
    assert 'href="/applications/checkout?cluster=prod-eu"' in cell.group(0)
    counts = re.search(r'data-testid="counts".*?</section>', html, re.S)
    assert counts is not None
    assert re.search(r'data-testid="count-total">4<', counts.group(0))
    assert re.search(r'data-testid="count-sync-Synced".*?<b>2</b>', counts.group(0), re.S)
    assert re.search(r'data-testid="count-health-Degraded".*?<b>1</b>', counts.group(0), re.S)
    assert re.search(r'data-testid="count-drifted">Drifted<b>1</b>', counts.group(0))
    assert re.search(r'data-testid="count-failed">Failed<b>1</b>', counts.group(0))
    # the user and a logout form with the session's CSRF token
    assert '<span class="user-name">vera</span>' in html
    assert re.search(r'action="/logout".*?name="csrf" value="csrf-vera"', html, re.S)


def test_overview_list_has_one_row_per_target_with_revision_drift_time_and_error(
        dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/?view=list").text
    assert hooks(html, "target-row") == 4
    row = re.search(r'<tr class="target-row" data-target="checkout@prod-us".*?</tr>', html, re.S)
    assert row is not None
    assert REVISION[:7] + "</code>" in row.group(0)
    assert "5 min ago" in row.group(0)                   # reconciled 300 s before the clock's now
    assert "connection refused" in row.group(0)
    drifted = re.search(r'data-target="checkout@prod-eu".*?</tr>', html, re.S)
    assert drifted is not None and 'data-testid="drift-count">1<' in drifted.group(0)


def test_empty_state_says_nothing_was_reconciled(dashboard: Dashboard) -> None:
    html = dashboard.as_user("viewer").get("/").text
    assert "No target has been reconciled yet." in html


def test_application_page_shows_status_objects_drift_with_manager_history_trace_and_manifests(
        dashboard: Dashboard) -> None:
    w = dashboard.writer
    w.target("checkout", "prod-us")
    w.target("checkout", "prod-eu", at=NOW - 3000, trigger=Trigger.POLL)
    spans = (SpanRecord("resolve", NOW - 62.0, 0.5), SpanRecord("render", NOW - 61.5, 0.5),
             SpanRecord("apply", NOW - 61.0, 1.0, error="conflict", attributes={"objects": "3"}))
    objects = (ObjectRecord("Deployment/shop/web", "configured", "replicas 5 -> 3", health="Progressing"),
               ObjectRecord("Service/shop/web", "unchanged", health="Healthy"),
               ObjectRecord("Secret/shop/db", "failed", error="forbidden", health="Degraded"))
    drift = (DriftRecord("Deployment/shop/web", ".spec.replicas", "5", "3", "kubectl-edit", NOW - 3600),
             DriftRecord("ConfigMap/shop/cfg", ".data", '{"a": "1"}', '{"a": "2"}', None))
    w.target("checkout", "prod-eu", sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.PROGRESSING, at=NOW - 60,
             objects=objects, drift=drift, spans=spans, trigger=Trigger.WEBHOOK,
             trigger_detail="github delivery 72d3162e")
    dashboard.store.keep_manifests(Target("checkout", "prod-eu"), RenderedManifests(
        "sha256:0123456789abcdef", "op-3", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"))

    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu").text
    assert '<h1 data-testid="app-name">checkout</h1>' in html
    assert hooks(html, "app-cluster-row") == 2
    assert re.search(r'<tr class="chosen" data-target="checkout@prod-eu"', html)
    # objects, worst health first
    rows = re.findall(r'data-testid="object-row"><td><code>([^<]+)</code>', html)
    assert rows == ["Secret/shop/db", "Deployment/shop/web", "Service/shop/web"]
    # drift: who changed it and when; pretty JSON values; unified by default
    assert 'class="drift drift-unified"' in html
    assert hooks(html, "drift-item") == 2
    assert "changed by <b>kubectl-edit</b> at <time" in html
    assert ">2025-06-15T14:06:40Z</time>" in html         # NOW - 3600 in UTC
    assert "changed by <b>an unknown manager</b>" in html
    assert '<span class="line">  &#34;a&#34;: &#34;1&#34;</span>' in html
    # history, newest first, with the trigger's detail and per-object results in <details>
    items = re.findall(r'data-testid="history-item" data-operation="([^"]+)"', html)
    assert items == ["op-3", "op-2"]
    assert 'data-testid="trigger-detail">github delivery 72d3162e<' in html
    assert '<details id="op-op-3"' in html and '1 configured' in html
    # the trace: one bar per span, laid out on the whole operation (0.5 s of 2 s = 25 %)
    assert hooks(html, "span") == 3
    assert '<rect class="bar-ok" x="0.0" y="0" width="25.0" height="10">' in html
    assert '<rect class="bar-error" x="50.0" y="0" width="50.0" height="10">' in html
    # manifests, and a link to the API's text
    assert "kind: ConfigMap" in html
    assert 'href="/api/v1/applications/checkout/clusters/prod-eu/manifests"' in html


def test_drift_a_heal_corrected_is_named_on_the_drift_card_and_in_history(dashboard: Dashboard) -> None:
    fixed = DriftRecord("ConfigMap/shop/cfg", ".data.greeting", '"<img src=x onerror=alert(1)>"', '"hi"',
                        "kubectl-edit", NOW - 30)
    dashboard.writer.target("checkout", "prod-eu", trigger=Trigger.SELF_HEAL, corrected=(fixed,))
    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu").text
    assert hooks(html, "no-drift") == 1 and hooks(html, "drift-item") == 0  # nothing drifts now
    assert hooks(html, "corrected-drift") == 1 and hooks(html, "corrected-item") == 1
    assert "changed by <b>kubectl-edit</b> at <time" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert re.search(r'data-testid="corrected-count">corrected 1 drifted field: '
                     r'<code>\.data\.greeting</code> \(changed by kubectl-edit\)', html)


def test_application_page_lists_the_verdict_of_each_image_escaped(dashboard: Dashboard) -> None:
    signed = ImageCheck("reg.example/shop/web:1", "sha256:" + "a" * 64, "verified",
                        ("key SHA256:k1",), (), NOW - 70)
    refused = ImageCheck('reg.example/shop/side:2"><script>alert(1)</script>', None, "refused", (),
                         ("policy shop rule all: keys: no signature <b>at all</b>",), NOW - 70)
    warned = ImageCheck("docker.io/library/redis:7", "sha256:" + "b" * 64, "warned", (),
                        ("policy shop rule hub (warn): keyless: no bundle",), NOW - 70)
    dashboard.writer.target("checkout", "prod-eu", at=NOW - 60, verification=(signed, refused, warned),
                            failure=Failure("VerificationFailed", "1 of 3 image(s) refused by the policy"))
    dashboard.writer.target("checkout", "prod-us", at=NOW - 60)
    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu").text
    assert hooks(html, "image-row") == 3
    assert re.findall(r'data-testid="image-row" data-verdict="([a-z-]+)"', html) == ["verified", "refused",
                                                                                     "warned"]
    assert '<span class="badge image-refused">refused</span>' in html
    assert "key SHA256:k1" in html and "<script>alert(1)" not in html and "<b>at all</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;at all&lt;/b&gt;" in html
    assert "<b>VerificationFailed</b>" in html  # the status's error names the kind
    other = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-us").text
    assert 'data-testid="images-card"' not in other  # no policy applied there


def test_an_operation_that_only_compared_says_so(dashboard: Dashboard) -> None:
    objects = (ObjectRecord("ConfigMap/shop/cfg", "configured", health="Healthy"),)
    op = dashboard.writer.target("checkout", "prod-eu", objects=objects)
    dashboard.store.record(None, replace(op, applied=False))
    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu").text
    assert hooks(html, "compared-only") == 1 and "Would be (nothing written)" in html
    dashboard.store.record(None, replace(op, applied=True))
    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu").text
    assert hooks(html, "compared-only") == 0 and "Last action" in html


def test_application_page_split_drift_layout_is_chosen_by_the_query(dashboard: Dashboard) -> None:
    dashboard.writer.target("checkout", "prod-eu",
                            drift=(DriftRecord("Deployment/a/b", ".x", "1", "2", "m"),))
    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu&drift=split").text
    assert 'class="drift drift-split"' in html


def test_application_page_defaults_to_its_first_cluster_and_shows_a_running_sync(
        dashboard: Dashboard) -> None:
    dashboard.writer.target("checkout", "prod-eu")
    dashboard.writer.running("checkout", "prod-eu")
    html = dashboard.as_user("viewer").get("/applications/checkout").text
    banner = re.search(r'<div class="notice running" data-testid="sync-running".*?</div>', html, re.S)
    assert banner is not None and "otto via dashboard" in banner.group(0)
    assert re.search(r'data-testid="history-item" data-operation="op-2"', html)


def test_configured_application_without_status_renders(dashboard: Dashboard) -> None:
    html = dashboard.as_user("viewer").get("/applications/search").text
    assert "No status recorded for this target yet." in html
    assert "Not reconciled on any cluster yet." in html


def test_live_fragment_is_the_live_section_alone(dashboard: Dashboard) -> None:
    dashboard.writer.target("checkout", "prod-eu")
    answer = dashboard.as_user("viewer").get("/applications/checkout/live?cluster=prod-eu")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="live-section"')
    assert "<html" not in answer.text


def test_target_fragments_render_rows_and_cells_with_running_state(dashboard: Dashboard) -> None:
    seed(dashboard)
    dashboard.writer.running("ledger", "prod-eu")
    answer = dashboard.as_user("viewer").get(
        "/fragments/targets?target=ledger@prod-eu&target=checkout@prod-eu&target=nope@x&target=<b>")
    assert answer.status_code == 200
    html = answer.text
    assert len(re.findall(r'data-part="row"', html)) == 2
    assert len(re.findall(r'data-part="cell"', html)) == 2
    assert re.search(r'<tr class="target-row is-running" data-target="ledger@prod-eu"', html)
    assert re.search(r'<tr class="target-row" data-target="checkout@prod-eu"', html)


def test_clusters_page_lists_labels_server_counts_and_reachability(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/clusters").text
    assert hooks(html, "cluster-row") == 3
    us = re.search(r'data-cluster="prod-us".*?</tr>', html, re.S)
    assert us is not None
    assert ">unreachable<" in us.group(0)
    assert "https://prod-us.k8s.example.com:6443" in us.group(0)
    assert "TOKEN_PROD_US" not in html                    # credentials are never shown
    eu = re.search(r'data-cluster="prod-eu".*?</tr>', html, re.S)
    assert eu is not None and ">reachable<" in eu.group(0)
    assert '<span class="label-value">eu</span>' in eu.group(0)
    filtered = dashboard.client.get("/clusters?label=env%3Dprod").text
    assert hooks(filtered, "cluster-row") == 2
    named = dashboard.client.get("/clusters?q=stag").text
    assert hooks(named, "cluster-row") == 1
    bad = dashboard.client.get("/clusters?label=env%3D%3D%3Dx").text
    assert hooks(bad, "notice") == 1 and hooks(bad, "cluster-row") == 0


def test_cluster_page_shows_its_targets_and_why_it_is_unreachable(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/clusters/prod-us").text
    assert 'data-testid="reachability">unreachable<' in html
    assert re.search(r'data-testid="reachability-message">Unreachable when checkout@prod-us was reconciled '
                     r'5 min ago: GET https://prod-us', html)
    assert hooks(html, "target-row") == 1
    eu = dashboard.client.get("/clusters/prod-eu").text
    assert hooks(eu, "target-row") == 2
    assert "reachability-message" not in eu


def test_unknown_pages_are_html_404s(dashboard: Dashboard) -> None:
    client = dashboard.as_user("viewer")
    for path in ("/applications/nope", "/clusters/nope", "/applications/NOT_A_NAME", "/no/such/page"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert 'data-testid="error-page"' in answer.text


def test_webhooks_page_lists_deliveries_with_what_they_triggered_or_why_not(dashboard: Dashboard) -> None:
    dashboard.deliveries.record(Delivery(
        id="72d3162e-cc78", provider="github", receiver="main", event="push",
        repository="https://github.com/org/apps.git", ref="refs/heads/main", commit=REVISION,
        verdict=Verdict.ACCEPTED, triggered=(("checkout@prod-eu", "task-9"), ("ledger@prod-eu", "coalesced")),
        time=NOW - 70, remote="140.82.115.3"))
    dashboard.deliveries.record(Delivery(
        id="b", provider="gitlab", event="Push Hook", verdict=Verdict.IGNORED,
        reason="no application follows refs/heads/feature", time=NOW - 10))
    html = dashboard.as_user("viewer").get("/webhooks").text
    assert hooks(html, "delivery-row") == 2
    assert html.index("Push Hook") < html.index("72d3162e")  # newest first
    assert ('href="/applications/checkout?cluster=prod-eu">checkout@prod-eu</a> '
            '<span class="muted">task-9') in html
    assert "already queued" in html
    assert "no application follows refs/heads/feature" in html
    assert 'data-testid="verdict">accepted<' in html


def test_webhooks_page_without_receivers(dashboard: Dashboard) -> None:
    dashboard.ctx.deliveries = None
    html = dashboard.as_user("viewer").get("/webhooks").text
    assert "Webhook receivers are not configured" in html


def test_pages_need_a_login(dashboard: Dashboard) -> None:
    client = dashboard.as_user(None)
    for path in ("/", "/applications/checkout", "/clusters", "/webhooks", "/fragments/targets",
                 "/fragments/counts"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")


def test_a_scoped_principal_sees_only_its_applications(dashboard: Dashboard) -> None:
    seed(dashboard)                                      # payments: checkout, ledger; discovery: search
    dashboard.deliveries.record(Delivery(
        id="d1", provider="github", event="push", verdict=Verdict.ACCEPTED,
        triggered=(("ledger@prod-eu", "t1"), ("search@staging", "t2")), time=NOW))
    client = dashboard.as_user("payments")
    html = client.get("/?view=list").text
    assert hooks(html, "target-row") == 3
    assert "search" not in re.findall(r'data-target="([a-z-]+)@', html)
    assert client.get("/applications/search").status_code == 404
    assert client.get("/applications/checkout").status_code == 200
    fragment = client.get("/fragments/targets?target=search@staging&target=ledger@prod-eu").text
    assert "search@staging" not in fragment and "ledger@prod-eu" in fragment
    clusters = client.get("/clusters").text
    staging = re.search(r'data-cluster="staging".*?</tr>', clusters, re.S)
    assert staging is not None and ">unknown<" in staging.group(0)   # its only target is not theirs
    webhooks = client.get("/webhooks").text
    assert "ledger@prod-eu" in webhooks and "search@staging" not in webhooks
    assert "and 1 targets you cannot see" in webhooks


def test_an_unconfigured_application_with_state_is_still_shown(dashboard: Dashboard) -> None:
    dashboard.writer.target("retired", "prod-eu")
    html = dashboard.as_user("viewer").get("/applications/retired").text
    assert "not in the configuration any more" in html
    assert 'data-testid="actions"' not in dashboard.as_user("operator").get("/applications/retired").text


def test_the_fleet_can_change_between_requests(dashboard: Dashboard) -> None:
    dashboard.use_fleet(fleet_of({"solo": {}}, {"only": {}}))
    html = dashboard.as_user("viewer").get("/clusters").text
    assert hooks(html, "cluster-row") == 1


def test_long_manifests_are_shortened_on_the_page_with_a_link_to_all_of_them(dashboard: Dashboard) -> None:
    dashboard.writer.target("checkout", "prod-eu")
    text = "".join(f"# line {i:06d} of a long manifest\n" for i in range(10_000))   # 340,000 characters
    dashboard.store.keep_manifests(Target("checkout", "prod-eu"), RenderedManifests("sha256:1", "op-1", text))
    html = dashboard.as_user("viewer").get("/applications/checkout?cluster=prod-eu").text
    assert "# line 000000 of" in html and "# line 009999 of" not in html
    assert "shortened here; the full text is behind the link" in html
    assert hooks(html, "manifests-raw") == 1
