"""Who may do what: the viewer/operator/admin matrix on sample routes (sessions and tokens), CSRF on
unsafe requests, scoped principals, anonymous viewers, API tokens (create, use, revoke, expiry, role
ceilings)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auth_kit import Site

from gitops.state.access import hash_secret

ROLES = ["viewer", "operator", "admin"]
ROUTES = [("get", "/api/v1/sample", "viewer"), ("post", "/api/v1/sample/operate", "operator"),
          ("post", "/api/v1/sample/administer", "admin")]


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_with_a_session(site: Site, role: str) -> None:
    site.add_user("user", role)
    csrf = site.login("user")
    for method, path, needed in ROUTES:
        headers = {"X-CSRF-Token": csrf} if method == "post" else {}
        answer = site.client.request(method, path, headers=headers)
        allowed = ROLES.index(role) >= ROLES.index(needed)
        assert answer.status_code == (200 if allowed else 403), (role, path, answer.text)
        if not allowed:
            assert answer.headers["content-type"] == "application/problem+json"
            assert f"user is {role}; this needs {needed}" in answer.json()["detail"]


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_with_a_token(site: Site, role: str) -> None:
    site.add_user("robot", role)
    issued = site.accounts.add_token(owner="robot", name="ci", role=role, expires=None)
    assert issued is not None
    site.client.cookies.clear()
    for method, path, needed in ROUTES:
        answer = site.client.request(method, path, headers={"Authorization": f"Bearer {issued.secret}"})
        allowed = ROLES.index(role) >= ROLES.index(needed)
        assert answer.status_code == (200 if allowed else 403), (role, path, answer.text)
    assert site.client.get("/api/v1/sample", headers={"Authorization": f"Bearer {issued.secret}"}).json() == {
        "name": "robot", "role": role, "via": "token"}


def test_unsafe_session_requests_need_the_csrf_token(site: Site) -> None:
    site.add_user("ops", "admin")
    csrf = site.login("ops")
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
        answer = site.client.post("/api/v1/sample/operate", headers=headers)
        assert answer.status_code == 403 and "CSRF" in answer.json()["detail"]
    assert site.client.post("/api/v1/sample/operate", headers={"X-CSRF-Token": csrf}).status_code == 200
    # a form post carries it as the csrf field
    assert site.client.post("/sample-page/act", data={"csrf": csrf}).status_code == 200
    assert site.client.post("/sample-page/act", data={"csrf": "forged"}).status_code == 403
    assert site.client.post("/sample-page/act", data={}).status_code == 403
    # another session's token does not do
    other = site.accounts.open_session("ops", 60)
    assert site.client.post("/api/v1/sample/operate", headers={"X-CSRF-Token": other.csrf}).status_code == 403


def test_without_credentials_the_api_says_401_and_pages_go_to_the_login(site: Site) -> None:
    answer = site.client.get("/api/v1/sample")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == 'Bearer realm="gitops"'
    page = site.client.get("/sample-page?x=1", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fsample-page%3Fx%3D1"


def test_a_forged_or_stale_session_cookie_is_nobody(site: Site) -> None:
    site.add_user("sam")
    site.login("sam")
    session = site.client.cookies.get("gitops_session")
    for forged in ("A" * 43, session[:-1] + "x", "", "'; DROP", "../" * 30):
        site.client.cookies.clear()
        site.client.cookies.set("gitops_session", forged)
        assert site.client.get("/api/v1/sample").status_code == 401
    site.clock.advance(site.ctx.settings.session_seconds + 1)  # expired (Redis' TTL would drop it too)
    site.client.cookies.clear()
    site.client.cookies.set("gitops_session", session)
    assert site.client.get("/api/v1/sample").status_code == 401


def test_role_changes_and_disabling_take_effect_at_once(site: Site) -> None:
    site.add_user("tia", "operator")
    csrf = site.login("tia")
    issued = site.accounts.add_token(owner="tia", name="ci", role="operator", expires=None)
    assert issued is not None
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    assert site.client.post("/api/v1/sample/operate", headers={"X-CSRF-Token": csrf}).status_code == 200
    site.accounts.set_role("tia", "viewer")  # the token is demoted with its owner
    assert site.client.post("/api/v1/sample/operate", headers={"X-CSRF-Token": csrf}).status_code == 403
    assert site.client.post("/api/v1/sample/operate", headers=bearer).status_code == 403
    assert site.client.get("/api/v1/sample", headers=bearer).json()["role"] == "viewer"
    site.accounts.set_disabled("tia", True)
    assert site.client.get("/api/v1/sample").status_code == 401
    assert site.client.get("/api/v1/sample", headers=bearer).status_code == 401


def test_a_scoped_principal_carries_its_labels(site: Site) -> None:
    site.add_user("uma", "operator", scope={"team": "a"})
    site.login("uma")
    me = site.client.get("/api/v1/me").json()
    assert me["scope"] == {"team": "a"}
    shop, blog = site.ctx.fleet().applications["shop"], site.ctx.fleet().applications["blog"]
    principal = site.ctx.extras["authenticator"].from_session(site.client.cookies.get("gitops_session"))
    assert principal.may_see(shop) and not principal.may_see(blog)
    issued = site.accounts.add_token(owner="uma", name="ci", role="viewer", expires=None)
    assert issued is not None
    by_token = site.ctx.extras["authenticator"].from_token(issued.secret)
    assert by_token.scope == {"team": "a"} and not by_token.may_see(blog)


def test_anonymous_viewer_only_when_configured(make_site: Callable[..., Site]) -> None:
    closed = make_site()
    assert closed.client.get("/api/v1/sample").status_code == 401
    open_ = make_site(anonymous_viewer=True)
    answer = open_.client.get("/api/v1/sample")
    assert answer.status_code == 200 and answer.json() == {"name": "anonymous", "role": "viewer",
                                                           "via": "anonymous"}
    assert open_.client.post("/api/v1/sample/operate").status_code == 403
    assert open_.client.post("/api/v1/tokens", json={"name": "mine"}).status_code == 403
    # a wrong token is refused, never downgraded to anonymous; a stale cookie falls back to it
    assert open_.client.get("/api/v1/sample", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert open_.client.get("/api/v1/sample", headers={"Authorization": "Basic eDp5"}).status_code == 401
    open_.client.cookies.set("gitops_session", "A" * 43)
    assert open_.client.get("/api/v1/sample").json()["via"] == "anonymous"
    # a logged-in user is themselves, not anonymous
    open_.add_user("vic", "operator")
    csrf = open_.login("vic")
    assert open_.client.post("/api/v1/sample/operate", headers={"X-CSRF-Token": csrf}).status_code == 200


# -- API tokens ------------------------------------------------------------------------------------


def test_a_user_creates_uses_lists_and_revokes_their_own_token(site: Site) -> None:
    site.add_user("wes", "operator")
    csrf = site.login("wes")
    created = site.client.post("/api/v1/tokens", json={"name": "deploy", "expires_in": "30d"},
                               headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    assert body["owner"] == "wes" and body["role"] == "operator" and not body["expired"]
    assert body["expires"] == pytest.approx(site.clock.now() + 30 * 86400)
    stored = site.accounts.token(body["id"])
    assert stored is not None and stored.hash == hash_secret(secret) and secret not in repr(stored)
    listed = site.client.get("/api/v1/tokens").json()
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0] and "hash" not in listed[0]
    assert secret not in site.client.get("/api/v1/tokens").text
    site.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert site.client.post("/api/v1/sample/operate", headers=bearer).json() == {"done": "operate",
                                                                                 "by": "wes"}
    assert site.client.get("/api/v1/tokens", headers=bearer).json()[0]["last_used"] == site.clock.now()
    # a token cannot mint tokens (a leaked short-lived token cannot make itself a long-lived one)
    assert site.client.post("/api/v1/tokens", json={"name": "more"}, headers=bearer).status_code == 403
    assert site.client.delete(f"/api/v1/tokens/{body['id']}", headers=bearer).status_code == 204
    assert site.client.get("/api/v1/sample", headers=bearer).status_code == 401
    actions = [e.action for e in site.audit.entries()]
    assert actions[:2] == ["token.revoke", "token.create"]


def test_token_role_ceilings(site: Site) -> None:
    site.add_user("xia", "operator")
    site.add_user("boss", "admin")
    csrf = site.login("xia")
    too_high = site.client.post("/api/v1/tokens", json={"name": "t", "role": "admin"},
                                headers={"X-CSRF-Token": csrf})
    assert too_high.status_code == 403 and too_high.json()["field"] == "role"
    lower = site.client.post("/api/v1/tokens", json={"name": "t", "role": "viewer"},
                             headers={"X-CSRF-Token": csrf})
    assert lower.status_code == 201 and lower.json()["role"] == "viewer"
    for_other = site.client.post("/api/v1/tokens", json={"name": "t", "owner": "boss"},
                                 headers={"X-CSRF-Token": csrf})
    assert for_other.status_code == 403
    unknown = site.client.post("/api/v1/tokens", json={"name": "t", "role": "root"},
                               headers={"X-CSRF-Token": csrf})
    assert unknown.status_code == 400 and unknown.json()["field"] == "role"
    # an admin issues tokens for others, never above the owner's role
    site.client.cookies.clear()
    admin_csrf = site.login("boss")
    capped = site.client.post("/api/v1/tokens", json={"name": "t", "owner": "xia", "role": "admin"},
                              headers={"X-CSRF-Token": admin_csrf})
    assert capped.status_code == 403 and "at most operator" in capped.json()["detail"]
    issued = site.client.post("/api/v1/tokens", json={"name": "t", "owner": "xia"},
                              headers={"X-CSRF-Token": admin_csrf})
    assert issued.status_code == 201 and issued.json()["role"] == "operator"
    assert len(site.client.get("/api/v1/tokens", params={"owner": "xia"}).json()) == 2


def test_a_token_acts_with_its_own_role_not_its_owners(site: Site) -> None:
    site.add_user("yan", "admin")
    issued = site.accounts.add_token(owner="yan", name="read only", role="viewer", expires=None)
    assert issued is not None
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    site.client.cookies.clear()
    assert site.client.get("/api/v1/sample", headers=bearer).status_code == 200
    assert site.client.post("/api/v1/sample/operate", headers=bearer).status_code == 403
    assert site.client.get("/api/v1/users", headers=bearer).status_code == 403


def test_expired_tokens_are_refused(site: Site) -> None:
    site.add_user("zoe", "operator")
    issued = site.accounts.add_token(owner="zoe", name="short", role="viewer",
                                     expires=site.clock.now() + 3600)
    assert issued is not None
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    site.client.cookies.clear()
    assert site.client.get("/api/v1/sample", headers=bearer).status_code == 200
    site.clock.advance(3601)
    assert site.client.get("/api/v1/sample", headers=bearer).status_code == 401


def test_users_cannot_see_or_revoke_others_tokens(site: Site) -> None:
    site.add_user("amy", "operator")
    site.add_user("ben", "operator")
    theirs = site.accounts.add_token(owner="ben", name="ci", role="viewer", expires=None)
    assert theirs is not None
    csrf = site.login("amy")
    assert site.client.get("/api/v1/tokens").json() == []
    assert site.client.get("/api/v1/tokens", params={"owner": "ben"}).status_code == 403
    gone = site.client.delete(f"/api/v1/tokens/{theirs.token.id}", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 404 and site.accounts.token(theirs.token.id) is not None
    assert site.client.delete("/api/v1/tokens/../../users", headers={"X-CSRF-Token": csrf}).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"name": "<script>alert(1)</script>"}, "name"), ({"name": ""}, "name"), ({"name": "x" * 500}, "name"),
    ({"name": "t", "expires_in": "forever"}, "expires"), ({"name": "t", "expires_in": "0s"}, "expires"),
    ({"name": "t", "expires_in": 10**12}, "expires"), ({"name": "t", "extra": 1}, "extra")])
def test_token_requests_are_validated(site: Site, body: dict[str, object], field: str) -> None:
    site.add_user("cat", "operator")
    csrf = site.login("cat")
    answer = site.client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.status_code in (400, 422), answer.text
    problem = answer.json()
    named = [problem.get("field") or ""] + [e["field"] for e in problem.get("errors", [])]
    assert any(field in found for found in named), problem
    assert site.accounts.tokens("cat") == []
