"""Delivery against real HTTP receivers on 127.0.0.1: the signed webhook (payload, signature, replay
window), commit statuses (GitHub, GitLab), Apprise (json://), errors typed as temporary or permanent,
and the hostile side: secrets never in a payload, message or log, no redirect followed, answers bounded."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.domain import (
    Application,
    AppriseDestination,
    AppSource,
    Cluster,
    CommitStatusDestination,
    Destination,
    Fleet,
    Notification,
    Repository,
    SecretRef,
    WebhookDestination,
)
from gitops.errors import NotificationFailed
from gitops.notify import Notice
from gitops.notify.deliver import (
    HttpSender,
    deliver,
    payload,
    repository_path,
    retry_after,
    signature,
    verify,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notify_receiver import Receiver, serve  # found through the path set just above

SECRET = "s3cr3t-webhook-key"
TOKEN = "ghp_notarealtokenbutsecret"
REV = "0123456789abcdef0123456789abcdef01234567"
NOW = 1_700_000_000.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve() as state:
        yield state


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("GH_TOKEN", TOKEN)


def fleet(notification: Notification, url: str = "https://github.com/org/demo.git") -> Fleet:
    return Fleet({"demo": Repository("demo", url)}, {"prod": Cluster("prod")},
                 {"web": Application("web", AppSource("demo"), Destination("prod"))},
                 notifications={notification.name: notification})


def notice(event: str = "SyncSucceeded", message: str = "web on prod synced") -> Notice:
    return Notice("hook", event, "web", "prod", message, {"revision": REV, "operation": "op-1"})


def webhook(url: str, **headers: str) -> Notification:
    return Notification("hook", destination=WebhookDestination(url, SecretRef(env="HOOK_SECRET"), headers))


def test_the_webhook_is_a_signed_json_post_a_receiver_can_verify(receiver: Receiver) -> None:
    n = webhook(receiver.url + "/hooks/gitops", **{"X-Team": "shop"})
    done = deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert done == f"posted to 127.0.0.1:{receiver.url.rsplit(':', 1)[1]}"
    [request] = receiver.requests
    assert request.path == "/hooks/gitops"
    h = request.headers
    assert h["content-type"] == "application/json" and h["x-team"] == "shop"
    assert h["x-gitops-event"] == "SyncSucceeded" and h["x-gitops-delivery"] == notice().id
    assert h["x-gitops-timestamp"] == str(int(NOW))
    assert verify(SECRET, h["x-gitops-timestamp"], request.body, h["x-gitops-signature"], NOW + 10)
    assert not verify(SECRET, h["x-gitops-timestamp"], request.body, h["x-gitops-signature"], NOW + 301)
    assert not verify("wrong", h["x-gitops-timestamp"], request.body, h["x-gitops-signature"], NOW)
    assert not verify(SECRET, h["x-gitops-timestamp"], request.body + b" ", h["x-gitops-signature"], NOW)
    # the timestamp is signed too: moving it forward (a replay made to look fresh) breaks the signature
    assert not verify(SECRET, str(int(NOW) + 100), request.body, h["x-gitops-signature"], NOW + 100)
    body = json.loads(request.body)
    assert body == payload(notice(), n) and body["revision"] == REV and body["cluster"] == "prod"
    assert SECRET not in request.body.decode() and SECRET not in json.dumps(h)


def test_the_documented_receiver_snippet_verifies_a_delivery() -> None:
    """docs/notifications.md's verification snippet, run as it is written there."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "notifications.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, object] = {}
    exec(snippet, scope)
    body = b'{"event":"SyncSucceeded"}'
    stamp = "1700000000"
    check = scope["verify"]
    assert callable(check)
    assert check(SECRET.encode(), body, stamp, signature(SECRET, stamp, body), now=1_700_000_100)
    assert not check(SECRET.encode(), body, stamp, signature(SECRET, stamp, body), now=1_700_009_000)
    assert not check(b"other", body, stamp, signature(SECRET, stamp, body), now=1_700_000_100)


@pytest.mark.parametrize(("status", "temporary"), [(500, True), (503, True), (429, True), (404, False),
                                                   (401, False), (400, False)])
def test_errors_say_whether_a_retry_can_help(receiver: Receiver, status: int, temporary: bool) -> None:
    receiver.script.append((status, {"Retry-After": "7"}))
    n = webhook(receiver.url)
    with pytest.raises(NotificationFailed) as caught:
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert caught.value.temporary is temporary and caught.value.status == status
    assert caught.value.retry_after == (7.0 if temporary else None)


def test_an_unreachable_or_hanging_receiver_is_a_temporary_failure(receiver: Receiver) -> None:
    n = webhook("http://127.0.0.1:9/nothing-listens")
    with pytest.raises(NotificationFailed) as caught:
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert caught.value.temporary
    receiver.hold = True
    slow = webhook(receiver.url)
    with pytest.raises(NotificationFailed, match=r"did not answer within 0\.2s") as caught:
        deliver(notice(), slow, fleet(slow), HttpSender(timeout=0.2), NOW)
    assert caught.value.temporary


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.script.append((302, {"Location": "http://169.254.169.254/latest/meta-data"}))
    n = webhook(receiver.url)
    with pytest.raises(NotificationFailed, match="answered 302") as caught:
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert not caught.value.temporary and receiver.arrived == 1


