"""Webhooks end to end on ``gitops up --demo``: a commit to the demo repository, then a GitHub push
delivery signed with the demo receiver's secret, to the running server. The answer lists exactly the
target whose path changed, that target reaches the new revision (seen through the HTTP API) while
the others are not touched, the delivery is on the dashboard's deliveries page, and forged, replayed
or off-branch deliveries trigger nothing and say why.
"""

from __future__ import annotations

import uuid

import pytest
from browser_kit import log_in, new_context, screenshot
from playwright.sync_api import Browser, expect
from stack_kit import WAIT, Stack, wait_until

from gitops.vocabulary import Target
from workers.demo import REPLICAS, overlay

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
DEV, STAGING, PROD = (Target(f"hello-{c}", c) for c in ("dev", "staging", "prod"))


def _replicas(stack: Stack) -> int | None:
    found = stack.read("prod", "/apis/apps/v1/namespaces/demo-prod/deployments/hello")
    return None if found is None else int(found["spec"]["replicas"])


def _scale(count: int) -> dict[str, str]:
    return {"overlays/prod/replicas.yaml": overlay("prod")["replicas.yaml"].replace(
        f"replicas: {REPLICAS['prod']}", f"replicas: {count}")}


def test_a_signed_push_refreshes_exactly_the_affected_target(stack: Stack, browser: Browser) -> None:
    wait_until(stack.settled, "the demo settled")
    others = {t: (stack.status(t) or {}).get("operation") for t in (DEV, STAGING)}
    wanted = (_replicas(stack) or 0) % 7 + 4  # a count the prod overlay does not have yet
    before, after = stack.commit(_scale(wanted), f"scale prod to {wanted}")
    delivery = str(uuid.uuid4())

    answer = stack.push(before=before, after=after, paths=list(_scale(wanted)), delivery=delivery)

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["verdict"] == "accepted" and body["receiver"] == "demo-github", body
    assert [t["target"] for t in body["triggered"]] == [PROD.key], body
    task = body["triggered"][0]["task"]
    status = wait_until(lambda: (s := stack.status(PROD)) and s["revision"] == after and s["sync"] == "Synced"
                        and s,
                        f"{PROD.key} Synced at {after[:12]}", WAIT)
    assert status["error"] is None
    assert _replicas(stack) == wanted
    with stack.api() as http:
        history = http.get(f"/api/v1/applications/{PROD.application}/clusters/{PROD.cluster}/operations"
                           ).json()
    at_head = [op for op in history["items"] if op["revision"] == after]
    if task != "coalesced":  # the poll may have queued it a moment before the delivery came
        assert any(op["trigger"] == "webhook" and op["triggerDetail"] == f"github delivery {delivery}"
                   for op in at_head), at_head
    # the other targets' paths did not change: neither the delivery nor the poll reconciled them
    wait_until(stack.idle, "the workers idle")
    assert {t: (stack.status(t) or {}).get("operation") for t in (DEV, STAGING)} == others

    watched = log_in(new_context(browser), stack.url, stack.admin, stack.password)
    page = watched.page
    page.get_by_test_id("nav-webhooks").click()
    row = page.locator(f"[data-testid=delivery-row][data-delivery='{delivery}']")
    expect(row.get_by_test_id("verdict")).to_have_text("accepted")
    expect(row.get_by_test_id("triggered")).to_contain_text(PROD.key)
    expect(row.get_by_test_id("delivery-reason")).to_contain_text("refresh requested for 1 target(s)")
    screenshot(page, "webhook-deliveries")
    watched.assert_inert()
    wait_until(stack.settled, "the demo settled again")


def test_forged_replayed_and_off_branch_deliveries_trigger_nothing(stack: Stack) -> None:
    head = stack.git("rev-parse", "HEAD")
    parent = stack.git("rev-parse", "HEAD~1")
    paths = ["overlays/dev/replicas.yaml"]

    forged = stack.push(before=parent, after=head, paths=paths, secret=b"not the receiver's secret")
    assert forged.status_code == 401, forged.text
    assert forged.headers["content-type"].startswith("application/problem+json")

    elsewhere = stack.push(before=parent, after=head, paths=paths, ref="refs/heads/feature")
    assert elsewhere.status_code == 202, elsewhere.text
    assert elsewhere.json()["verdict"] == "ignored" and elsewhere.json()["triggered"] == []
    assert "feature" in elsewhere.json()["message"] + " ".join(elsewhere.json()["reasons"])

    delivery = str(uuid.uuid4())
    first = stack.push(before=parent, after=head, paths=paths, delivery=delivery, ref="refs/heads/other")
    again = stack.push(before=parent, after=head, paths=paths, delivery=delivery, ref="refs/heads/other")
    assert first.status_code == 202 and again.status_code == 409, (first.text, again.text)
