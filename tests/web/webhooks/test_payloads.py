"""Reading each provider's payload: refs, URLs, complete or unknown changed paths, the nesting bound,
delivery ids and events from headers (the parts the HTTP tests reach only through one payload each)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from webhook_kit import payload

from web.webhooks.payloads import (
    MAX_DEPTH,
    PayloadError,
    check_depth,
    decode_body,
    decode_json,
    delivery_id,
    event_name,
    parse,
)

ZERO = "0" * 40


def _commits(n: int, path: str = "apps/web/x") -> list[dict[str, Any]]:
    return [{"id": f"{i:040x}", "added": [path], "modified": [], "removed": []} for i in range(n)]


def test_nesting_at_the_limit_is_fine_one_more_is_refused() -> None:
    check_depth(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    check_depth(b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH)
    with pytest.raises(PayloadError, match=f"JSON nested deeper than {MAX_DEPTH} levels"):
        check_depth(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    with pytest.raises(PayloadError, match="nested deeper"):
        check_depth(b'[{"a": ' * 40)  # unterminated: the scan still stops at the limit


def test_brackets_and_escaped_quotes_inside_strings_are_not_nesting() -> None:
    check_depth(b'{"m": "' + b"[{" * 1000 + b'\\" [[[ \\\\", "n": ["]]]]"]}')
    with pytest.raises(PayloadError):  # an unterminated string is malformed: its brackets count, no storm
        check_depth(b'"' + b"\\" * 50_000 + b"[" * 1000)


def test_decode_json_wants_an_object() -> None:
    assert decode_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    for raw, message in ((b"[]", "must be an object"), (b"nul", "malformed JSON: Expecting value"),
                         (b'{"a": 1} x', "malformed JSON: Extra data at line 1 column 10")):
        with pytest.raises(PayloadError, match=message):
            decode_json(raw)


def test_decode_body_reads_a_github_form() -> None:
    assert decode_body("application/x-www-form-urlencoded", b"payload=%7B%22a%22%3A1%7D") == {"a": 1}
    for raw, message in ((b"payload=\xff", "must be ASCII"), (b"&".join([b"a=1"] * 20), "malformed form"),
                         (b"payload=%7B", "malformed JSON")):
        with pytest.raises(PayloadError, match=message):
            decode_body("application/x-www-form-urlencoded", raw)


def test_delivery_id_and_event_from_headers() -> None:
    assert delivery_id("github", {"x-github-delivery": " abc "}, b"x") == "abc"
    assert delivery_id("gitlab", {"idempotency-key": "k"}, b"x") == "k"
    assert delivery_id("gitlab", {"x-gitlab-event-uuid": "u", "idempotency-key": "k"}, b"x") == "u"
    assert delivery_id("bitbucket-server", {"x-request-id": "r"}, b"x") == "r"
    assert delivery_id("bitbucket-cloud", {"x-request-uuid": "c", "x-request-id": "r"}, b"x") == "c"
    assert delivery_id("generic", {}, b"body") == "sha256:" + hashlib.sha256(b"body").hexdigest()
    assert delivery_id("github", {"x-github-delivery": "a\nb" + "c" * 500}, b"") == "a?b" + "c" * 197
    assert event_name("gitea", {"x-gogs-event": "push"}) == "push"
    assert event_name("generic", {}) == ""


# ---- GitHub and Gitea ----------------------------------------------------------------------------

def test_github_push_reads_refs_urls_and_paths() -> None:
    event = parse("github", {"x-github-event": "push"}, payload("github-push.json"))
    assert event.kind == "push" and len(event.pushes) == 1
    push = event.pushes[0]
    assert push.ref == "refs/heads/main" and push.after == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert push.paths == frozenset({"apps/web/deployment.yaml"}) and not push.deleted
    assert push.urls == ("https://github.com/Codertocat/Hello-World.git",
                         "git@github.com:Codertocat/Hello-World.git",
                         "git://github.com/Codertocat/Hello-World.git", "https://github.com/Codertocat/Hello-World")
    assert push.default_branch == "main"


def test_github_lists_at_most_2048_commits_so_a_full_list_means_unknown_paths() -> None:
    data = payload("github-push.json")
    data["commits"] = _commits(2047)
    assert parse("github", {"x-github-event": "push"}, data).pushes[0].paths == frozenset({"apps/web/x"})
    data["commits"] = _commits(2048)
    assert parse("github", {"x-github-event": "push"}, data).pushes[0].paths is None


def test_paths_beyond_the_cap_are_unknown() -> None:
    data = payload("github-push.json")
    data["commits"] = [{"id": "x", "added": [f"f{i}" for i in range(10_001)]}]
    assert parse("github", {"x-github-event": "push"}, data).pushes[0].paths is None


def test_hostile_paths_are_dropped() -> None:
    data = payload("github-push.json")
    data["commits"] = [{"id": "x", "added": ["../../etc/passwd", "a\x00b", "/apps/web/ok.yaml"]}]
    found = parse("github", {"x-github-event": "push"}, data).pushes[0].paths
    assert found == frozenset({"apps/web/ok.yaml"})


def test_gitea_total_commits_beyond_the_list_means_unknown_paths() -> None:
    data = payload("gitea-push.json")
    headers = {"x-gitea-event": "push"}
    assert parse("gitea", headers, data).pushes[0].paths == frozenset({"overlays/dev/kustomization.yaml"})
    data["total_commits"] = 7
    assert parse("gitea", headers, data).pushes[0].paths is None
    data["before"] = ZERO  # a new branch
    data["total_commits"] = 1
    assert parse("gitea", headers, data).pushes[0].paths is None


# ---- GitLab --------------------------------------------------------------------------------------

def test_gitlab_push_and_tag_push() -> None:
    push = parse("gitlab", {"x-gitlab-event": "Push Hook"}, payload("gitlab-push.json")).pushes[0]
    assert push.paths == frozenset({"CHANGELOG", "app/controller/application.rb"})
    assert "git@example.com:mike/diaspora.git" in push.urls and push.default_branch == "master"
    tag = parse("gitlab", {"x-gitlab-event": "Tag Push Hook"}, payload("gitlab-tag-push.json")).pushes[0]
    assert tag.ref == "refs/tags/v1.0.0" and tag.kind == "tag" and tag.short == "v1.0.0"
    assert tag.paths is None and not tag.deleted
    deleted = payload("gitlab-tag-push.json")
    deleted.update(after=ZERO, checkout_sha=None)
    assert parse("gitlab", {"x-gitlab-event": "Tag Push Hook"}, deleted).pushes[0].deleted


def test_gitlab_system_hook_push_is_a_push() -> None:
    event = parse("gitlab", {"x-gitlab-event": "System Hook"}, payload("gitlab-push.json"))
    assert event.kind == "push"


# ---- Bitbucket -----------------------------------------------------------------------------------

def test_bitbucket_server_urls_from_clone_links_and_the_web_page() -> None:
    headers = {"x-event-key": "repo:refs_changed"}
    push = parse("bitbucket-server", headers, payload("bitbucket-server-refs-changed.json")).pushes[0]
    assert push.urls == ("ssh://git@bitbucket.example.com:7999/proj/repository.git",
                         "https://bitbucket.example.com/scm/proj/repository.git",
                         "https://bitbucket.example.com/scm/PROJ/repository.git")
    assert push.paths is None and push.ref == "refs/heads/master"
    data = payload("bitbucket-server-refs-changed.json")
    del data["repository"]["links"]["clone"]
    assert parse("bitbucket-server", headers, data).pushes[0].urls == (
        "https://bitbucket.example.com/scm/PROJ/repository.git",)


def test_bitbucket_server_several_changes() -> None:
    data = payload("bitbucket-server-refs-changed.json")
    data["changes"] += [
        {"ref": {"id": "refs/tags/v2", "type": "TAG"}, "refId": "refs/tags/v2", "toHash": "b" * 40,
         "type": "ADD"},
        {"ref": {"id": "refs/heads/old", "type": "BRANCH"}, "refId": "refs/heads/old", "toHash": ZERO,
         "type": "DELETE"},
        {"refId": "refs/pull-requests/4/from", "toHash": "c" * 40, "type": "UPDATE"}]
    pushes = parse("bitbucket-server", {"x-event-key": "repo:refs_changed"}, data).pushes
    assert [(p.ref, p.deleted) for p in pushes] == [("refs/heads/master", False), ("refs/tags/v2", False),
                                                    ("refs/heads/old", True)]
    data["changes"] = [{"ref": {"id": 5}}]
    with pytest.raises(PayloadError, match=r"changes\[0\].ref.id: expected a string"):
        parse("bitbucket-server", {"x-event-key": "repo:refs_changed"}, data)


def test_bitbucket_cloud_changes() -> None:
    data = payload("bitbucket-cloud-push.json")
    change = data["push"]["changes"][0]
    data["push"]["changes"] += [
        {"new": {"type": "tag", "name": "v3", "target": {"hash": "d" * 40}}, "old": None},
        {"new": None, "old": {"type": "branch", "name": "gone"}, "closed": True},
        {"new": {"type": "named_branch", "name": "hg"}, "old": None}]
    pushes = parse("bitbucket-cloud", {"x-event-key": "repo:push"}, data).pushes
    assert [(p.ref, p.deleted, p.after) for p in pushes] == [
        ("refs/heads/main", False, change["new"]["target"]["hash"]), ("refs/tags/v3", False, "d" * 40),
        ("refs/heads/gone", True, "")]
    assert pushes[0].urls == ("https://bitbucket.org/team/deploy",)
    del data["repository"]["links"]
    assert parse("bitbucket-cloud", {"x-event-key": "repo:push"}, data).pushes[0].urls == (
        "https://bitbucket.org/team/deploy",)
    data["push"]["changes"] = []
    with pytest.raises(PayloadError, match=r"push\.changes: required field is missing"):
        parse("bitbucket-cloud", {"x-event-key": "repo:push"}, data)


# ---- generic -------------------------------------------------------------------------------------

def test_generic_push() -> None:
    push = parse("generic", {}, {"repository": "https://h/o/r.git", "ref": "main"}).pushes[0]
    assert push.ref == "refs/heads/main" and push.paths is None and push.urls == ("https://h/o/r.git",)
    tag = parse("generic", {}, {"repository": "u", "ref": "refs/tags/v1", "paths": ["a/b", "/c"],
                                "commit": "abc", "deleted": True}).pushes[0]
    assert tag.kind == "tag" and tag.paths == frozenset({"a/b", "c"}) and tag.after == "abc" and tag.deleted
    assert parse("generic", {}, {"repository": "u", "ref": "main", "paths": []}).pushes[0].paths is None


@pytest.mark.parametrize(("data", "message"), [
    ({"ref": "main"}, "repository: required field is missing"),
    ({"repository": "u"}, "ref: required field is missing"),
    ({"repository": ["u"], "ref": "main"}, "repository: expected a string"),
    ({"repository": "u", "ref": "main", "paths": "a"}, "paths: expected a list"),
    ({"repository": "u", "ref": "main", "paths": [1]}, r"paths\[0\]: expected a string"),
    ({"repository": "u", "ref": "main", "deleted": "no"}, "deleted: expected true or false"),
    ({"event": 3}, "event: expected a string"),
])
def test_generic_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse("generic", {}, data)