def test_secrets_stay_out_of_errors_and_logs(receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOOK_SECRET", "bad\nsecret")
    n = webhook(receiver.url)
    with pytest.raises(NotificationFailed, match="control characters") as caught:
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert "bad" not in str(caught.value)
    monkeypatch.delenv("HOOK_SECRET")
    with pytest.raises(NotificationFailed, match="HOOK_SECRET is not set"):
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    url = f"json://127.0.0.1:1/{TOKEN}"  # an Apprise URL holds tokens: never shown
    monkeypatch.setenv("APPRISE_URL", url.replace("json", "nosuchservice"))
    a = Notification("hook", destination=AppriseDestination(SecretRef(env="APPRISE_URL")))
    with pytest.raises(NotificationFailed) as caught:
        deliver(notice(), a, fleet(a), HttpSender(), NOW)
    assert TOKEN not in str(caught.value) and not caught.value.temporary
    assert TOKEN not in caplog.text and SECRET not in caplog.text


def test_a_commit_status_on_github(receiver: Receiver) -> None:
    n = Notification("hook", destination=CommitStatusDestination("github", SecretRef(env="GH_TOKEN"),
                                                                  receiver.url + "/api/v3", "deploy"))
    done = deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert done == f"commit status success on org/demo@{REV[:12]}"
    [request] = receiver.requests
    assert request.path == f"/api/v3/repos/org/demo/statuses/{REV}"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body) == {"state": "success", "description": "web on prod synced",
                                        "context": "deploy/web@prod"}
    deliver(notice("SyncFailed", "x" * 500), n, fleet(n), HttpSender(), NOW)
    failed = json.loads(receiver.requests[1].body)
    assert failed["state"] == "failure" and len(failed["description"]) == 140
    drift = deliver(notice("DriftDetected"), n, fleet(n), HttpSender(), NOW)
    assert drift == "nothing to mark for DriftDetected"
    assert len(receiver.requests) == 2


def test_a_commit_status_on_gitlab_names_the_project_by_its_encoded_path(receiver: Receiver) -> None:
    n = Notification("hook", destination=CommitStatusDestination("gitlab", SecretRef(env="GH_TOKEN"),
                                                                  receiver.url + "/api/v4"))
    deliver(notice("HealthDegraded", "web is Degraded"), n,
            fleet(n, "git@gitlab.example.com:group/sub/demo.git"), HttpSender(), NOW)
    [request] = receiver.requests
    assert request.path == f"/api/v4/projects/group%2Fsub%2Fdemo/statuses/{REV}"
    assert request.headers["private-token"] == TOKEN
    assert json.loads(request.body) == {"state": "failed", "name": "gitops/web@prod",
                                        "description": "web is Degraded"}


def test_a_commit_status_needs_a_commit_and_a_hosted_repository(receiver: Receiver) -> None:
    n = Notification("hook", destination=CommitStatusDestination("github", SecretRef(env="GH_TOKEN"),
                                                                  receiver.url))
    bad = Notice("hook", "SyncFailed", "web", "prod", "m", {"revision": "../../admin"})
    with pytest.raises(NotificationFailed, match="no commit to mark"):
        deliver(bad, n, fleet(n), HttpSender(), NOW)
    with pytest.raises(NotificationFailed, match="no owner/repository"):
        deliver(notice(), n, fleet(n, "file:///demo"), HttpSender(), NOW)
    with pytest.raises(NotificationFailed, match="is not owner/repository"):
        deliver(notice(), n, fleet(n, "https://gitlab.com/a/b/c.git"), HttpSender(), NOW)
    assert receiver.arrived == 0


@pytest.mark.parametrize(("url", "path"), [
    ("https://github.com/org/demo.git", "org/demo"), ("https://github.com/org/demo", "org/demo"),
    ("git@github.com:org/demo.git", "org/demo"), ("ssh://git@github.com/org/demo.git", "org/demo"),
    ("https://gitlab.com/a/b/c.git", "a/b/c")])
def test_repository_paths(url: str, path: str) -> None:
    assert repository_path(url) == path


def test_apprise_delivers_to_a_json_endpoint(receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("APPRISE_URL", receiver.url.replace("http://", "json://") + "/apprise")
    n = Notification("hook", destination=AppriseDestination(SecretRef(env="APPRISE_URL")))
    assert deliver(notice(), n, fleet(n), HttpSender(), NOW) == "delivered through Apprise"
    [request] = receiver.requests
    body = json.loads(request.body)
    assert request.path == "/apprise"
    assert body["title"] == "[gitops] SyncSucceeded: web on prod" and body["message"] == "web on prod synced"
    receiver.script.append((500, {}))
    with pytest.raises(NotificationFailed) as caught:
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert caught.value.temporary
    # a token in the URL's path (as Slack's and Teams' URLs hold them) never reaches the logs
    monkeypatch.setenv("APPRISE_URL", f"json://127.0.0.1:9/{TOKEN}")
    with pytest.raises(NotificationFailed):
        deliver(notice(), n, fleet(n), HttpSender(), NOW)
    assert TOKEN not in caplog.text


def test_retry_after_forms() -> None:
    assert retry_after("12") == 12.0 and retry_after(None) is None and retry_after("soon") is None
    assert retry_after("999999") == 3600.0 and retry_after("-3") == 0.0 and retry_after("nan") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
