"""Notifications: which events a finished operation raises, and delivering them to the configured
destinations (Apprise services, a signed generic webhook, a Git commit status).

Skeleton: the Notice value is what the workers enqueue (workers/notices.py); the rest is filled in
with the feature (docs/notifications.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notice:
    """One event for one configured Notification, as queued: small, JSON-safe, no secrets."""

    notification: str
    event: str
    application: str
    cluster: str
    message: str
    data: dict[str, str] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        return {"notification": self.notification, "event": self.event, "application": self.application,
                "cluster": self.cluster, "message": self.message, "data": dict(self.data)}

    def to_json(self) -> str:
        return json.dumps(self.to_message(), sort_keys=True)
