"""The ``Notification`` kind: which events of which targets go where.

Called by the loader (:mod:`gitops.config.loader`); ``gitops.config.to_fleet`` converts it into
:class:`gitops.domain.Notification`, which gitops.notify and the workers read. Skeleton, filled in with
the feature (docs/notifications.md).
"""

from __future__ import annotations

from gitops.config.fields import Model, Name, Text


class NotificationSpec(Model):
    """``spec`` of a ``Notification``."""

    events: list[Text] = []


class Notification(NotificationSpec):
    """A notification route: ``name`` from metadata plus the validated spec."""

    name: Name
