"""Failed page requests answer with small inert HTML pages (404, 403, 503 when Redis is away) while
the API under /api/ keeps its problem+json answers."""

from __future__ import annotations

from dashboard_kit import Dashboard, hooks, inert_problems

from gitops.state import RedisStore
from workers.redis_server import free_port


def test_page_errors_are_html_and_api_errors_stay_problem_json(dashboard: Dashboard) -> None:
    client = dashboard.as_user("viewer")
    page = client.get("/applications/nope")
    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert hooks(page.text, "error-page") == 1 and inert_problems(page.text) == []
    api = client.get("/api/v1/applications/nope")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    unknown = client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def test_a_wrong_method_on_a_page_is_an_html_405(dashboard: Dashboard) -> None:
    answer = dashboard.as_user("viewer").delete("/clusters")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")


def test_redis_away_is_an_html_503_with_retry_after(dashboard: Dashboard) -> None:
    dashboard.ctx.state = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    client = dashboard.as_user("viewer")
    for path in ("/", "/applications/checkout", "/clusters", "/clusters/prod-eu"):
        answer = client.get(path)
        assert answer.status_code == 503, path
        assert answer.headers["retry-after"] == "5"
        assert answer.headers["content-type"].startswith("text/html")
        assert "State store unavailable" in answer.text
        assert inert_problems(answer.text) == []


def test_error_pages_carry_the_security_headers(dashboard: Dashboard) -> None:
    answer = dashboard.as_user("viewer").get("/nope")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
