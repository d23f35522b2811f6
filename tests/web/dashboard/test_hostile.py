"""Hostile text in every place the dashboard shows untrusted values comes out as text: labels,
messages, drift values and managers, object results, trigger details, spans, manifests, webhook
deliveries, filters echoed back. And no page carries inline script or style (the CSP forbids both):
every ``<script>`` has a ``src``, no ``style=``, no ``on*=``."""

from __future__ import annotations

import re

from dashboard_kit import NOW, Dashboard, fleet_of, inert_problems

from gitops.errors import Failure
from gitops.state import DriftRecord, ObjectRecord
from gitops.state.deliveries import Delivery, Verdict
from gitops.state.index import RenderedManifests
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, SyncStatus, Target

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "'><svg onload=alert(1)>"
HOSTILE = SCRIPT + IMG + SVG
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
           "&#39;&gt;&lt;svg onload=alert(1)&gt;")


def seed(d: Dashboard) -> None:
    d.use_fleet(fleet_of({"checkout": {"team": HOSTILE, HOSTILE: "x"}, "ledger": {}},
                         {"prod-eu": {"env": HOSTILE}, "prod-us": {}}))
    failure = Failure("ClusterUnavailable" + SCRIPT, "refused " + HOSTILE, True)
    d.writer.target(
        "checkout", "prod-eu", sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.DEGRADED,
        drift=(DriftRecord("Deployment/shop/" + IMG, ".spec" + SVG, '"' + SCRIPT + '"',
                           '{"x": "' + IMG + '"}', "manager" + HOSTILE, NOW - 60),),
        objects=(ObjectRecord("ConfigMap/a/" + SCRIPT, "configured" + IMG, "msg " + HOSTILE,
                              health="Healthy"),
                 ObjectRecord("Secret/a/b", "failed", error="err " + HOSTILE)),
        spans=(SpanRecord("render" + SCRIPT, NOW - 10, 1.0, error="boom" + IMG, attributes={SVG: HOSTILE}),),
        trigger_detail="github delivery " + HOSTILE)
    d.writer.target("checkout", "prod-us", failure=failure, sync=SyncStatus.UNKNOWN,
                    health=HealthStatus.UNKNOWN)
    d.store.keep_manifests(Target("checkout", "prod-eu"), RenderedManifests(
        "sha256:" + "0" * 64, "op-1", "kind: ConfigMap\ndata:\n  x: '" + HOSTILE + "'\n"))
    d.deliveries.record(Delivery(
        id="id" + SCRIPT, provider="github", receiver="r" + IMG, event="push" + SVG,
        repository="https://example.com/" + HOSTILE, ref="refs/heads/" + SCRIPT, commit="c" + IMG,
        verdict=Verdict.IGNORED, reason="because " + HOSTILE,
        triggered=(("checkout@prod-eu", "task" + HOSTILE), (HOSTILE, "x")), time=NOW, remote=IMG))


PAGES = ["/", "/?view=list", "/applications/checkout?cluster=prod-eu",
         "/applications/checkout?cluster=prod-us", "/applications/checkout?cluster=prod-eu&drift=split",
         "/applications/checkout/live?cluster=prod-eu",
         "/fragments/targets?target=checkout@prod-eu&target=checkout@prod-us", "/clusters",
         "/clusters/prod-eu", "/clusters/prod-us", "/webhooks", "/?view=list&health=Degraded&q=check",
         "/applications/nope", "/nope"]


def test_hostile_values_are_rendered_as_text_everywhere(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("operator")
    seen = {path: client.get(path).text for path in PAGES}
    everything = "\n".join(seen.values())
    for raw in (SCRIPT, "<img", "<svg onload"):
        assert raw not in everything
    for path, html in seen.items():
        assert inert_problems(html) == [], path
    for escaped in ESCAPED:
        assert escaped in seen["/applications/checkout?cluster=prod-eu"]   # labels, drift, objects, trace...
        assert escaped in seen["/webhooks"]                                 # reason, repository...
        assert escaped in seen["/clusters"]                                 # cluster labels
    assert "refused " + ESCAPED[0] in seen["/?view=list"]                   # error messages
    assert "x: &#39;" + ESCAPED[0] in seen["/applications/checkout?cluster=prod-eu"]   # manifests


def test_filters_echoed_back_are_escaped(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("viewer")
    for query in ("q=" + "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
                  "app_label=%3Cscript%3Ealert(1)%3C/script%3E",
                  "cluster_label=a%3D%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
                  "cluster=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
                  "revision=%3Cscript%3E"):
        html = client.get("/?view=list&" + query).text
        assert inert_problems(html) == [], query
        assert "<script>alert" not in html and "<img" not in html, query
    clusters = client.get("/clusters?q=%3Cscript%3E&label=%3Cimg%20src%3Dx%3E").text
    assert inert_problems(clusters) == [] and "<img" not in clusters


def test_pages_load_only_their_own_script_and_stylesheet(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/").text
    assert html.count("<script") == 1 and '<script src="/static/app.js?v=' in html
    assert html.count('rel="stylesheet"') == 1 and 'href="/static/app.css?v=' in html
    assets = re.findall(r'<(?:link|script)[^>]*(?:href|src)="([^"]*)"', html)
    assert len(assets) == 3 and all(a.startswith(("/static/", "data:image/svg+xml,")) for a in assets)
    for path in ("/static/app.js", "/static/app.css"):
        answer = dashboard.client.get(path)
        assert answer.status_code == 200, path
    headers = dashboard.client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "style-src 'self'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"          # what one user may see is never cached


def test_the_javascript_never_writes_html_from_data() -> None:
    from web.dashboard.render import STATIC

    source = (STATIC / "app.js").read_text()
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                      "new Function"):
        assert forbidden not in source, forbidden
