"""Delivering one notice to its Notification's destination: an Apprise URL, a signed JSON webhook, or
a Git commit status (GitHub, GitLab). The only I/O of gitops.notify.

Called by the workers' ``gitops.notify`` task (workers/notices.py) with a checked notice and the
Notification it names. Key design choices: chat, e-mail and the other services go through Apprise (one
well-kept library for 100+ services instead of hand-written clients); the webhook and commit statuses
are plain httpx POSTs (a timeout, no redirect followed, at most :data:`MAX_RESPONSE` bytes of an
answer read); every failure is a :class:`~gitops.errors.NotificationFailed` saying whether a retry can
help (timeouts, refused connections, 429 and 5xx, with the receiver's ``Retry-After``); secrets are
read by reference when delivering (:func:`gitops.secrets.read_secret`) and never reach a message.

The webhook signature: ``X-Gitops-Timestamp: <unix seconds>`` and ``X-Gitops-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>``; a receiver recomputes it over the
raw body and refuses a timestamp too far from its clock (docs/notifications.md has a snippet).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

import apprise
import httpx

from gitops.domain import (
    AppriseDestination,
    CommitStatusDestination,
    Fleet,
    Notification,
    SecretRef,
    WebhookDestination,
)
from gitops.errors import NotificationFailed
from gitops.notify import Notice, one_line
from gitops.notify.events import HEALTH_DEGRADED, SYNC_FAILED, SYNC_SUCCEEDED, VERIFICATION_FAILED
from gitops.secrets import read_secret
from gitops.state.ratelimits import RateLimits

TIMEOUT: Final = 10.0            # seconds to connect, and between bytes of the answer
MAX_RESPONSE: Final = 4096       # bytes of an answer read (for the error message)
MAX_RETRY_AFTER: Final = 3600.0  # a longer Retry-After is taken as this
USER_AGENT: Final = "gitops-notify/1"
GITHUB_API: Final = "https://api.github.com"
GITLAB_API: Final = "https://gitlab.com/api/v4"
SIGNATURE_HEADER: Final = "X-Gitops-Signature"
TIMESTAMP_HEADER: Final = "X-Gitops-Timestamp"
_SHA = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_SCP = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:(?P<path>.+)$")
# Apprise's DEBUG and INFO lines print the URLs it loads and calls, tokens included: keep them out of
# the logs whatever the root level (its warnings name the service and host only)
logging.getLogger("apprise").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Answer:
    """What an HTTP destination answered: the status, ``Retry-After`` (seconds) and the start of the body."""

    status: int
    retry_after: float | None = None
    text: str = ""


class Sender(Protocol):
    """The wire: an HTTP POST and an Apprise notification (HttpSender in production)."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST ``body``; NotificationFailed (temporary) when the receiver could not be reached."""

    def apprise(self, url: str, title: str, body: str) -> bool:
        """Notify through Apprise: False when it failed; NotificationFailed for a URL it does not take."""


class HttpSender:
    """httpx for the webhook and commit statuses (no redirect followed, answer bounded); Apprise."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client, \
                    client.stream("POST", url, content=body, headers=dict(headers)) as response:
                text, deadline = b"", time.monotonic() + self.timeout  # a receiver dripping its answer
                for chunk in response.iter_bytes():
                    text += chunk
                    if len(text) >= MAX_RESPONSE or time.monotonic() > deadline:
                        break
                return Answer(response.status_code, retry_after(response.headers.get("retry-after")),
                              one_line(text[:MAX_RESPONSE].decode("utf-8", "replace")))
        except httpx.TimeoutException:
            raise NotificationFailed(f"{_host(url)} did not answer within {self.timeout:g}s",
                                     temporary=True) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise NotificationFailed(f"{_host(url)} could not be reached: {type(exc).__name__}",
                                     temporary=True) from None

    def apprise(self, url: str, title: str, body: str) -> bool:
        with warnings.catch_warnings():  # its e-mail plugin imports imghdr (deprecated in Python 3.11)
            warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
            service = apprise.Apprise()
            if not service.add(url):
                raise NotificationFailed("the Apprise URL is not one Apprise supports (check its scheme and "
                                         "form; it is not shown because it holds secrets)", temporary=False)
            return bool(service.notify(title=title, body=body))


def deliver(notice: Notice, notification: Notification, fleet: Fleet, sender: Sender, now: float) -> str:
    """Send ``notice`` to ``notification``'s destination; what was done (one line), or NotificationFailed."""
    destination = notification.destination
    if isinstance(destination, AppriseDestination):
        url = _secret(destination.url, f"Notification {notification.name}: the Apprise URL")
        if not sender.apprise(url, title(notice), notice.message):
            raise NotificationFailed("Apprise could not deliver the notification", temporary=True)
        return "delivered through Apprise"
    if isinstance(destination, WebhookDestination):
        secret = _secret(destination.secret, f"Notification {notification.name}: the webhook secret")
        body = json.dumps(payload(notice, notification), sort_keys=True, separators=(",", ":")).encode()
        stamp = str(int(now))
        headers = {**destination.headers, "Content-Type": "application/json", "User-Agent": USER_AGENT,
                   TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body),
                   "X-Gitops-Event": notice.event, "X-Gitops-Delivery": notice.id}
        _check(sender.post(destination.url, body, headers), _host(destination.url))
        return f"posted to {_host(destination.url)}"
    if isinstance(destination, CommitStatusDestination):
        return commit_status(notice, notification.name, destination, fleet, sender)
    raise NotificationFailed(f"Notification {notification.name} has no destination", temporary=False)


