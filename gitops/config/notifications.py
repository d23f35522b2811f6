"""The ``Notification`` kind: which events of which targets go where, at most how often.

Called by the loader (:mod:`gitops.config.loader`), which validates ``spec`` against
:class:`NotificationSpec`; ``gitops.config.to_fleet`` converts it into :class:`gitops.domain.Notification`,
which gitops.notify routes and the workers deliver (docs/notifications.md). Key design choices: exactly one
destination per Notification (``apprise``, ``webhook`` or ``commitStatus``); every secret is a reference
(:class:`gitops.config.receivers.SecretRef`: an Apprise URL embeds its tokens, so it is one too), read
when delivering, never at load time; endpoint URLs follow the configuration's URL policy
(:func:`gitops.config.urls.check_endpoint`: https, plain http only to loopback); the selectors are the
sync windows' (:class:`gitops.config.windows.Selection`); custom headers cannot
carry a line break or replace the headers the signature relies on.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from gitops.config.fields import Model, Name, Text
from gitops.config.receivers import SecretRef
from gitops.config.urls import check_endpoint
from gitops.config.windows import Selection

EventName = Literal["SyncSucceeded", "SyncFailed", "HealthDegraded", "DriftDetected", "VerificationFailed",
                    "RolloutHalted"]
MAX_HEADERS = 32
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "x-gitops-signature",
                              "x-gitops-timestamp", "x-gitops-delivery", "x-gitops-event",
                              "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")


def _endpoint(value: str) -> str:
    if len(value) > 2048:
        raise ValueError("a URL has at most 2048 characters")
    return check_endpoint(value)


def _unique(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("lists an event more than once")
    return value


def _header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError("a header name is 1-64 token characters (letters, digits, '-', ...)")
    if value.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {value!r} is set by the engine and cannot be replaced")
    return value


def _header_value(value: str) -> str:
    if len(value) > 1024:
        raise ValueError("a header value has at most 1024 characters")
    return value


Endpoint = Annotated[str, AfterValidator(_endpoint)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[Text, AfterValidator(_header_value)]


class AppriseSpec(Model):
    """``apprise``: an Apprise URL (``slack://``, ``msteams://``, ``mailto://``, ``json://``...) by
    reference, since it embeds the service's tokens."""

    url_ref: SecretRef
    """The Apprise URL, by reference."""


class WebhookSpec(Model):
    """``webhook``: a JSON POST to ``url`` signed with HMAC-SHA256 under the secret at ``secretRef``."""

    url: Endpoint
    """Where the JSON is posted."""
    secret_ref: SecretRef
    """The HMAC-SHA256 signing secret."""
    headers: Annotated[dict[HeaderName, HeaderValue], Field(max_length=MAX_HEADERS)] = {}
    """Extra HTTP headers (not the ones the engine sets)."""


class CommitStatusSpec(Model):
    """``commitStatus``: a status on the operation's commit in the application's repository."""

    provider: Literal["github", "gitlab"]
    """The Git host's API."""
    api_url: Endpoint | None = None
    """API base URL (default: the public host's)."""
    token_ref: SecretRef
    """API token, by reference."""
    context: Annotated[Text, Field(max_length=255)] = "gitops"
    """The status's context (its name on the commit)."""


class RateLimit(Model):
    """``rateLimit``: deliveries a minute to the destination (later ones wait for the next minute)."""

    per_minute: Annotated[int, Field(ge=1, le=10_000)] = 30
    """Deliveries a minute to this destination."""


class NotificationSpec(Model):
    """``spec`` of a ``Notification``."""

    events: Annotated[list[EventName], Field(min_length=1), AfterValidator(_unique)] = [
        "SyncSucceeded", "SyncFailed", "HealthDegraded", "DriftDetected", "VerificationFailed",
        "RolloutHalted"]
    """Which events are sent."""
    applications: Selection = Selection()
    """Applications whose events are sent."""
    clusters: Selection = Selection()
    """Clusters whose events are sent."""
    apprise: AppriseSpec | None = None
    """Destination: an Apprise URL."""
    webhook: WebhookSpec | None = None
    """Destination: a signed JSON POST."""
    commit_status: CommitStatusSpec | None = None
    """Destination: a commit status on GitHub or GitLab."""
    rate_limit: RateLimit = RateLimit()
    """At most this many deliveries a minute."""

    @model_validator(mode="after")
    def _one_destination(self) -> Self:
        if sum(d is not None for d in (self.apprise, self.webhook, self.commit_status)) != 1:
            raise ValueError("set exactly one destination: apprise, webhook or commitStatus")
        return self


class Notification(NotificationSpec):
    """A notification route: ``name`` from metadata plus the validated spec."""

    name: Name
