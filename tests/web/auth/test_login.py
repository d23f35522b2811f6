"""Logging in and out through the form: CSRF, session fixation, cookie flags, open redirects,
throttling, argon2 hashes, the same answer for unknown users."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher
from auth_kit import CHEAP, PASSWORD, Site

from web.auth.login import ADDRESS_LIMIT, LOGIN_COOKIE, USER_LIMIT, WINDOW
from web.auth.passwords import Passwords


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    out: dict[str, SimpleCookie] = {}
    for raw in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        for name in jar:
            out[name] = jar
    return out


def test_login_opens_a_session_and_lands_on_next(site: Site) -> None:
    site.add_user("alice", "operator")
    csrf = site.login_form("/apps/shop?tab=drift")
    answer = site.post_login("alice", csrf=csrf, next_path="/apps/shop?tab=drift")
    assert answer.status_code == 303 and answer.headers["location"] == "/apps/shop?tab=drift"
    me = site.client.get("/api/v1/me").json()
    assert (me["name"], me["role"], me["via"]) == ("alice", "operator", "session")
    (entry,) = [e for e in site.audit.entries() if e.action == "login"]
    assert (entry.actor, entry.remote, entry.detail) == ("alice", "testclient", "method=password")


def test_the_login_page_is_inert_and_styled_by_the_site_stylesheet(site: Site) -> None:
    got = site.client.get("/login", params={"next": '/x"><script>alert(1)</script>'})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert "<script" not in got.text and "style=" not in got.text and "<style" not in got.text
    assert 'href="/static/app.css"' in got.text
    assert "script-src 'self'" in got.headers["content-security-policy"]
    assert "/x&#34;&gt;&lt;script&gt;" in got.text  # the hostile path, inert
    assert got.headers["cache-control"] == "no-store"


def test_wrong_password_and_unknown_user_get_the_same_answer(site: Site) -> None:
    site.add_user("bob")
    wrong = site.post_login("bob", "not the password", csrf=site.login_form())
    unknown = site.post_login("nobody", PASSWORD, csrf=site.login_form())
    hostile = site.post_login("<script>alert(1)</script>", PASSWORD, csrf=site.login_form())
    for answer in (wrong, unknown, hostile):
        assert answer.status_code == 401 and "Wrong user name or password." in answer.text
        assert "gitops_session" not in set_cookies(answer)
    assert "<script>alert(1)</script>" not in hostile.text and "&lt;script&gt;" in hostile.text
    assert site.client.get("/api/v1/me").status_code == 401
    failed = [e for e in site.audit.entries() if e.action == "login.failed"]
    assert [e.actor for e in failed] == ["<script>alert(1)</script>", "nobody", "bob"]


def test_unknown_users_cost_the_same_argon2_work(site: Site) -> None:
    site.add_user("carol")
    verified: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(str(hash).rsplit("$", 2)[0])  # the algorithm and its parameters
            return super().verify(hash, password)

    site.ctx.extras["passwords"] = Passwords(Counting(time_cost=1, memory_cost=1024, parallelism=1))
    site.post_login("carol", "wrong password", csrf=site.login_form())
    site.post_login("nobody", "wrong password", csrf=site.login_form())
    site.accounts.set_disabled("carol", True)
    site.post_login("carol", PASSWORD, csrf=site.login_form())
    # one verification each with the same parameters: against a dummy hash for nobody and the disabled
    assert verified == ["$argon2id$v=19$m=1024,t=1,p=1"] * 3


@pytest.mark.parametrize("csrf", [None, "", "forged", "A" * 43])
def test_login_without_the_forms_csrf_token_is_refused(site: Site, csrf: str | None) -> None:
    site.add_user("dave")
    site.login_form()  # the pre-session cookie is there; the token is not the one bound to it
    answer = site.post_login("dave", csrf=csrf)
    assert answer.status_code == 403 and "gitops_session" not in set_cookies(answer)
    assert not [e for e in site.audit.entries() if e.action == "login"]


def test_a_token_bound_to_another_pre_session_cookie_is_refused(site: Site) -> None:
    site.add_user("erin")
    attackers = site.login_form()  # the attacker's own form...
    site.client.cookies.delete(LOGIN_COOKIE)
    site.client.get("/login")  # ...posted from a victim's browser, which has its own pre-session cookie
    assert site.post_login("erin", csrf=attackers).status_code == 403
    site.client.cookies.clear()
    assert site.post_login("erin", csrf=attackers).status_code == 403  # no cookie at all


def test_login_csrf_from_json_or_other_content_types_is_refused(site: Site) -> None:
    site.add_user("fay")
    csrf = site.login_form()
    answer = site.client.post("/login", json={"name": "fay", "password": PASSWORD, "csrf": csrf},
                              follow_redirects=False)
    assert answer.status_code == 403


def issued_session(answer: httpx.Response) -> str:
    return set_cookies(answer)["gitops_session"]["gitops_session"].value


def test_a_session_id_is_never_taken_from_the_client(site: Site) -> None:
    site.add_user("gus")
    planted = "A" * 43  # an attacker planted this id in the victim's browser before the login
    form = site.login_form()
    site.client.cookies.set("gitops_session", planted, domain="testserver.local")
    first = site.post_login("gus", csrf=form)
    issued = issued_session(first)
    assert first.status_code == 303 and issued != planted and site.accounts.session(planted) is None
    assert site.accounts.session(issued) is not None
    # logging in again from a browser that still has a session replaces it: the old id stops working
    site.client.cookies.clear()
    form = site.login_form()
    site.client.cookies.set("gitops_session", issued, domain="testserver.local")
    second = site.post_login("gus", csrf=form)
    again = issued_session(second)
    assert again != issued and site.accounts.session(issued) is None
    renewed = site.accounts.session(again)
    assert renewed is not None and renewed.user == "gus"


def test_session_cookie_flags(site: Site, make_site: Callable[..., Site]) -> None:
    site.add_user("hana")
    answer = site.post_login("hana", csrf=site.login_form())
    cookie = set_cookies(answer)["gitops_session"]["gitops_session"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == int(site.ctx.settings.session_seconds)
    raw = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("gitops_session="))
    assert "HttpOnly" in raw and "Secure" in raw and "SameSite=lax" in raw
    plain = make_site(secure_cookies=False, base_url="http://testserver")
    plain.add_user("hana")
    answer = plain.post_login("hana", csrf=plain.login_form())
    raw = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("gitops_session="))
    assert "Secure" not in raw and "HttpOnly" in raw and "SameSite=lax" in raw
    login_cookie = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{LOGIN_COOKIE}=")]
    assert login_cookie and "Max-Age=0" in login_cookie[0]  # the pre-session cookie is dropped


@pytest.mark.parametrize("hostile", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "///evil.example",
    "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", "http:evil.example", " /x",
    "/%0d%0aSet-Cookie:x=1\r\n", "evil.example", "", "/" + "a" * 3000])
def test_next_never_leaves_the_site(site: Site, hostile: str) -> None:
    site.add_user("ivan")
    answer = site.post_login("ivan", csrf=site.login_form(hostile), next_path=hostile)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location == "/" or (location.startswith("/") and not location.startswith(("//", "/\\"))
                               and "\r" not in location and "\n" not in location)
    if hostile in ("/%0d%0aSet-Cookie:x=1\r\n",):
        assert "x" not in site.client.cookies


def test_next_keeps_a_local_path_and_query(site: Site) -> None:
    site.add_user("jan")
    answer = site.post_login("jan", csrf=site.login_form(), next_path="/apps/shop?cluster=prod&tab=drift")
    assert answer.headers["location"] == "/apps/shop?cluster=prod&tab=drift"


def test_logout_needs_the_sessions_csrf_token(site: Site) -> None:
    site.add_user("kai")
    csrf = site.login("kai")
    session = site.client.cookies.get("gitops_session")
    for forged in ({}, {"csrf": "nope"}):
        answer = site.client.post("/logout", data=forged, follow_redirects=False)
        assert answer.status_code == 403 and site.accounts.session(session) is not None
    answer = site.client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert site.accounts.session(session) is None and site.client.get("/api/v1/me").status_code == 401
    assert [e.action for e in site.audit.entries()][:2] == ["logout", "login"]
    # without a session, logging out only clears the cookie
    assert site.client.post("/logout", follow_redirects=False).status_code == 303


def test_a_logged_in_visit_to_the_login_page_goes_on(site: Site) -> None:
    site.add_user("lea")
    site.login("lea")
    answer = site.client.get("/login", params={"next": "/apps"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/apps"


def test_failed_logins_are_throttled_per_user_and_address(site: Site) -> None:
    site.add_user("max")
    site.add_user("ned")
    for _ in range(USER_LIMIT):
        assert site.post_login("max", "guess guess", csrf=site.login_form()).status_code == 401
    blocked = site.post_login("max", PASSWORD, csrf=site.login_form())  # even the right password
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) == int(WINDOW)
    assert "Too many failed attempts" in blocked.text
    assert [e.action for e in site.audit.entries()][:1] == ["login.locked"]
    # another user from the same address is not locked out by max's guesses
    assert site.post_login("ned", PASSWORD, csrf=site.login_form()).status_code == 303
    site.client.cookies.clear()
    site.window_passes()
    assert site.post_login("max", PASSWORD, csrf=site.login_form()).status_code == 303


def test_an_address_guessing_many_user_names_is_throttled(site: Site) -> None:
    site.add_user("olga")
    for i in range(ADDRESS_LIMIT):
        assert site.post_login(f"user{i}", "guess guess", csrf=site.login_form()).status_code == 401
    assert site.post_login("olga", PASSWORD, csrf=site.login_form()).status_code == 429


def test_a_successful_login_clears_the_users_failures(site: Site) -> None:
    site.add_user("pia")
    for _ in range(USER_LIMIT - 1):
        site.post_login("pia", "guess guess", csrf=site.login_form())
    site.login("pia")
    site.client.cookies.clear()
    for _ in range(USER_LIMIT - 1):
        assert site.post_login("pia", "guess guess", csrf=site.login_form()).status_code == 401
    assert site.post_login("pia", PASSWORD, csrf=site.login_form()).status_code == 303


def test_password_hashes_are_argon2_and_rehashed_when_parameters_change(site: Site) -> None:
    site.add_user("quinn")
    stored = site.accounts.user("quinn")
    assert stored is not None and stored.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert PASSWORD not in stored.password_hash
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    site.ctx.extras["passwords"] = stronger
    site.login("quinn")
    again = site.accounts.user("quinn")
    assert again is not None and again.password_hash.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert stronger.check(again.password_hash, PASSWORD).ok
    assert CHEAP.verify(stored.password_hash, PASSWORD)


def test_a_disabled_user_cannot_log_in(site: Site) -> None:
    site.add_user("rui")
    site.accounts.set_disabled("rui", True)
    assert site.post_login("rui", csrf=site.login_form()).status_code == 401
