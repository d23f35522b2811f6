"""POST /api/v1/webhooks/{provider} through the real app on a real Redis: each provider's recorded
payload triggers exactly the affected targets; forged, replayed, oversized, mistyped, malformed and
hostile deliveries are refused with the status the sender can act on, and every answer is recorded."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webhook_kit import MAX_BODY, SECRETS, Hooks, env_name, make_hooks, payload, sign, webhook_fleet

from gitops.domain import SecretRef, WebhookReceiver
from gitops.state.deliveries import Delivery
from workers.redis_server import RedisServer

OPERATOR = {"X-Test-Role": "operator"}
ZERO = "0" * 40


def recorded(hooks: Hooks, answer: Any) -> Delivery:
    body = answer.json()
    found = hooks.store.get(body["delivery"])
    assert found is not None, body
    return found


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS.values():
            assert secret not in text


# ---- each provider's push ------------------------------------------------------------------------

PUSHES = [
    ("github", "github-push.json", None, ["web@prod"]),
    ("github", "github-tag.json", None, ["web-v1@prod"]),
    ("gitlab", "gitlab-push.json", None, ["dia@prod"]),
    ("gitlab", "gitlab-tag-push.json", "Tag Push Hook", ["ex-v1@prod"]),
    ("gitea", "gitea-push.json", None, ["gitea-dev@staging"]),
    ("bitbucket-server", "bitbucket-server-refs-changed.json", None, ["bbs-app@prod"]),
    ("bitbucket-cloud", "bitbucket-cloud-push.json", None, ["bbc-app@prod"]),
    ("generic", "generic-push.json", None, ["gen-app@prod"]),
]


@pytest.mark.parametrize(("provider", "name", "event", "targets"), PUSHES)
def test_a_recorded_push_triggers_exactly_the_affected_targets(hooks: Hooks, provider: str, name: str,
                                                               event: str | None, targets: list[str]) -> None:
    delivery = str(uuid.uuid4())
    answer = hooks.send(provider, payload(name), event=event, delivery=delivery)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["verdict"] == "accepted" and body["provider"] == provider and body["id"] == delivery
    assert [t["target"] for t in body["triggered"]] == targets
    assert all(t["task"].startswith("task-") for t in body["triggered"])
    assert body["message"] == f"refresh requested for {len(targets)} target(s)"
    assert hooks.reconciles() == [tuple(t.split("@")) for t in targets]
    assert all(call[3] == {"trigger": "webhook", "detail": f"{provider} delivery {delivery}"}
               for call in hooks.actions.calls)
    stored = recorded(hooks, answer)
    assert stored.verdict == "accepted" and stored.status == 202 and stored.id == delivery
    assert [t for t, _ in stored.triggered] == targets
    assert stored.remote == "testclient" and stored.repository and stored.ref.startswith("refs/")


def test_the_bitbucket_alias_takes_either_flavour(hooks: Hooks) -> None:
    cloud = hooks.send("bitbucket-cloud", payload("bitbucket-cloud-push.json"), path="bitbucket")
    server = hooks.send("bitbucket-server", payload("bitbucket-server-refs-changed.json"), path="bitbucket")
    assert (cloud.status_code, server.status_code) == (202, 202)
    assert cloud.json()["provider"] == "bitbucket-cloud" and cloud.json()["receiver"] == "bbc"
    assert server.json()["provider"] == "bitbucket-server" and server.json()["receiver"] == "bbs"
    assert hooks.reconciles() == [("bbc-app", "prod"), ("bbs-app", "prod")]


def test_gitea_may_sign_with_its_own_header_only(hooks: Hooks) -> None:
    answer = hooks.send("gitea", payload("gitea-push.json"), headers={"X-Hub-Signature-256": None})
    assert answer.status_code == 202 and answer.json()["triggered"][0]["target"] == "gitea-dev@staging"


def test_github_form_encoded_payload_is_read(hooks: Hooks) -> None:
    body = urlencode({"payload": json.dumps(payload("github-push.json"))}).encode()
    answer = hooks.send("github", body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 202 and [t["target"] for t in answer.json()["triggered"]] == ["web@prod"]
    no_payload = hooks.send("github", b"other=1", content_type="application/x-www-form-urlencoded")
    assert no_payload.status_code == 400
    assert no_payload.json()["detail"] == "payload: required field is missing"


# ---- what a push matches -------------------------------------------------------------------------

def _github(**changes: Any) -> dict[str, Any]:
    data = payload("github-push.json")
    for key, value in changes.items():
        data[key] = value
    return data


def _commits(*paths: str) -> list[dict[str, Any]]:
    return [{"id": "f" * 40, "added": [], "removed": [], "modified": list(paths)}]


def test_a_push_touching_one_app_path_triggers_only_that_app(hooks: Hooks) -> None:
    answer = hooks.send("github", _github(commits=_commits("apps/api/deployment.yaml")))
    assert [t["target"] for t in answer.json()["triggered"]] == ["api@prod"]
    assert answer.json()["reasons"] == ["1 application(s) of repository hello on branch main hold none of "
                                        "the changed paths: web"]
    assert "hold none of the changed paths: web" in recorded(hooks, answer).reason


def test_a_shared_path_triggers_every_app_of_the_repository(hooks: Hooks) -> None:
    answer = hooks.send("github", _github(commits=_commits("apps/web/a.yaml", "bases/common.yaml")))
    assert [t["target"] for t in answer.json()["triggered"]] == ["api@prod", "web@prod"]
    assert recorded(hooks, answer).paths == 2


@pytest.mark.parametrize("changes", [{"forced": True}, {"created": True}, {"commits": []},
                                     {"commits": _commits()}])
def test_when_paths_are_not_listed_completely_every_app_on_the_ref_is_triggered(
        hooks: Hooks, changes: dict[str, Any]) -> None:
    answer = hooks.send("github", _github(**changes))
    assert [t["target"] for t in answer.json()["triggered"]] == ["api@prod", "web@prod"]
    assert recorded(hooks, answer).paths is None


def test_gitlab_truncated_commit_list_means_unknown_paths(hooks: Hooks) -> None:
    data = payload("gitlab-push.json")
    data["project"]["git_ssh_url"] = "git@github.com:Codertocat/Hello-World.git"
    data.update(ref="refs/heads/main", total_commits_count=25,
                commits=[{"id": "a" * 40, "added": ["apps/web/x"], "modified": [], "removed": []}])
    answer = hooks.send("gitlab", data)
    assert [t["target"] for t in answer.json()["triggered"]] == ["api@prod", "web@prod"]


def test_another_repository_is_unaffected_and_the_answer_says_why(hooks: Hooks) -> None:
    data = _github()
    data["repository"] = {**data["repository"], "clone_url": "https://github.com/Codertocat/Unknown.git",
                          "ssh_url": "git@github.com:Codertocat/Unknown.git", "git_url": None,
                          "html_url": "https://github.com/Codertocat/Unknown", "url": None}
    answer = hooks.send("github", data)
    assert answer.status_code == 202 and hooks.actions.calls == []
    body = answer.json()
    assert body["verdict"] == "ignored" and body["triggered"] == []
    assert body["message"] == ("nothing to refresh: no repository matched the URL "
                               "https://github.com/Codertocat/Unknown.git, "
                               "git@github.com:Codertocat/Unknown.git, https://github.com/Codertocat/Unknown")
    assert recorded(hooks, answer).verdict == "ignored"


def test_a_branch_no_application_follows(hooks: Hooks) -> None:
    answer = hooks.send("github", _github(ref="refs/heads/feature/login"))
    assert answer.status_code == 202 and hooks.actions.calls == []
    assert answer.json()["message"] == ("nothing to refresh: branch feature/login of repository hello is not "
                                        "followed by any application (they follow main, staging, v1.0.0)")


@pytest.mark.parametrize("changes", [{"deleted": True, "after": ZERO, "commits": []}, {"after": ZERO}])
def test_a_deleted_branch_is_ignored(hooks: Hooks, changes: dict[str, Any]) -> None:
    answer = hooks.send("github", _github(**changes))
    assert answer.status_code == 202 and hooks.actions.calls == []
    assert answer.json()["verdict"] == "ignored"
    assert answer.json()["message"] == "nothing to refresh: branch main was deleted: nothing to refresh"


def test_deleted_refs_on_bitbucket(hooks: Hooks) -> None:
    server = payload("bitbucket-server-refs-changed.json")
    server["changes"][0].update(type="DELETE", toHash=ZERO)
    cloud = payload("bitbucket-cloud-push.json")
    cloud["push"]["changes"][0].update(new=None, closed=True)
    for provider, data in (("bitbucket-server", server), ("bitbucket-cloud", cloud)):
        answer = hooks.send(provider, data)
        assert answer.status_code == 202 and answer.json()["verdict"] == "ignored", answer.text
        assert "was deleted" in answer.json()["message"]
    assert hooks.actions.calls == []


def test_a_receiver_restricted_to_some_repositories(hooks: Hooks) -> None:
    secret = SECRETS["github-other"]
    refused = hooks.send("github", _github(), secret=secret)
    assert refused.status_code == 202 and refused.json()["verdict"] == "ignored"
    assert refused.json()["receiver"] == "github-other"
    assert "repository hello matched, but this receiver may not trigger it" in refused.json()["message"]
    data = _github()
    data["repository"] = {**data["repository"], "clone_url": "https://github.com/Codertocat/Other.git"}
    allowed = hooks.send("github", data, secret=secret)
    assert [t["target"] for t in allowed.json()["triggered"]] == ["other-app@prod"]


def test_an_already_queued_target_is_reported_coalesced(hooks: Hooks) -> None:
    hooks.actions.coalesce.add("web@prod")
    answer = hooks.send("github", _github(commits=_commits("bases/x.yaml")))
    assert answer.json()["triggered"] == [{"target": "api@prod", "task": "task-1"},
                                          {"target": "web@prod", "task": "coalesced"}]
    assert answer.json()["message"] == "refresh requested for 2 target(s) (1 already queued: coalesced)"


def test_never_a_sync_inside_the_request(hooks: Hooks) -> None:
    for provider, name, event, _ in PUSHES:
        hooks.send(provider, payload(name), event=event)
    assert {call[0] for call in hooks.actions.calls} == {"reconcile"}


class FailingActions:
    def __init__(self) -> None:
        self.broken = True
        self.calls: list[tuple[str, str]] = []

    def request_reconcile(self, app: str, cluster: str, trigger: object = None,
                          detail: str | None = None) -> str | None:
        if self.broken:
            raise ConnectionError("broker away")
        self.calls.append((app, cluster))
        return "task-ok"


def test_enqueue_failure_is_503_and_the_retry_is_not_a_replay(redis_server: RedisServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    actions = FailingActions()
    hooks = make_hooks(redis_server, actions, monkeypatch)
    with hooks.client:
        first = hooks.send("github", _github(), delivery="retry-me")
        assert first.status_code == 503 and first.headers["retry-after"] == "30"
        assert first.headers["content-type"] == "application/problem+json"
        assert first.json()["detail"].endswith("enqueueing failed for web@prod: ConnectionError")
        assert recorded(hooks, first).verdict == "rejected"
        actions.broken = False
        again = hooks.send("github", _github(), delivery="retry-me")
        assert again.status_code == 202 and actions.calls == [("web", "prod")]


# ---- pings and other events ----------------------------------------------------------------------

@pytest.mark.parametrize(("provider", "data", "event", "note"), [
    ("github", payload("github-ping.json"), "ping", "ping from hook 109948940"),
    ("bitbucket-server", {"test": True}, "diagnostics:ping", "Bitbucket Server test connection"),
    ("generic", {"event": "ping"}, None, "ping"),
])
def test_pings_are_answered_200_and_recorded(hooks: Hooks, provider: str, data: dict[str, Any],
                                             event: str | None, note: str) -> None:
    answer = hooks.send(provider, data, event=event)
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == f"pong: receiver {_main(provider)} verified this delivery ({note})"
    assert recorded(hooks, answer).verdict == "accepted" and hooks.actions.calls == []


def _main(provider: str) -> str:
    return {"github": "github-main", "bitbucket-server": "bbs", "generic": "generic"}[provider]


def test_a_gitea_test_delivery_is_a_ping(hooks: Hooks) -> None:
    data = payload("gitea-push.json")
    data["before"] = data["after"]  # Gitea's "Test Delivery" sends the head as both
    answer = hooks.send("gitea", data)
    assert answer.status_code == 200 and "test delivery" in answer.json()["message"]
    assert hooks.actions.calls == []


@pytest.mark.parametrize(("provider", "event", "data", "name"), [
    ("github", "issues", {"action": "opened"}, "issues"),
    ("github", "pull_request", {"action": "opened"}, "pull_request"),
    ("gitlab", "Merge Request Hook", {"object_kind": "merge_request"}, "Merge Request Hook"),
    ("gitlab", "System Hook", {"object_kind": "repository_update"}, "System Hook (repository_update)"),
    ("gitea", "create", {"ref": "v1", "ref_type": "tag"}, "create"),
    ("bitbucket-server", "pr:opened", {"eventKey": "pr:opened"}, "pr:opened"),
    ("bitbucket-cloud", "repo:fork", {"fork": {}}, "repo:fork"),
    ("generic", "", {"event": "release"}, "release"),
])
def test_other_events_are_ignored_202_and_recorded(hooks: Hooks, provider: str, event: str,
                                                   data: dict[str, Any], name: str) -> None:
    answer = hooks.send(provider, data, event=event)
    assert answer.status_code == 202
    assert answer.json()["verdict"] == "ignored"
    assert answer.json()["message"] == f"ignored: event {name}"
    assert recorded(hooks, answer).event == name and hooks.actions.calls == []


def test_a_ref_that_is_neither_branch_nor_tag_is_ignored(hooks: Hooks) -> None:
    answer = hooks.send("github", _github(ref="refs/pull/12/head"))
    assert answer.status_code == 202
    assert answer.json()["message"] == ("ignored: event push (ref refs/pull/12/head is neither a branch nor "
                                        "a tag)")


# ---- authentication ------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["github", "gitea", "gitlab", "bitbucket-server", "bitbucket-cloud",
                                      "generic"])
def test_a_wrong_secret_is_401_recorded_without_the_secret(hooks: Hooks, provider: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = {p: n for p, n, _, _ in reversed(PUSHES)}[provider]
    answer = hooks.send(provider, payload(name), secret="not-the-secret")
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"
    assert hooks.actions.calls == []
    stored = recorded(hooks, answer)
    assert stored.verdict == "rejected" and stored.status == 401
    what = "token" if provider == "gitlab" else "signature"
    assert f"{what} does not match" in stored.reason
    assert answer.json()["detail"] == f"the {what} does not match any receiver's secret"
    assert_no_secret(answer.text, json.dumps(stored.to_dict()), caplog.text)
    assert "not-the-secret" not in json.dumps(stored.to_dict())


def test_a_tampered_body_is_401(hooks: Hooks) -> None:
    body = json.dumps(_github()).encode()
    headers = hooks.headers("github", body)
    tampered = body.replace(b"apps/web/deployment.yaml", b"apps/api/deployment.yaml")
    answer = hooks.client.post("/api/v1/webhooks/github", content=tampered,
                               headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 401 and hooks.actions.calls == []


def test_the_signature_covers_the_raw_bytes_not_the_parsed_json(hooks: Hooks) -> None:
    compact = json.dumps(_github(), separators=(",", ":")).encode()
    pretty = json.dumps(_github(), indent=2).encode()
    headers = hooks.headers("github", compact)
    answer = hooks.client.post("/api/v1/webhooks/github", content=pretty,
                               headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 401


@pytest.mark.parametrize(("provider", "headers", "detail"), [
    ("github", {"X-Hub-Signature-256": None}, "missing X-Hub-Signature-256 header"),
    ("github", {"X-Hub-Signature-256": None, "X-Hub-Signature": "sha1=" + "a" * 40},
     "missing X-Hub-Signature-256 header (SHA-1 X-Hub-Signature is not accepted)"),
    ("github", {"X-Hub-Signature-256": "sha1=" + "a" * 40},
     "malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>"),
    ("github", {"X-Hub-Signature-256": "sha256=" + "g" * 64},
     "malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>"),
    ("github", {"X-Hub-Signature-256": "sha256="}, "malformed X-Hub-Signature-256 header: expected "
                                                   "sha256=<64 hex digits>"),
    ("gitea", {"X-Hub-Signature-256": None, "X-Gitea-Signature": None},
     "missing X-Hub-Signature-256 (or X-Gitea-Signature) header"),
    ("gitea", {"X-Hub-Signature-256": None, "X-Gitea-Signature": "xyz"},
     "malformed X-Gitea-Signature header: expected 64 hex digits"),
    ("gitlab", {"X-Gitlab-Token": None}, "missing X-Gitlab-Token header"),
    ("gitlab", {"X-Gitlab-Token": ""}, "missing X-Gitlab-Token header"),
    ("bitbucket-server", {"X-Hub-Signature": None},
     "missing X-Hub-Signature header (set a secret on the Bitbucket webhook so that it signs)"),
    ("bitbucket-cloud", {"X-Hub-Signature": None},
     "missing X-Hub-Signature header (set a secret on the Bitbucket webhook so that it signs)"),
    ("generic", {"X-Hub-Signature-256": None}, "missing X-Hub-Signature-256 header"),
])
def test_missing_or_malformed_signature_headers(hooks: Hooks, provider: str, headers: dict[str, str | None],
                                                detail: str) -> None:
    answer = hooks.send(provider, {"any": "thing"}, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["detail"] == detail
    assert recorded(hooks, answer).reason == detail


def test_bitbucket_accepts_the_sha256_header_name_too(hooks: Hooks) -> None:
    data = payload("bitbucket-cloud-push.json")
    body = json.dumps(data).encode()
    answer = hooks.send("bitbucket-cloud", body, headers={
        "X-Hub-Signature": None, "X-Hub-Signature-256": "sha256=" + sign(SECRETS["bbc"], body)})
    assert answer.status_code == 202


def test_a_gitlab_token_is_compared_whole(hooks: Hooks) -> None:
    token = SECRETS["gitlab"]
    for wrong in (token[:-1], token + "x", token.upper(), " " + token):
        answer = hooks.send("gitlab", payload("gitlab-push.json"), secret=wrong)
        assert answer.status_code == 401, wrong
    assert hooks.actions.calls == []


def test_a_non_ascii_gitlab_token_is_compared_as_the_bytes_sent(redis_server: RedisServer, actions: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = make_hooks(redis_server, actions, monkeypatch)
    monkeypatch.setenv(env_name("gitlab"), "jeton-sécurisé")
    with hooks.client:
        body = json.dumps(payload("gitlab-push.json")).encode()
        sent = {"X-Gitlab-Event": "Push Hook", "Content-Type": "application/json"}
        good = hooks.client.post("/api/v1/webhooks/gitlab", content=body,
                                 headers=[*sent.items(), ("X-Gitlab-Token", "jeton-sécurisé".encode())])
        assert good.status_code == 202, good.text
        bad = hooks.client.post("/api/v1/webhooks/gitlab", content=body,
                                headers=[*sent.items(), ("X-Gitlab-Token", b"jeton-securise")])
        assert bad.status_code == 401


def test_every_receiver_of_the_provider_is_tried(hooks: Hooks) -> None:
    data = _github()
    data["repository"] = {**data["repository"], "clone_url": "https://github.com/Codertocat/Other.git"}
    assert hooks.send("github", data, secret=SECRETS["github-other"]).json()["receiver"] == "github-other"
    assert hooks.send("github", data, secret=SECRETS["github-main"]).json()["receiver"] == "github-main"


def test_a_secret_that_is_not_available_rejects_without_a_500(hooks: Hooks,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env_name("gitlab"))
    answer = hooks.send("gitlab", payload("gitlab-push.json"))
    assert answer.status_code == 401
    assert answer.json()["detail"] == ("the token does not match any receiver's secret; receiver gitlab: "
                                       "secret not available")
    assert recorded(hooks, answer).reason == ("receiver gitlab: secret not available: environment variable "
                                              "WH_GITLAB is not set")
    monkeypatch.setenv(env_name("gitlab"), "")
    assert "environment variable WH_GITLAB is empty" in recorded(
        hooks, hooks.send("gitlab", payload("gitlab-push.json"))).reason


def test_a_secret_file_is_read_at_each_delivery(redis_server: RedisServer, actions: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "generic.secret"
    fleet = webhook_fleet()
    receivers = {"generic": WebhookReceiver("generic", "generic", SecretRef(file=str(secret_file)))}
    hooks = make_hooks(redis_server, actions, monkeypatch, fleet=replace(fleet, receivers=receivers))
    with hooks.client:
        missing = hooks.send("generic", payload("generic-push.json"), secret="first")
        assert missing.status_code == 401
        assert recorded(hooks, missing).reason.startswith(f"receiver generic: secret not available: file "
                                                          f"{secret_file} cannot be read (")
        secret_file.write_text("first\n")  # a trailing newline, as `echo secret > file` writes
        assert hooks.send("generic", payload("generic-push.json"), secret="first").status_code == 202
        secret_file.write_text("second")  # rotated: no restart
        assert hooks.send("generic", payload("generic-push.json"), secret="first").status_code == 401
        assert hooks.send("generic", payload("generic-push.json"), secret="second").status_code == 202
        secret_file.write_text("\n")
        empty = hooks.send("generic", payload("generic-push.json"), secret="")
        assert recorded(hooks, empty).reason == (f"receiver generic: secret not available: file "
                                                 f"{secret_file} is empty")


# ---- replays -------------------------------------------------------------------------------------

def test_a_replayed_delivery_is_409_and_recorded(hooks: Hooks) -> None:
    first = hooks.send("github", _github(), delivery="d-1")
    again = hooks.send("github", _github(), delivery="d-1")
    assert first.status_code == 202 and again.status_code == 409
    assert again.json()["detail"] == "replayed delivery: id d-1 was already received in the last 3600s"
    assert recorded(hooks, again).verdict == "rejected"
    assert hooks.reconciles() == [("web", "prod")]  # the first delivery's target, nothing more
    assert hooks.send("gitea", payload("gitea-push.json"), delivery="d-1").status_code == 202  # not GitHub's


def test_the_replay_mark_lives_for_the_replay_window(hooks: Hooks) -> None:
    hooks.send("github", _github(), delivery="window")
    key = hooks.store.seen_key("github", "window")
    assert 3_590_000 < hooks.store.client.pttl(key) <= 3_600_000


def test_a_delivery_without_an_id_is_known_by_its_body(hooks: Hooks) -> None:
    body = json.dumps(_github()).encode()
    first = hooks.send("github", body, headers={"X-GitHub-Delivery": None})
    assert first.json()["id"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert hooks.send("github", body, headers={"X-GitHub-Delivery": None}).status_code == 409


def test_an_unverified_delivery_does_not_burn_its_id(hooks: Hooks) -> None:
    assert hooks.send("github", _github(), delivery="d-2", secret="forged").status_code == 401
    assert hooks.send("github", _github(), delivery="d-2").status_code == 202


# ---- transport and payload -----------------------------------------------------------------------

def test_an_oversized_body_is_413_through_the_route(hooks: Hooks) -> None:
    data = _github(padding="x" * MAX_BODY)
    answer = hooks.send("github", data)
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == f"request bodies are limited to {MAX_BODY} bytes"
    assert hooks.actions.calls == []


def test_an_oversized_streamed_body_is_413(hooks: Hooks) -> None:
    body = json.dumps(_github(padding="x" * MAX_BODY)).encode()
    headers = {**hooks.headers("github", body), "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    answer = hooks.client.post("/api/v1/webhooks/github", content=chunks(), headers=headers)
    assert answer.status_code == 413 and hooks.actions.calls == []


@pytest.mark.parametrize(("provider", "content_type", "allowed"), [
    ("github", "text/plain", "application/json or application/x-www-form-urlencoded"),
    ("github", None, "application/json or application/x-www-form-urlencoded"),
    ("gitlab", "application/x-www-form-urlencoded", "application/json"),
    ("generic", "application/xml", "application/json"),
    ("bitbucket-cloud", "multipart/form-data; boundary=x", "application/json"),
])
def test_a_wrong_content_type_is_415(hooks: Hooks, provider: str, content_type: str | None,
                                     allowed: str) -> None:
    answer = hooks.send(provider, {"a": 1}, content_type=content_type)
    assert answer.status_code == 415
    shown = (content_type or "").split(";")[0] or "none"
    assert answer.json()["detail"] == f"content type {shown!r} is not accepted: send {allowed}"
    assert recorded(hooks, answer).status == 415


def test_json_with_a_charset_is_fine(hooks: Hooks) -> None:
    assert hooks.send("github", _github(), content_type="application/json; charset=utf-8").status_code == 202


@pytest.mark.parametrize(("body", "detail"), [
    (b'{"ref": "refs/heads/main",',
     "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 27"),
    (b'{"a": "\xc3\x28"}', "malformed JSON: the body is not UTF-8"),
    (b"[1, 2, 3]", "the JSON body must be an object"),
    (b'"just a string"', "the JSON body must be an object"),
    (b"", "malformed JSON: Expecting value at line 1 column 1"),
    (b'{"n": ' + b"9" * 5000 + b"}", "malformed JSON: "),
])
def test_malformed_json_is_400_naming_the_problem(hooks: Hooks, body: bytes, detail: str) -> None:
    answer = hooks.send("github", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(detail)
    stored = recorded(hooks, answer)
    assert stored.verdict == "rejected" and stored.receiver == "github-main"  # verified, then unreadable


@pytest.mark.parametrize(("changes", "detail"), [
    ({"ref": 5}, "ref: expected a string"),
    ({"ref": None}, "ref: required field is missing"),
    ({"commits": {"not": "a list"}}, "commits: expected a list"),
    ({"commits": ["x"]}, "commits[0]: expected an object"),
    ({"commits": [{"modified": "apps/web"}]}, "modified: expected a list"),
    ({"commits": [{"modified": [7]}]}, "commits[0].modified[0]: expected a string"),
    ({"repository": {"clone_url": ["x"]}}, "repository.clone_url: expected a string"),
    ({"forced": "yes"}, "forced: expected true or false"),
])
def test_a_payload_of_the_wrong_shape_is_400_naming_the_field(hooks: Hooks, changes: dict[str, Any],
                                                             detail: str) -> None:
    answer = hooks.send("github", _github(**changes))
    assert answer.status_code == 400 and answer.json()["detail"] == detail


def test_a_missing_event_header_is_400(hooks: Hooks) -> None:
    answer = hooks.send("github", _github(), headers={"X-GitHub-Event": None})
    assert answer.status_code == 400
    assert answer.json()["detail"] == "missing X-GitHub-Event header: which event is this?"


def test_deep_json_is_refused_before_it_is_parsed(hooks: Hooks, forbid: Callable[..., list[str]]) -> None:
    called = forbid((json, "loads"))  # the module web.webhooks.payloads parses with
    answer = hooks.send("github", b'{"a": ' + b"[" * 30_000 + b"]" * 30_000 + b"}")
    assert answer.status_code == 400 and "JSON nested deeper than 32 levels" in answer.text
    assert called == []


def test_deep_json_inside_a_form_is_refused_too(hooks: Hooks) -> None:
    body = urlencode({"payload": '{"a": ' + "[" * 1000 + "]" * 1000 + "}"}).encode()
    answer = hooks.send("github", body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and answer.json()["detail"] == "JSON nested deeper than 32 levels"


def test_brackets_inside_strings_do_not_count_as_nesting(hooks: Hooks) -> None:
    data = _github()
    data["head_commit"]["message"] = "[" * 5000 + '{"\\"' + "{" * 5000
    assert hooks.send("github", data).status_code == 202


# ---- providers and receivers ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["gitlabx", "GitHub", "..", "bitbucket-server2", "deliveries", "x" * 600])
def test_an_unknown_provider_is_404_and_not_recorded(hooks: Hooks, path: str) -> None:
    answer = hooks.send("github", _github(), path=path)
    assert answer.status_code == 404
    assert hooks.store.recent() == []


def test_a_provider_without_receivers_is_404_with_a_clear_message(redis_server: RedisServer, actions: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = webhook_fleet()
    only_github = {k: v for k, v in fleet.receivers.items() if v.provider == "github"}
    hooks = make_hooks(redis_server, actions, monkeypatch, fleet=replace(fleet, receivers=only_github))
    with hooks.client:
        answer = hooks.send("gitlab", payload("gitlab-push.json"))
        assert answer.status_code == 404
        assert answer.json()["detail"] == ("no WebhookReceiver is configured for provider gitlab: add one "
                                           "(docs/webhooks.md)")
        assert recorded(hooks, answer).verdict == "rejected"
        assert hooks.send("bitbucket-cloud", payload("bitbucket-cloud-push.json"),
                          path="bitbucket").status_code == 404


def test_the_webhook_route_needs_no_login(hooks: Hooks) -> None:
    answer = hooks.send("github", _github(), headers={"X-Test-Role": None, "Cookie": None})
    assert answer.status_code == 202


# ---- hostile headers -----------------------------------------------------------------------------

def test_hostile_delivery_ids_and_event_names_are_recorded_as_clipped_text(hooks: Hooks) -> None:
    answer = hooks.send("github", {"zen": "x"}, event="<script>alert(1)</script>",
                        delivery="id-" + "z" * 10_000)
    assert answer.status_code == 202
    stored = recorded(hooks, answer)
    assert stored.event == "<script>alert(1)</script>"
    assert len(stored.id) <= 200 and stored.id.startswith("id-zzz")
    bad = hooks.send("github", _github(), delivery="a\x7fb", secret="forged")
    assert recorded(hooks, bad).id == "a?b"


# ---- the deliveries API and metrics --------------------------------------------------------------

def test_the_deliveries_api_is_for_operators(hooks: Hooks) -> None:
    first = hooks.send("github", _github(), delivery="api-1")
    hooks.send("gitlab", payload("gitlab-push.json"), delivery="api-2")
    hooks.send("github", _github(), delivery="api-3", secret="forged")
    url = "/api/v1/webhooks/deliveries"
    assert hooks.client.get(url).status_code == 401
    assert hooks.client.get(url, headers={"X-Test-Role": "viewer"}).status_code == 403
    listed = hooks.client.get(url, headers=OPERATOR).json()["deliveries"]
    assert [(d["id"], d["verdict"]) for d in listed] == [("api-3", "rejected"), ("api-2", "accepted"),
                                                         ("api-1", "accepted")]
    only = hooks.client.get(url, params={"provider": "gitlab"}, headers=OPERATOR).json()["deliveries"]
    assert [d["id"] for d in only] == ["api-2"]
    assert len(hooks.client.get(url, params={"limit": 1}, headers=OPERATOR).json()["deliveries"]) == 1
    assert hooks.client.get(url, params={"limit": 0}, headers=OPERATOR).status_code == 422
    assert hooks.client.get(url, params={"provider": "svn"}, headers=OPERATOR).status_code == 400
    key = first.json()["delivery"]
    one = hooks.client.get(f"{url}/{key}", headers=OPERATOR).json()
    assert one["id"] == "api-1" and one["triggered"] == first.json()["triggered"]
    assert hooks.client.get(f"{url}/api-2", headers=OPERATOR).json()["provider"] == "gitlab"
    missing = hooks.client.get(f"{url}/nope", headers=OPERATOR)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_a_scoped_operator_sees_only_its_applications_targets(redis_server: RedisServer, actions: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = webhook_fleet()
    apps = dict(fleet.applications)
    apps["web"] = replace(apps["web"], labels={"team": "web"})
    hooks = make_hooks(redis_server, actions, monkeypatch, fleet=replace(fleet, applications=apps))
    with hooks.client:
        sent = hooks.send("github", _github(commits=_commits("bases/x")))
        assert len(sent.json()["triggered"]) == 2
        scoped = {**OPERATOR, "X-Test-Scope": "team=web"}
        key = sent.json()["delivery"]
        one = hooks.client.get(f"/api/v1/webhooks/deliveries/{key}", headers=scoped).json()
        assert [t["target"] for t in one["triggered"]] == ["web@prod"]


def test_deliveries_are_counted_by_provider_and_outcome(hooks: Hooks) -> None:
    hooks.send("github", _github())
    hooks.send("github", _github(), secret="forged")
    hooks.send("github", {"action": "opened"}, event="issues")
    hooks.send("gitlab", payload("gitlab-push.json"))
    hooks.send("github", _github(), path="nope")  # not a provider: not counted
    registry = hooks.ctx.extras["webhook_metrics"].registry
    assert registry in hooks.ctx.extras["collectors"]
    found = {(s.labels["provider"], s.labels["outcome"]): s.value
             for family in registry.collect() for s in family.samples if s.name.endswith("_total")}
    assert found == {("github", "accepted"): 1.0, ("github", "rejected"): 1.0, ("github", "ignored"): 1.0,
                     ("gitlab", "accepted"): 1.0}
    exposed = hooks.client.get("/metrics").text
    samples = {(s.name, s.labels.get("provider"), s.labels.get("outcome")): s.value
               for family in text_string_to_metric_families(exposed) for s in family.samples}
    assert samples[("gitops_webhook_deliveries_total", "github", "rejected")] == 1.0
