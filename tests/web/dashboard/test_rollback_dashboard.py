"""The application page shows why a target is held (a suspension after a rollback, dependencies, a
window), escaped, and offers operators a Resume button for a suspended target (CSRF, audited)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pytest
from dashboard_kit import NOW, REVISION, Dashboard, hooks

from gitops.state.model import Hold
from gitops.state.suspensions import RedisSuspensions, Suspension
from gitops.vocabulary import Target, Trigger

PAGE = "/applications/checkout?cluster=prod-eu"
RESUME = "/applications/checkout/clusters/prod-eu/resume"


@dataclass
class ResumeActions:
    """The recording actions of tests/web/conftest.py plus resume."""

    calls: list[tuple[str, str, str, dict[str, object]]] = field(default_factory=list)

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None:
        self.calls.append(("reconcile", app, cluster, {"detail": detail}))
        return f"task-{len(self.calls)}"

    def resume(self, app: str, cluster: str, *, by: str) -> str | None:
        self.calls.append(("resume", app, cluster, {"by": by}))
        return f"task-{len(self.calls)}"


@pytest.fixture
def actions() -> ResumeActions:
    return ResumeActions()


@pytest.fixture
def suspended(dashboard: Dashboard) -> RedisSuspensions:
    dashboard.writer.target("checkout", "prod-eu")
    suspensions = RedisSuspensions(dashboard.store.redis)
    dashboard.ctx.suspensions = suspensions
    suspensions.suspend(Suspension(Target("checkout", "prod-eu"), f"rollback to {REVISION[:12]}", NOW - 60,
                                   REVISION, "<script>alert(1)</script>@evil"))
    return suspensions


def test_a_suspended_target_shows_its_hold_and_a_resume_button(dashboard: Dashboard,
                                                               suspended: RedisSuspensions) -> None:
    html = dashboard.as_user("operator").get(PAGE).text
    assert hooks(html, "status-hold") == 1 and hooks(html, "resume-button") == 1
    assert f"suspended (rollback to {REVISION[:12]})" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@evil" in html and "<script>alert" not in html
    resume = re.search(r'<form method="post" action="' + RESUME + '".*?</form>', html, re.S)
    assert resume is not None and 'name="csrf" value="csrf-otto"' in resume.group(0)
    viewer = dashboard.as_user("viewer").get(PAGE).text
    assert hooks(viewer, "status-hold") == 1 and hooks(viewer, "resume-button") == 0


def test_resume_needs_the_csrf_token_then_enqueues_and_audits(dashboard: Dashboard,
                                                              suspended: RedisSuspensions) -> None:
    client = dashboard.as_user("operator")
    assert client.post(RESUME, data={}).status_code == 403
    assert client.post(RESUME, data={"csrf": "guess"}).status_code == 403
    assert dashboard.as_user("viewer").post(RESUME, data={"csrf": "csrf-vera"}).status_code == 403
    assert dashboard.actions.calls == []
    answer = dashboard.as_user("operator").post(RESUME, data={"csrf": "csrf-otto"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/applications/checkout?cluster=prod-eu&done=resume&task=task-1"
    assert dashboard.actions.calls == [("resume", "checkout", "prod-eu", {"by": "otto via dashboard"})]
    [entry] = dashboard.audit.entries()
    assert (entry.action, entry.target) == ("resume", "checkout@prod-eu")
    page = dashboard.client.get(answer.headers["location"]).text
    assert "Automated sync resumed; reconcile queued: task task-1" in page


def test_a_dependency_hold_is_shown_without_a_resume_button(dashboard: Dashboard) -> None:
    dashboard.writer.target("checkout", "prod-eu")
    status = dashboard.store.status(Target("checkout", "prod-eu"))
    assert status is not None
    held = replace(status, hold=Hold("dependency", "waits", on=("db@prod-eu", "<b>x</b>@prod-eu")))
    op = dashboard.store.history(status.target)[0]
    dashboard.store.record(held, op)
    html = dashboard.as_user("operator").get(PAGE).text
    assert "waiting: db@prod-eu, &lt;b&gt;x&lt;/b&gt;@prod-eu" in html
    assert hooks(html, "resume-button") == 0
