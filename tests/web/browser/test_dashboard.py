"""The dashboard in a real browser against the whole engine (``gitops up --demo``): log in, see the
demo's targets, filter, open an application, see a drift and who made it, sync and watch the page
change live over server-sent events, a viewer who cannot sync, and forms without a CSRF token.

Each test logs in through the login form with the credentials ``gitops up`` printed (or a viewer made
with ``gitops user add`` against the Redis it recorded) and waits with Playwright's auto-waiting
``expect`` on what the page shows; nothing is timed.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from browser_kit import Watched, csrf_of, log_in, new_context, screenshot, watch
from playwright.sync_api import Browser, Route, expect
from stack_kit import WAIT, Stack, wait_until

from gitops.vocabulary import Target

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
DEV = Target("hello-dev", "dev")
CONFIG_MAP = "/api/v1/namespaces/demo-dev/configmaps/hello-config"
HOSTILE_LIVE = "<img src=x onerror=alert(document.domain)><script>alert(1)</script>"


def _admin(browser: Browser, stack: Stack) -> Watched:
    return log_in(new_context(browser), stack.url, stack.admin, stack.password)


def test_overview_shows_the_demo_and_filters_on_the_server(browser: Browser, stack: Stack) -> None:
    watched = _admin(browser, stack)
    page = watched.page
    expect(page.get_by_test_id("count-total")).to_have_text("3")
    cells = page.get_by_test_id("matrix-cell")
    expect(cells).to_have_count(3)
    assert sorted(c.get_attribute("data-target") or "" for c in cells.all()) == [
        "hello-dev@dev", "hello-prod@prod", "hello-staging@staging"]
    for cell in cells.all():
        expect(cell.get_by_test_id("sync-badge")).to_have_attribute("data-value", "Synced")
        expect(cell.get_by_test_id("health-badge")).to_have_attribute("data-value", "Healthy")
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live")
    screenshot(page, "overview")

    page.get_by_test_id("view-list").click()
    expect(page.get_by_test_id("target-row")).to_have_count(3)
    page.get_by_test_id("filter-cluster").select_option("prod")
    page.get_by_test_id("filter-apply").click()
    rows = page.get_by_test_id("target-row")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-target", "hello-prod@prod")
    assert "cluster=prod" in page.url and "view=list" in page.url
    expect(page.get_by_test_id("page-range")).to_have_text("1\u20131 of 1")

    page.get_by_test_id("filter-reset").click()
    expect(page.get_by_test_id("target-row")).to_have_count(3)
    page.get_by_test_id("filter-health-Degraded").check()
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("empty")).to_have_text("No target matches these filters.")
    expect(page.get_by_test_id("target-row")).to_have_count(0)
    page.get_by_test_id("filter-health-Degraded").uncheck()
    page.get_by_test_id("filter-health-Healthy").check()
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("target-row")).to_have_count(3)
    expect(page.get_by_test_id("count-total")).to_have_text("3")

    page.get_by_test_id("target-row").filter(has_text="staging").get_by_test_id("target-link").click()
    expect(page.get_by_test_id("app-name")).to_have_text("hello-staging")
    expect(page.get_by_test_id("object-row")).to_have_count(4)  # Namespace, Deployment, Service, ConfigMap
    expect(page.get_by_test_id("sync-button")).to_be_visible()
    watched.assert_inert()


def test_drift_names_the_manager_and_a_sync_shows_up_live(browser: Browser, stack: Stack) -> None:
    context = new_context(browser)
    watched = log_in(context, stack.url, stack.admin, stack.password)
    page = watched.page
    page.goto(f"{stack.url}/applications/{DEV.application}?cluster={DEV.cluster}")
    expect(page.get_by_test_id("app-name")).to_have_text(DEV.application)
    before = time.time()
    _edit_greeting(stack, HOSTILE_LIVE)
    after = time.time()

    page.get_by_test_id("refresh-button").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    item = page.get_by_test_id("drift-item").filter(has_text="greeting")
    expect(item.get_by_test_id("drift-manager")).to_contain_text("changed by kubectl-edit at ")
    stamp = item.get_by_test_id("drift-manager").locator("time").get_attribute("datetime")
    assert stamp is not None
    changed = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert before - 1 <= changed <= after + 1, (stamp, before, after)  # the managedFields time, to the second
    # the live value is shown as text: no element made of it, nothing ran
    expect(item.locator(".drift-live")).to_contain_text(HOSTILE_LIVE)
    assert page.locator("#drift img, #drift script").count() == 0
    expect(page.get_by_test_id("status-drift-count")).to_have_text("1")
    badge = page.get_by_test_id("target-status").get_by_test_id("sync-badge")
    expect(badge).to_have_attribute("data-value", "OutOfSync")  # reported: hello-dev does not self-heal

    history = page.get_by_test_id("history-item")
    operations = history.count()
    page.evaluate("window.__e2eMarker = 'same page'")
    watched.navigations.clear()
    # Sync pressed in another tab of the same session: this page must follow without a reload
    other = watch(context.new_page())
    other.page.goto(f"{stack.url}/applications/{DEV.application}?cluster={DEV.cluster}")
    other.page.get_by_test_id("sync-force").check()  # kubectl-edit holds the field: take it back
    other.page.get_by_test_id("sync-button").click()
    expect(other.page.get_by_test_id("flash")).to_contain_text("Sync")

    expect(badge).to_have_attribute("data-value", "Synced")
    expect(page.get_by_test_id("no-drift")).to_be_visible()
    expect(page.get_by_test_id("status-drift-count")).to_have_text("0")
    expect(page.get_by_test_id("history-item")).to_have_count(operations + 1)
    # the sync names what it put back, and who had changed it
    fixed = page.get_by_test_id("corrected-item").filter(has_text="greeting")
    expect(fixed.get_by_test_id("drift-manager")).to_contain_text("changed by kubectl-edit at ")
    newest = page.get_by_test_id("history-item").first
    expect(newest.get_by_test_id("corrected-count")).to_contain_text("corrected 1 drifted field")
    expect(newest.get_by_test_id("trigger-detail")).to_contain_text(f"{stack.admin} via dashboard")
    expect(newest.get_by_test_id("phase-badge")).to_have_attribute("data-value", "Succeeded")
    assert page.evaluate("window.__e2eMarker") == "same page"
    assert watched.navigations == [], watched.navigations
    # the cluster holds Git's value again
    live = wait_until(lambda: _greeting(stack) if _greeting(stack) != HOSTILE_LIVE else None,
                      "Git's greeting back on the cluster", WAIT)
    assert live == "hello from the demo"
    watched.assert_inert()
    other.assert_inert()


def test_a_change_made_while_the_page_loads_is_caught_up(browser: Browser, stack: Stack) -> None:
    """The page is rendered, then the target changes, then the page's event stream opens: the change
    is in no event the page will get, so the page must fetch what it shows once the stream is open."""
    watched = _admin(browser, stack)
    page = watched.page
    held: list[Route] = []
    released: list[bool] = []

    def hold(route: Route) -> None:  # the stream's request waits until released below
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/v1/events", hold)
    with page.expect_request("**/api/v1/events"):
        page.goto(f"{stack.url}/applications/{DEV.application}?cluster={DEV.cluster}")
    expect(page.get_by_test_id("app-name")).to_have_text(DEV.application)
    # Playwright runs the route handler while it is called: evaluate() lets it run
    wait_until(lambda: page.evaluate("0") == 0 and held, "the page's event stream request held")
    watched.navigations.clear()
    shown = page.get_by_test_id("status-drift-count").inner_text()
    _edit_greeting(stack, "hello from kubectl edit")
    operations = len(_history(stack))
    stack.refresh(DEV)
    wait_until(lambda: len(_history(stack)) > operations and stack.idle()
               and (stack.status(DEV) or {}).get("driftCount") == 1, "the refresh recorded the drift")
    expect(page.get_by_test_id("status-drift-count")).to_have_text(shown)  # nothing told the page yet
    released.append(True)
    held[0].continue_()
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("status-drift-count")).to_have_text("1")
    expect(page.get_by_test_id("drift-manager")).to_contain_text("changed by kubectl-edit")
    assert watched.navigations == []  # no reload: the page itself caught up
    screenshot(page, "application-drift", full_page=True)
    watched.assert_inert()
    stack.sync(DEV)  # leave no drift behind (hello-dev does not self-heal)
    wait_until(lambda: (stack.status(DEV) or {}).get("driftCount") == 0 and stack.idle(), "the drift gone")


def test_the_overviews_counts_follow_a_drift_live(browser: Browser, stack: Stack) -> None:
    watched = _admin(browser, stack)
    page = watched.page
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("count-drifted")).to_contain_text("0")
    watched.navigations.clear()
    _edit_greeting(stack, "hello from kubectl edit")
    stack.refresh(DEV)  # hello-dev reports the drift (no self-heal)
    expect(page.get_by_test_id("count-drifted")).to_contain_text("1")
    expect(page.get_by_test_id("count-sync-OutOfSync")).to_contain_text("1")
    stack.sync(DEV)
    expect(page.get_by_test_id("count-drifted")).to_contain_text("0")
    expect(page.get_by_test_id("count-sync-Synced")).to_contain_text("3")
    assert watched.navigations == []  # the page itself followed, no reload
    wait_until(lambda: (stack.status(DEV) or {}).get("driftCount") == 0 and stack.idle(), "the drift gone")
    watched.assert_inert()


def _edit_greeting(stack: Stack, value: str) -> None:
    """Someone edits a field Git owns on the dev cluster, as
    ``kubectl apply --server-side --force-conflicts --field-manager kubectl-edit`` does."""
    stack.apply_as("kubectl-edit", DEV.cluster, CONFIG_MAP, {"apiVersion": "v1", "kind": "ConfigMap",
                                                             "metadata": {"name": "hello-config"},
                                                             "data": {"greeting": value}})


def _greeting(stack: Stack) -> str:
    found = stack.read(DEV.cluster, CONFIG_MAP)
    assert found is not None
    value: str = found["data"]["greeting"]
    return value


def test_a_viewer_sees_no_sync_button_and_cannot_post_one(browser: Browser, stack: Stack,
                                                           tmp_path: Path) -> None:
    secret = tmp_path / "viewer-password"
    secret.write_text("viewer-password-1234\n")
    made = stack.gitops("user", "add", "viewer1", "--role", "viewer", "--password-file", str(secret))
    assert made.returncode == 0, made.stderr
    watched = log_in(new_context(browser), stack.url, "viewer1", "viewer-password-1234")
    page = watched.page
    expect(page.get_by_test_id("user-role")).to_have_text("viewer")
    page.goto(f"{stack.url}/applications/{DEV.application}?cluster={DEV.cluster}")
    expect(page.get_by_test_id("app-name")).to_have_text(DEV.application)
    expect(page.get_by_test_id("target-status")).to_be_visible()
    expect(page.get_by_test_id("sync-button")).to_have_count(0)
    expect(page.get_by_test_id("actions")).to_have_count(0)
    operations = len(_history(stack))
    # the form a viewer does not get, posted anyway from the viewer's own session with its valid token
    answer = page.request.post(f"{stack.url}/applications/{DEV.application}/clusters/{DEV.cluster}/sync",
                               form={"csrf": csrf_of(page)}, max_redirects=0)
    assert answer.status == 403, answer.text()
    api = page.request.post(f"{stack.url}/api/v1/applications/{DEV.application}/clusters/{DEV.cluster}/sync",
                            headers={"X-CSRF-Token": csrf_of(page)}, data={})
    assert api.status == 403, api.text()
    assert len(_history(stack)) == operations  # nothing was enqueued
    watched.assert_inert()


def test_a_form_without_the_csrf_token_is_refused(browser: Browser, stack: Stack) -> None:
    watched = _admin(browser, stack)
    page = watched.page
    page.goto(f"{stack.url}/applications/{DEV.application}?cluster={DEV.cluster}")
    operations = len(_history(stack))
    # the page's own Sync form, its token field removed, submitted by the browser
    page.locator("[data-testid=sync-form] input[name=csrf]").evaluate("field => field.remove()")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/sync")) as sent:
        page.get_by_test_id("sync-button").click()
    assert sent.value.status == 403
    # and forged ones: another site's form (no token), a made-up token, an empty one
    action = f"{stack.url}/applications/{DEV.application}/clusters/{DEV.cluster}/sync"
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf": "not-the-session-token"}, {"csrf": ""}]
    for form in forms:
        answer = page.request.post(action, form=form, max_redirects=0)
        assert answer.status == 403, (form, answer.status)
    assert len(_history(stack)) == operations  # nothing was enqueued
    # the same browser, its token in place, is let through (the refusals above were the token's)
    page.goto(f"{stack.url}/applications/{DEV.application}?cluster={DEV.cluster}")
    answer = page.request.post(f"{stack.url}/applications/{DEV.application}/clusters/{DEV.cluster}/refresh",
                               form={"csrf": csrf_of(page)}, max_redirects=0)
    assert answer.status == 303, answer.status
    wait_until(lambda: len(_history(stack)) > operations and stack.idle(), "the refresh done")
    watched.assert_inert()


def _history(stack: Stack) -> list[dict[str, object]]:
    with stack.api() as http:
        answer = http.get(f"/api/v1/applications/{DEV.application}/clusters/{DEV.cluster}/operations",
                          params={"limit": 50})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items
