"""The application page's action forms: Sync (prune, dry run), Refresh, Hard refresh. Operators only,
with the session's CSRF token; each enqueues through ctx.actions, is audited, and lands back on the
page with a message the server chose."""

from __future__ import annotations

import re

import pytest
from dashboard_kit import Dashboard, hooks

SYNC = "/applications/checkout/clusters/prod-eu/sync"


def test_an_operator_sees_the_forms_with_the_session_csrf_token(dashboard: Dashboard) -> None:
    html = dashboard.as_user("operator").get("/applications/checkout?cluster=prod-eu").text
    for button in ("sync-button", "refresh-button", "hard-refresh-button"):
        assert hooks(html, button) == 1
    forms = re.findall(r'<form method="post" action="([^"]+)".*?</form>', html, re.S)
    assert forms == ["/logout", SYNC, "/applications/checkout/clusters/prod-eu/refresh",
                     "/applications/checkout/clusters/prod-eu/hard-refresh"]
    for form in re.findall(r'<form method="post".*?</form>', html, re.S):
        assert '<input type="hidden" name="csrf" value="csrf-otto">' in form


def test_a_viewer_sees_no_buttons_and_is_refused(dashboard: Dashboard) -> None:
    client = dashboard.as_user("viewer")
    html = client.get("/applications/checkout?cluster=prod-eu").text
    assert hooks(html, "actions") == 0 and "sync-button" not in html
    answer = client.post(SYNC, data={"csrf": "csrf-vera"})
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert dashboard.actions.calls == []


def test_no_buttons_where_the_configuration_does_not_place_the_application(dashboard: Dashboard) -> None:
    dashboard.writer.target("checkout", "staging")          # checkout is placed on prod-eu only
    html = dashboard.as_user("operator").get("/applications/checkout?cluster=staging").text
    assert hooks(html, "actions") == 0
    answer = dashboard.client.post("/applications/checkout/clusters/staging/sync", data={"csrf": "csrf-otto"})
    assert answer.status_code == 404
    assert dashboard.actions.calls == []


@pytest.mark.parametrize("form", [{}, {"csrf": ""}, {"csrf": "csrf-vera"}, {"csrf": "csrf-otto "}])
def test_a_post_without_the_right_csrf_token_is_refused(dashboard: Dashboard, form: dict[str, str]) -> None:
    answer = dashboard.as_user("operator").post(SYNC, data=form)
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert dashboard.actions.calls == []
    assert dashboard.audit.entries() == []


def test_a_csrf_token_in_the_query_string_does_not_count(dashboard: Dashboard) -> None:
    answer = dashboard.as_user("operator").post(SYNC + "?csrf=csrf-otto")
    assert answer.status_code == 403
    assert dashboard.actions.calls == []


def test_sync_enqueues_with_its_options_audits_and_redirects_with_a_message(dashboard: Dashboard) -> None:
    client = dashboard.as_user("operator")
    answer = client.post(SYNC, data={"csrf": "csrf-otto", "prune": "1", "dry_run": "1", "force": "1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == ("/applications/checkout?cluster=prod-eu"
                                          "&done=sync-dry-run&task=task-1")
    assert dashboard.actions.calls == [
        ("sync", "checkout", "prod-eu", {"prune": True, "dry_run": True, "detail": "otto via dashboard",
                                         "force": True})]
    [entry] = dashboard.audit.entries()
    assert (entry.actor, entry.action, entry.target) == ("otto", "sync", "checkout@prod-eu")
    assert entry.detail == "prune=true dry_run=true force=true task=task-1 via dashboard"
    assert entry.remote == "testclient"
    page = client.get(answer.headers["location"]).text
    assert re.search(r'data-testid="flash">Dry-run sync queued: task task-1<', page)


def test_sync_without_options(dashboard: Dashboard) -> None:
    answer = dashboard.as_user("admin").post(SYNC, data={"csrf": "csrf-ada"})
    assert answer.status_code == 303
    assert dashboard.actions.calls == [
        ("sync", "checkout", "prod-eu", {"prune": False, "dry_run": False, "detail": "ada via dashboard"})]


def test_refresh_and_hard_refresh(dashboard: Dashboard) -> None:
    client = dashboard.as_user("operator")
    answer = client.post("/applications/checkout/clusters/prod-eu/refresh", data={"csrf": "csrf-otto"})
    assert answer.headers["location"].endswith("&done=refresh&task=task-1")
    dashboard.actions.coalesce.add("checkout@prod-eu")
    answer = client.post("/applications/checkout/clusters/prod-eu/refresh", data={"csrf": "csrf-otto"})
    assert answer.headers["location"] == "/applications/checkout?cluster=prod-eu&done=refresh-coalesced"
    page = client.get(answer.headers["location"]).text
    assert "A refresh of this target is already queued" in page
    answer = client.post("/applications/checkout/clusters/prod-eu/hard-refresh", data={"csrf": "csrf-otto"})
    assert answer.headers["location"].endswith("&done=hard-refresh&task=task-3")
    assert [(c[0], c[3]) for c in dashboard.actions.calls] == [
        ("reconcile", {"trigger": "manual", "detail": "otto via dashboard"}),
        ("reconcile", {"trigger": "manual", "detail": "otto via dashboard"}),
        ("hard-refresh", {"detail": "otto via dashboard"})]
    assert [e.action for e in dashboard.audit.entries()] == ["hard-refresh", "refresh", "refresh"]
    assert dashboard.audit.entries()[1].detail == "task=coalesced via dashboard"


@pytest.mark.parametrize("path", [
    "/applications/nope/clusters/prod-eu/sync", "/applications/checkout/clusters/nope/sync",
    "/applications/checkout/clusters/prod-eu/delete", "/applications/Bad_Name/clusters/prod-eu/sync",
    "/applications/search/clusters/staging/sync"])
def test_unknown_targets_and_actions_are_404(dashboard: Dashboard, path: str) -> None:
    answer = dashboard.as_user("operator").post(path, data={"csrf": "csrf-otto"})
    assert answer.status_code == 404
    assert dashboard.actions.calls == []


def test_a_scoped_operator_cannot_act_on_other_applications(dashboard: Dashboard) -> None:
    from dashboard_kit import DEFAULT_APPS, DEFAULT_CLUSTERS, fleet_of

    dashboard.use_fleet(fleet_of(DEFAULT_APPS, DEFAULT_CLUSTERS, {"search": "prod-eu"}))
    client = dashboard.as_user("payments")
    other = client.post("/applications/search/clusters/prod-eu/sync", data={"csrf": "csrf-pat"})
    assert other.status_code == 404
    assert client.post(SYNC, data={"csrf": "csrf-pat"}).status_code == 303
    assert [c[1] for c in dashboard.actions.calls] == ["checkout"]


def test_the_message_comes_from_a_fixed_list(dashboard: Dashboard) -> None:
    client = dashboard.as_user("viewer")
    html = client.get("/applications/checkout?done=%3Cscript%3Ealert(1)%3C/script%3E&task=x").text
    assert hooks(html, "flash") == 0
    html = client.get("/applications/checkout?done=sync&task=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E").text
    assert re.search(r'data-testid="flash">Sync queued: task &lt;img src=x onerror=alert\(1\)&gt;<', html)
