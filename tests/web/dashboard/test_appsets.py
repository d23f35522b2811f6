"""The ApplicationSet pages: the list and one set (the held change with Approve, Pause / Resume, the
rollout's clusters, the last pass's errors, tombstones with Restore); buttons for operators only, forms
with the session's CSRF token, audited verbs landing back with a message the server chose; hostile
text from Redis and repositories (errors, notes, reasons, held names, labels) rendered inert."""

from __future__ import annotations

import json
import re

import pytest
from dashboard_kit import NOW, Dashboard, hooks, inert_problems

from gitops.appset.controller import load_state
from gitops.appset.record import AppSetState, GeneratedApp, LastRun, PendingChange
from gitops.appset.rollout import RolloutState
from gitops.clock import ManualClock
from gitops.state.appsets import InMemoryAppSets, Tombstone

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE = SCRIPT + IMG
REV = "3f2a9c1d4b5e6f708192a3b4c5d6e7f809102030"


def app(name: str, cluster: str, team: str = "payments", **labels: str) -> GeneratedApp:
    return GeneratedApp.of({"name": name, "labels": {"team": team, **labels},
                            "destination": {"cluster": cluster},
                            "source": {"repository": "apps", "path": "apps/x", "revision": REV}})


def seed(d: Dashboard, *, hostile: str = "") -> InMemoryAppSets:
    store = InMemoryAppSets(clock=ManualClock(NOW))
    d.ctx.appsets = store
    apps = {a.name: a for a in (app("shop-eu", "prod-eu", note=hostile), app("shop-us", "prod-us"))}
    held = PendingChange("c0ffee12", ("shop-us", "gone" + hostile), (), "2 of 2 over the breaker " + hostile,
                         NOW - 600)
    rollout = RolloutState("r1", NOW - 900, 1, "WaitingApproval", {"prod-eu": NOW - 800},
                           {"prod-eu": NOW - 700}, message="step 2 waits for an approval " + hostile)
    run = LastRun(NOW - 30, True, ("template: element 3: " + hostile,), ("git: timeout " + hostile,),
                  ("note " + hostile,))
    store.save("shop", AppSetState("shop", apps, apps, held, rollout, False, run).to_json(), 0)
    store.save("search", AppSetState("search", {"s": app("s", "staging", team="discovery")},
                                     last_run=LastRun(NOW - 5)).to_json(), 0)
    store.bury(Tombstone("shop", "shop-old", json.dumps(dict(app("shop-old", "staging").document)), NOW - 100,
                         NOW + 3600, "no longer generated " + hostile))
    return store