def title(notice: Notice) -> str:
    where = f"{notice.application} on {notice.cluster}" if notice.cluster else notice.application
    return f"[gitops] {notice.event}: {where}"


def payload(notice: Notice, notification: Notification) -> dict[str, Any]:
    """The webhook's JSON body: what happened to which target, at which revision; no secret."""
    return {"id": notice.id, "notification": notification.name, "event": notice.event,
            "application": notice.application, "cluster": notice.cluster or None,
            "revision": notice.revision, "message": notice.message, "data": dict(notice.data)}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, header: str, now: float,
           tolerance: float = 300.0) -> bool:
    """What a receiver does (tests and the docs' snippet): a valid signature of a recent timestamp."""
    try:
        fresh = abs(now - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), header)


COMMIT_STATES: Final = {  # event -> (GitHub state, GitLab state); other events mark nothing
    SYNC_SUCCEEDED: ("success", "success"),
    SYNC_FAILED: ("failure", "failed"),
    VERIFICATION_FAILED: ("failure", "failed"),
    HEALTH_DEGRADED: ("error", "failed"),
}


def commit_status(notice: Notice, name: str, destination: CommitStatusDestination, fleet: Fleet,
                  sender: Sender) -> str:
    """Mark the notice's revision in the application's repository (GitHub or GitLab statuses API)."""
    states = COMMIT_STATES.get(notice.event)
    if states is None:
        return f"nothing to mark for {notice.event}"
    revision = notice.revision or ""
    if not _SHA.match(revision):
        raise NotificationFailed(f"Notification {name}: no commit to mark (revision {revision[:64]!r})",
                                 temporary=False)
    app = fleet.applications.get(notice.application)
    repository = fleet.repositories.get(app.source.repository) if app is not None else None
    if repository is None:
        raise NotificationFailed(f"Notification {name}: application {notice.application} has no "
                                 "configured repository", temporary=False)
    path = repository_path(repository.url)
    token = _secret(destination.token, f"Notification {name}: the {destination.provider} token")
    context = f"{destination.context}/{notice.application}@{notice.cluster}"
    description = notice.message[:137] + "..." if len(notice.message) > 140 else notice.message
    if destination.provider == "github":
        if path.count("/") != 1:
            raise NotificationFailed(f"Notification {name}: {path!r} is not owner/repository",
                                     temporary=False)
        url = f"{(destination.api_url or GITHUB_API).rstrip('/')}/repos/{path}/statuses/{revision}"
        body: dict[str, str] = {"state": states[0], "description": description, "context": context}
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28"}
    else:
        url = (f"{(destination.api_url or GITLAB_API).rstrip('/')}/projects/{quote(path, safe='')}"
               f"/statuses/{revision}")
        body = {"state": states[1], "name": context, "description": description}
        headers = {"PRIVATE-TOKEN": token}
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    _check(sender.post(url, json.dumps(body).encode(), headers), _host(url))
    return f"commit status {states[0]} on {path}@{revision[:12]}"


def repository_path(url: str) -> str:
    """``owner/repo`` (GitLab: ``group/subgroup/repo``) of a Git URL: https, ssh or scp-like, ``.git``
    dropped; NotificationFailed when the URL names no such path (a local repository)."""
    scp = _SCP.match(url)
    raw = scp.group("path") if scp and "://" not in url else urlsplit(url).path
    path = raw.strip("/")
    path = path[:-4] if path.endswith(".git") else path
    if not _PATH.match(path):
        raise NotificationFailed("the application's repository URL names no owner/repository path",
                                 temporary=False)
    return path


def _secret(ref: SecretRef, what: str) -> str:
    value = read_secret(env=ref.env, file=ref.file, what=what, error=NotificationFailed)
    if not value:
        raise NotificationFailed(f"{what} ({ref}) is empty", temporary=False)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):  # it would end up in a header line
        raise NotificationFailed(f"{what} ({ref}) holds control characters", temporary=False)
    return value


def _check(answer: Answer, host: str) -> None:
    if 200 <= answer.status < 300:
        return
    temporary = answer.status == 429 or answer.status >= 500
    said = f": {answer.text[:200]}" if answer.text else ""
    raise NotificationFailed(f"{host} answered {answer.status}{said}", status=answer.status,
                             temporary=temporary, retry_after=answer.retry_after if temporary else None)


def retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta seconds or an HTTP date), capped; None when absent or
    unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "the receiver"
    except ValueError:
        return "the receiver"


@dataclass(frozen=True)
class Notifier:
    """What the workers deliver with: the fleet now (its Notifications, the applications' labels and
    repositories), the rate limits shared by the workers, and the wire."""

    fleet: Callable[[], Fleet]
    limits: RateLimits
    sender: Sender = field(default_factory=HttpSender)


def destination_key(notification: Notification) -> str:
    """The rate-limit key of a Notification's destination (a digest: the same destination configured
    twice shares one budget; the key holds no URL or secret)."""
    return "notify:" + hashlib.sha256(repr(notification.destination).encode()).hexdigest()[:32]
