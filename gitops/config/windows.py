"""The ``SyncWindow`` kind: when automated syncs of the selected applications and clusters may run.

Called by the loader (:mod:`gitops.config.loader`); ``gitops.config.to_fleet`` converts it into
:class:`gitops.domain.SyncWindow`, which gitops.permit evaluates. Skeleton, filled in with the feature
(docs/sync-windows.md).
"""

from __future__ import annotations

from typing import Literal

from gitops.config.fields import Model, Name, PositiveDuration, Text


class SyncWindowSpec(Model):
    """``spec`` of a ``SyncWindow``."""

    kind: Literal["allow", "deny"]
    schedule: Text
    duration_seconds: PositiveDuration
    time_zone: Text = "UTC"
    manual_sync: bool = False


class SyncWindow(SyncWindowSpec):
    """A sync window: ``name`` from metadata plus the validated spec."""

    name: Name