def test_the_list_shows_every_set_and_the_navigation_links_it(dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/applicationsets").text
    assert hooks(html, "nav-appsets") == 1 and 'href="/applicationsets"' in html
    assert re.findall(r'data-testid="appset-row" data-appset="([^"]+)"', html) == ["search", "shop"]
    assert hooks(html, "held") == 1 and "c0ffee12" in html
    assert 'data-value="WaitingApproval"' in html
    overview = dashboard.client.get("/").text
    assert hooks(overview, "nav-appsets") == 1


def test_the_page_of_a_set_shows_the_held_change_the_rollout_errors_and_tombstones(
        dashboard: Dashboard) -> None:
    seed(dashboard)
    html = dashboard.as_user("viewer").get("/applicationsets/shop").text
    assert hooks(html, "held-change") == 1 and "c0ffee12" in html and "2 of 2 over the breaker" in html
    assert hooks(html, "rollout-cluster") == 1 and "step 2 waits for an approval" in html
    assert hooks(html, "run-error") == 1 and hooks(html, "run-failure") == 1 and hooks(html, "run-note") == 1
    assert hooks(html, "appset-app") == 2 and hooks(html, "tombstone") == 1
    assert '<a href="/applications/shop-eu?cluster=prod-eu">shop-eu</a>' in html


def test_operators_get_the_buttons_with_the_session_csrf_token_viewers_none(dashboard: Dashboard) -> None:
    seed(dashboard)
    viewer = dashboard.as_user("viewer").get("/applicationsets/shop").text
    buttons = ("approve-button", "approve-step-button", "pause-button", "resume-button", "restore-button")
    for button in buttons:
        assert hooks(viewer, button) == 0
    assert re.findall(r'<form method="post" action="([^"]+)"', viewer) == ["/logout"]
    html = dashboard.as_user("operator").get("/applicationsets/shop").text
    for button in ("approve-button", "approve-step-button", "pause-button", "restore-button"):
        assert hooks(html, button) == 1
    assert re.findall(r'<form method="post" action="([^"]+)"', html) == [
        "/logout", "/applicationsets/shop/pause", "/applicationsets/shop/approve",
        "/applicationsets/shop/approve", "/applicationsets/shop/tombstones/shop-old/restore"]
    for form in re.findall(r'<form method="post".*?</form>', html, re.S):
        assert '<input type="hidden" name="csrf" value="csrf-otto">' in form
    assert '<input type="hidden" name="change" value="c0ffee12">' in html


def test_approve_from_the_page_is_audited_and_lands_back_with_a_fixed_message(dashboard: Dashboard) -> None:
    store = seed(dashboard)
    client = dashboard.as_user("operator")
    answer = client.post("/applicationsets/shop/approve", data={"csrf": "csrf-otto", "change": "c0ffee12"})
    assert answer.status_code == 303 and answer.headers["location"] == "/applicationsets/shop?done=approve"
    assert load_state(store, "shop")[0].pending.approved  # type: ignore[union-attr]
    [entry] = dashboard.audit.entries()
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        "otto", "appset-approve", "applicationset/shop", "change=c0ffee12 via dashboard")
    page = client.get(answer.headers["location"]).text
    assert hooks(page, "flash") == 1 and "Approved: the controller applies it" in page
    assert hooks(page, "held-approved") == 1 and hooks(page, "approve-button") == 0


def test_another_change_id_is_refused_with_the_reason(dashboard: Dashboard) -> None:
    store = seed(dashboard)
    answer = dashboard.as_user("operator").post("/applicationsets/shop/approve",
                                                data={"csrf": "csrf-otto", "change": "<b>other</b>"})
    assert answer.status_code == 409 and answer.headers["content-type"].startswith("text/html")
    assert "the held change is c0ffee12" in answer.text and "<b>other</b>" not in answer.text
    assert not load_state(store, "shop")[0].pending.approved  # type: ignore[union-attr]


def test_pause_resume_and_restore_from_the_page(dashboard: Dashboard) -> None:
    store = seed(dashboard)
    client = dashboard.as_user("operator")
    assert client.post("/applicationsets/shop/pause", data={"csrf": "csrf-otto"}).status_code == 303
    assert load_state(store, "shop")[0].paused
    html = client.get("/applicationsets/shop?done=pause").text
    assert hooks(html, "resume-button") == 1 and hooks(html, "pause-button") == 0
    assert hooks(html, "flash") == 1
    assert client.post("/applicationsets/shop/resume", data={"csrf": "csrf-otto"}).status_code == 303
    assert not load_state(store, "shop")[0].paused
    restored = client.post("/applicationsets/shop/tombstones/shop-old/restore", data={"csrf": "csrf-otto"})
    assert restored.status_code == 303 and load_state(store, "shop")[0].kept == ("shop-old",)
    assert hooks(client.get("/applicationsets/shop").text, "unkeep-button") == 1
    assert client.post("/applicationsets/shop/applications/shop-old/delete",
                       data={"csrf": "csrf-otto"}).status_code == 303
    assert load_state(store, "shop")[0].kept == ()


