"""Untrusted text reaching the dashboard through real paths is shown as text and never runs.

Names are DNS labels everywhere, so markup cannot come in through an application's name; it comes in
through what the engine reports and what Git hosts send: a render error quoting a file name from the
repository (a commit to the demo repository), a webhook delivery's repository URL and ref (a signed
push), and a live value on a cluster (tests/web/browser/test_dashboard.py's drift). Each page is
checked for the literal text, for the absence of any element made of it, and for the absence of
dialogs and script errors.
"""

from __future__ import annotations

import uuid

import pytest
from browser_kit import log_in, new_context
from playwright.sync_api import Browser, expect
from stack_kit import WAIT, Stack, wait_until

from gitops.vocabulary import Target
from workers.demo import overlay

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
STAGING = Target("hello-staging", "staging")
FILE = "<img src=x onerror=alert(document.cookie)>.yaml"
REF = "refs/heads/<script>alert('ref')</script>"
URL = "https://evil.example.com/<img src=x onerror=alert('url')>/repo.git"


def test_a_render_error_quoting_a_hostile_file_name_is_text(browser: Browser, stack: Stack) -> None:
    wait_until(stack.settled, "the demo settled")
    original = overlay("staging")["kustomization.yaml"]
    hostile = original.replace("  - ../../base\n", f"  - ../../base\n  - '{FILE}'\n")
    assert hostile != original
    _, broken = stack.commit({"overlays/staging/kustomization.yaml": hostile}, "staging: a hostile resource")
    status = wait_until(lambda: (s := stack.status(STAGING)) and s["error"] and FILE in s["error"] and s,
                        "the render error recorded", WAIT)
    assert status["failure"]["kind"] == "RenderFailed", status

    watched = log_in(new_context(browser), stack.url, stack.admin, stack.password)
    page = watched.page
    page.goto(f"{stack.url}/?view=list&failed=1")
    row = page.locator(f"[data-testid=target-row][data-target='{STAGING.key}']")
    expect(page.get_by_test_id("target-row")).to_have_count(1)
    error = row.locator(".error-text")
    assert FILE in (error.get_attribute("title") or ""), error.get_attribute("title")
    page.goto(f"{stack.url}/applications/{STAGING.application}?cluster={STAGING.cluster}")
    expect(page.get_by_test_id("status-error")).to_contain_text(FILE)
    expect(page.get_by_test_id("status-error")).to_contain_text("RenderFailed")
    assert page.locator("main img, [data-testid=status-error] *:not(b):not(span)").count() == 0
    watched.assert_inert()

    stack.commit({"overlays/staging/kustomization.yaml": original}, "staging: back to the overlay")
    wait_until(lambda: (s := stack.status(STAGING)) and not s["error"] and s["revision"] != broken,
               "the staging overlay rendering again", WAIT)
    wait_until(stack.settled, "the demo settled again")


def test_a_hostile_webhook_delivery_is_text_on_the_deliveries_page(browser: Browser, stack: Stack) -> None:
    head = stack.git("rev-parse", "HEAD")
    delivery = str(uuid.uuid4())
    answer = stack.push(before=stack.git("rev-parse", "HEAD~1"), after=head, paths=["<script>x</script>"],
                        ref=REF, urls={"clone_url": URL, "html_url": URL}, delivery=delivery)
    assert answer.status_code == 202, answer.text
    assert answer.json()["verdict"] == "ignored" and answer.json()["triggered"] == [], answer.text

    watched = log_in(new_context(browser), stack.url, stack.admin, stack.password)
    page = watched.page
    page.goto(f"{stack.url}/webhooks")
    row = page.locator(f"[data-testid=delivery-row][data-delivery='{delivery}']")
    expect(row).to_contain_text(REF.removeprefix("refs/heads/"))
    expect(row).to_contain_text("<img src=x onerror=alert('url')>")
    expect(row.get_by_test_id("verdict")).to_have_text("ignored")
    assert row.locator("img, script").count() == 0
    assert page.locator("main img, main script").count() == 0
    watched.assert_inert()
