"""The loaded configuration: every object by kind and name, and where each was declared.

Built by :func:`gitops.config.load_config` once every document validated and every reference resolved;
read by the engine, workers and web layers. A frozen value: reloading the configuration builds a new
one. ``source_of`` answers "which file declared this?" for error messages and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitops.config.application import Application, ApplicationSet
from gitops.config.models import Cluster, Repository
from gitops.config.notifications import Notification
from gitops.config.receivers import WebhookReceiver
from gitops.config.verification import VerificationPolicy
from gitops.config.windows import SyncWindow

KIND_ORDER = ("Application", "Repository", "Cluster", "ApplicationSet", "VerificationPolicy",
              "WebhookReceiver", "SyncWindow", "Notification")


@dataclass(frozen=True)
class Config:
    """Every configured object, keyed by ``metadata.name`` within its kind."""

    repositories: dict[str, Repository] = field(default_factory=dict)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    applications: dict[str, Application] = field(default_factory=dict)
    application_sets: dict[str, ApplicationSet] = field(default_factory=dict)
    verification_policies: dict[str, VerificationPolicy] = field(default_factory=dict)
    webhook_receivers: dict[str, WebhookReceiver] = field(default_factory=dict)
    sync_windows: dict[str, SyncWindow] = field(default_factory=dict)
    notifications: dict[str, Notification] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    locations: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    """``(kind, name) -> (file, line)`` of the document that declared the object."""

    def source_of(self, name: str, kind: str | None = None) -> tuple[str, int]:
        """``(file, line)`` declaring ``name``; without ``kind``, the first match in ``KIND_ORDER``.

        Raises KeyError when no such object is configured.
        """
        for candidate in (kind,) if kind else KIND_ORDER:
            where = self.locations.get((candidate, name))
            if where is not None:
                return where
        raise KeyError(f"{kind or 'object'} {name!r} is not configured")

    def counts(self) -> dict[str, int]:
        """Number of objects per kind, in a fixed order (for summaries)."""
        return {"Repository": len(self.repositories), "Cluster": len(self.clusters),
                "Application": len(self.applications), "ApplicationSet": len(self.application_sets),
                "VerificationPolicy": len(self.verification_policies),
                "WebhookReceiver": len(self.webhook_receivers), "SyncWindow": len(self.sync_windows),
                "Notification": len(self.notifications)}
