"""The admin API: users (create, change, reset, delete), the last admin kept, hostile input, and the
audit log of every action (who, what, when, from where)."""

from __future__ import annotations

import pytest
from auth_kit import PASSWORD, Site


@pytest.fixture
def admin(site: Site) -> dict[str, str]:
    site.add_user("root", "admin")
    return {"X-CSRF-Token": site.login("root")}


def test_admins_create_list_change_and_delete_users(site: Site, admin: dict[str, str]) -> None:
    created = site.client.post("/api/v1/users", json={"name": "dev", "role": "operator",
                                                      "scope": {"team": "a"}}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    password = body["password"]  # generated: shown once
    assert (body["name"], body["role"], body["scope"], body["disabled"]) == ("dev", "operator", {"team": "a"},
                                                                             False)
    stored = site.accounts.user("dev")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert password not in stored.password_hash and site.passwords.check(stored.password_hash, password).ok
    listed = site.client.get("/api/v1/users")
    assert [u["name"] for u in listed.json()] == ["dev", "root"]
    assert "argon2" not in listed.text and "password" not in listed.text
    assert "argon2" not in site.client.get("/api/v1/users/dev").text
    changed = site.client.patch("/api/v1/users/dev", json={"role": "viewer", "scope": None}, headers=admin)
    assert changed.status_code == 200 and changed.json()["role"] == "viewer" and changed.json()["scope"] == {}
    with_password = site.client.post("/api/v1/users", json={"name": "ops", "password": PASSWORD},
                                     headers=admin)
    assert with_password.status_code == 201 and with_password.json()["password"] is None
    assert with_password.json()["role"] == "viewer"
    assert site.client.delete("/api/v1/users/dev", headers=admin).status_code == 204
    assert site.client.get("/api/v1/users/dev").status_code == 404
    assert site.client.delete("/api/v1/users/dev", headers=admin).status_code == 404


def test_a_reset_password_works_once_and_closes_the_users_sessions(site: Site, admin: dict[str, str]) -> None:
    site.add_user("eve", "viewer")
    victim_session = site.accounts.open_session("eve", 3600)
    reset = site.client.post("/api/v1/users/eve/password", json={}, headers=admin)
    assert reset.status_code == 200
    new_password = reset.json()["password"]
    assert new_password and site.accounts.session(victim_session.id) is None
    chosen = site.client.post("/api/v1/users/eve/password", json={"password": "short"}, headers=admin)
    assert chosen.status_code == 400 and chosen.json()["field"] == "password"
    site.client.cookies.clear()
    assert site.post_login("eve", PASSWORD, csrf=site.login_form()).status_code == 401
    site.login("eve", new_password)


def test_the_last_enabled_admin_stays(site: Site, admin: dict[str, str]) -> None:
    for change in ({"role": "operator"}, {"disabled": True}):
        answer = site.client.patch("/api/v1/users/root", json=change, headers=admin)
        assert answer.status_code == 409 and "last enabled admin" in answer.json()["detail"]
    assert site.client.delete("/api/v1/users/root", headers=admin).status_code == 409
    site.client.post("/api/v1/users", json={"name": "second", "role": "admin"}, headers=admin)
    demoted = site.client.patch("/api/v1/users/root", json={"role": "operator"}, headers=admin)
    assert demoted.status_code == 200
    # root is an operator now: the admin API is closed to it at once
    assert site.client.get("/api/v1/users").status_code == 403


def test_disabling_a_user_logs_them_out(site: Site, admin: dict[str, str]) -> None:
    site.add_user("fred", "operator")
    session = site.accounts.open_session("fred", 3600)
    answer = site.client.patch("/api/v1/users/fred", json={"disabled": True}, headers=admin)
    assert answer.status_code == 200 and answer.json()["disabled"] is True
    assert site.accounts.session(session.id) is None


@pytest.mark.parametrize("body,field,status", [
    ({"name": "<script>alert(1)</script>", "role": "viewer"}, "name", 400),
    ({"name": "Admin", "role": "viewer"}, "name", 400),
    ({"name": "a" * 65, "role": "viewer"}, "name", 400),
    ({"name": "a" * 201, "role": "viewer"}, "body.name", 422),
    ({"name": "a\nb", "role": "viewer"}, "name", 400),
    ({"name": "ok", "role": "root"}, "role", 400),
    ({"name": "ok", "role": "<b>admin</b>"}, "role", 400),
    ({"name": "ok", "role": "viewer", "password": "short"}, "password", 400),
    ({"name": "ok", "role": "viewer", "scope": {"team": "<script>"}}, "scope", 400),
    ({"name": "ok", "role": "viewer", "scope": "team=a"}, "body.scope", 422),
    ({"name": "ok", "role": "viewer", "is_admin": True}, "body.is_admin", 422),
    ({"role": "viewer"}, "body.name", 422),
])
def test_hostile_user_requests_are_refused_naming_the_field(site: Site, admin: dict[str, str],
                                                            body: dict[str, object], field: str,
                                                            status: int) -> None:
    answer = site.client.post("/api/v1/users", json=body, headers=admin)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem.get("field") == field or any(e["field"] == field for e in problem.get("errors", []))
    assert "<script>" not in answer.text or answer.headers["content-type"] == "application/problem+json"
    assert [u.name for u in site.accounts.users()] == ["root"]


def test_huge_bodies_and_duplicates(site: Site, admin: dict[str, str]) -> None:
    huge = site.client.post("/api/v1/users", content=b'{"name": "' + b"a" * 200_000 + b'"}',
                            headers={**admin, "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert site.client.post("/api/v1/users", json={"name": "dup"}, headers=admin).status_code == 201
    again = site.client.post("/api/v1/users", json={"name": "dup", "role": "admin"}, headers=admin)
    assert again.status_code == 409 and again.json()["field"] == "name"
    assert site.accounts.user("dup").role == "viewer"  # type: ignore[union-attr]


def test_unknown_and_hostile_user_paths(site: Site, admin: dict[str, str]) -> None:
    for name in ("nobody", "%3Cscript%3E", "a" * 300):
        assert site.client.get(f"/api/v1/users/{name}").status_code == 404
        changed = site.client.patch(f"/api/v1/users/{name}", json={"role": "admin"}, headers=admin)
        assert changed.status_code == 404
        assert site.client.delete(f"/api/v1/users/{name}", headers=admin).status_code == 404


def test_only_admins_manage_users_and_read_the_audit_log(site: Site) -> None:
    site.add_user("op", "operator")
    csrf = site.login("op")
    assert site.client.get("/api/v1/users").status_code == 403
    created = site.client.post("/api/v1/users", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 403
    assert site.client.get("/api/v1/audit").status_code == 403
    site.client.cookies.clear()
    assert site.client.get("/api/v1/users").status_code == 401


def test_admin_writes_need_the_csrf_token(site: Site, admin: dict[str, str]) -> None:
    assert site.client.post("/api/v1/users", json={"name": "x"}).status_code == 403
    assert site.client.delete("/api/v1/users/root").status_code == 403
    assert site.accounts.user("x") is None


def test_every_action_is_audited_who_what_when_where(site: Site, admin: dict[str, str]) -> None:
    site.client.post("/api/v1/users", json={"name": "gil", "role": "operator"}, headers=admin)
    site.clock.advance(5)
    site.client.patch("/api/v1/users/gil", json={"role": "viewer"}, headers=admin)
    site.client.post("/api/v1/users/gil/password", json={}, headers=admin)
    token = site.client.post("/api/v1/tokens", json={"name": "ci", "owner": "gil"}, headers=admin).json()
    site.client.delete(f"/api/v1/tokens/{token['id']}", headers=admin)
    site.client.delete("/api/v1/users/gil", headers=admin)
    page = site.client.get("/api/v1/audit", params={"limit": 10}).json()
    entries = page["items"]
    assert [e["action"] for e in entries] == ["user.delete", "token.revoke", "token.create", "user.password",
                                              "user.update", "user.create", "login"]
    assert {e["actor"] for e in entries} == {"root"} and {e["remote"] for e in entries} == {"testclient"}
    assert all(e["target"] == "gil" for e in entries[:6])
    assert entries[4]["detail"] == "role=viewer via=session"
    assert entries[4]["time"] == site.clock.now() and entries[5]["time"] == site.clock.now() - 5
    assert page["next_cursor"] is None
    first = site.client.get("/api/v1/audit", params={"limit": 3}).json()
    rest = site.client.get("/api/v1/audit", params={"limit": 10, "before": first["next_cursor"]}).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in entries]
    passwords = [e["detail"] for e in entries if e["action"] == "user.password"]
    assert passwords == ["generated=true sessions_closed=0 via=session"]
    bad = site.client.get("/api/v1/audit", params={"before": "not-an-id"})
    assert bad.status_code == 400 and bad.json()["field"] == "before"