@pytest.mark.parametrize("form", [{}, {"csrf": ""}, {"csrf": "csrf-vera"}])
def test_a_form_without_the_right_csrf_token_is_refused(dashboard: Dashboard, form: dict[str, str]) -> None:
    store = seed(dashboard)
    answer = dashboard.as_user("operator").post("/applicationsets/shop/pause", data=form)
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert not load_state(store, "shop")[0].paused and dashboard.audit.entries() == []


def test_a_viewer_is_refused(dashboard: Dashboard) -> None:
    store = seed(dashboard)
    answer = dashboard.as_user("viewer").post("/applicationsets/shop/pause", data={"csrf": "csrf-vera"})
    assert answer.status_code == 403 and not load_state(store, "shop")[0].paused


def test_a_scoped_user_sees_only_its_sets(dashboard: Dashboard) -> None:
    seed(dashboard)
    client = dashboard.as_user("payments")
    html = client.get("/applicationsets").text
    assert re.findall(r'data-appset="([^"]+)"', html) == ["shop"]
    assert client.get("/applicationsets/search").status_code == 404
    assert client.post("/applicationsets/search/pause", data={"csrf": "csrf-pat"}).status_code == 404


def test_unknown_sets_and_no_store(dashboard: Dashboard) -> None:
    client = dashboard.as_user("viewer")
    html = client.get("/applicationsets").text
    assert hooks(html, "empty") == 1 and "not available" in html
    assert client.get("/applicationsets/shop").status_code == 503
    seed(dashboard)
    assert client.get("/applicationsets/nope").status_code == 404
    assert client.get("/applicationsets/%3Cscript%3E").status_code == 404
    assert client.post("/applicationsets/shop/explode", data={"csrf": "csrf-vera"}).status_code == 403
    assert dashboard.as_user("operator").post("/applicationsets/shop/explode",
                                              data={"csrf": "csrf-otto"}).status_code == 404


@pytest.mark.parametrize("user", ["viewer", "operator"])
def test_hostile_text_is_rendered_inert(dashboard: Dashboard, user: str) -> None:
    seed(dashboard, hostile=HOSTILE)
    client = dashboard.as_user(user)
    for path in ("/applicationsets", "/applicationsets/shop"):
        html = client.get(path).text
        assert SCRIPT not in html and IMG not in html
        assert inert_problems(html) == []
    page = client.get("/applicationsets/shop").text
    assert "template: element 3: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "note &lt;script&gt;" in page and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_halted_rollout_offers_resume_and_a_waiting_step_approve(dashboard: Dashboard) -> None:
    store = InMemoryAppSets(clock=ManualClock(NOW))
    dashboard.ctx.appsets = store
    apps = {"r-eu": app("r-eu", "prod-eu")}
    halted = RolloutState("r1", NOW - 900, 0, "Halted", {"prod-eu": NOW - 800}, message="halted: Degraded")
    store.save("roll", AppSetState("roll", apps, apps, rollout=halted).to_json(), 0)
    client = dashboard.as_user("operator")
    html = client.get("/applicationsets/roll").text
    assert hooks(html, "resume-button") == 1 and hooks(html, "pause-button") == 1
    assert hooks(html, "approve-step-button") == 0 and hooks(html, "held-change") == 0
    assert client.post("/applicationsets/roll/resume", data={"csrf": "csrf-otto"}).status_code == 303
    resumed = load_state(store, "roll")[0].rollout
    assert resumed is not None and resumed.phase == "Progressing"
    waiting = AppSetState("roll", apps, apps, rollout=RolloutState("r2", NOW, 1, "WaitingApproval"))
    store.save("roll", waiting.to_json(), store.load("roll").version)  # type: ignore[union-attr]
    assert hooks(client.get("/applicationsets/roll").text, "approve-step-button") == 1
    assert client.post("/applicationsets/roll/approve", data={"csrf": "csrf-otto"}).status_code == 303
    approved = load_state(store, "roll")[0].rollout
    assert approved is not None and approved.approved_step == 1
