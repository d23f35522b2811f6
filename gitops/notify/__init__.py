"""Notifications: which events a finished operation raises, and delivering them to the configured
destinations (Apprise services, a signed generic webhook, a Git commit status).

``events.py`` derives the events (pure: transitions only), ``route.py`` turns them into :class:`Notice`
values for the Notifications that select the target (pure), ``deliver.py`` sends one notice (the only
I/O: httpx and apprise). The workers enqueue a notice as the ``gitops.notify`` task's message and deliver
it there (workers/notices.py), so a slow receiver never holds a sync. Key design choice: a notice is
small, JSON-safe and holds no secret (destinations are looked up in the configuration when delivering),
and :meth:`Notice.from_message` checks a queued message as untrusted input. docs/notifications.md is
the user's view.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gitops.domain import NOTIFICATION_EVENTS
from gitops.errors import InputError
from gitops.state.model import clip
from gitops.state.names import check_name

MAX_MESSAGE: Final = 2000  # characters of a notice's message
MAX_DATA: Final = 16       # entries of a notice's data
MAX_VALUE: Final = 256     # characters of one data value
DATA_KEYS: Final = frozenset({"revision", "operation", "sync", "health", "phase", "trigger", "failure",
                              "appset", "applications"})
_ID = re.compile(r"^[0-9a-f]{32}$")


def one_line(text: str) -> str:
    """``text`` as one printable line (messages end up in chat services, subjects and log lines)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text[:4 * MAX_MESSAGE]).split())


@dataclass(frozen=True)
class Notice:
    """One event for one configured Notification, as queued: small, JSON-safe, no secrets. ``id`` is the
    same for every attempt (receivers may deduplicate on it); ``cluster`` is empty for an ApplicationSet's
    ``RolloutHalted`` (``application`` is then the set's name)."""

    notification: str
    event: str
    application: str
    cluster: str
    message: str
    data: Mapping[str, str] = field(default_factory=dict, hash=False)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            seed = "\0".join((self.notification, self.event, self.application, self.cluster,
                              self.data.get("operation", ""), self.message))
            object.__setattr__(self, "id", hashlib.sha256(seed.encode()).hexdigest()[:32])

    @property
    def revision(self) -> str | None:
        return self.data.get("revision") or None

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "notification": self.notification, "event": self.event,
                "application": self.application, "cluster": self.cluster, "message": self.message,
                "data": dict(self.data)}

    def to_json(self) -> str:
        return json.dumps(self.to_message(), sort_keys=True)

    @staticmethod
    def from_message(message: object) -> Notice:
        """The notice a ``gitops.notify`` message carries, checked field by field (InputError naming the
        field): known event, valid names, the message clipped, only known data keys, bounded values."""
        if not isinstance(message, Mapping):
            raise InputError("a notification message must be a JSON object", field="message")
        if set(message) - {"id", "notification", "event", "application", "cluster", "message", "data"}:
            raise InputError("unknown fields in the notification message", field="message")
        event = message.get("event")
        if event not in NOTIFICATION_EVENTS:
            raise InputError("unknown event", field="event")
        notification = check_name(message.get("notification"), "notification")
        application = check_name(message.get("application"), "application")
        cluster = message.get("cluster")
        if not (cluster == "" and event == "RolloutHalted"):
            cluster = check_name(cluster, "cluster")
        text = message.get("message")
        if not isinstance(text, str):
            raise InputError("the message must be a string", field="message")
        data = message.get("data", {})
        if not isinstance(data, Mapping) or len(data) > MAX_DATA or not set(data) <= DATA_KEYS:
            raise InputError(f"data must map at most {MAX_DATA} known keys to strings", field="data")
        if not all(isinstance(v, str) for v in data.values()):
            raise InputError("data values must be strings", field="data")
        ident = message.get("id", "")
        if not isinstance(ident, str) or (ident and not _ID.match(ident)):
            raise InputError("id must be 32 lowercase hex digits", field="id")
        return Notice(notification, str(event), application, str(cluster), clip(text, MAX_MESSAGE),
                      {str(k): clip(v, MAX_VALUE) for k, v in data.items()}, ident)
