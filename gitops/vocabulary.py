"""The engine's shared vocabulary: statuses, object actions, triggers and object references.

Used by every stage of the reconcile pipeline (plan, apply, prune, health and their results), state
and the HTTP API, so one spelling travels from the cluster to the dashboard. Statuses whose "worst of"
matters carry an explicit order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class SyncStatus(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatus(StrEnum):
    """Object and target health. ``worst`` aggregates by the documented order below."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    UNKNOWN = "Unknown"
    MISSING = "Missing"
    DEGRADED = "Degraded"

    @property
    def severity(self) -> int:
        """Healthy < Suspended < Progressing < Unknown < Missing < Degraded (as Argo CD orders them)."""
        return list(HealthStatus).index(self)

    @staticmethod
    def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
        return max(statuses, key=lambda s: s.severity, default=HealthStatus.HEALTHY)


class Action(StrEnum):
    """What happened (or would happen) to one object during apply, diff or prune."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"
    FAILED = "failed"
    RECREATED = "recreated"


class Trigger(StrEnum):
    POLL = "poll"
    WEBHOOK = "webhook"
    MANUAL = "manual"
    SELF_HEAL = "self-heal"


class OperationPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of one Kubernetes object. ``group`` is "" for the core API group."""

    group: str
    kind: str
    namespace: str
    name: str
    version: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"

    @staticmethod
    def of(manifest: dict[str, object]) -> ObjectRef:
        """The reference of a manifest (``apiVersion``, ``kind``, ``metadata.name/namespace``)."""
        api = str(manifest.get("apiVersion", ""))
        group, _, version = api.rpartition("/")
        meta = manifest.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        return ObjectRef(group, str(manifest.get("kind", "")), str(meta.get("namespace") or ""),
                         str(meta.get("name", "")), version)


@dataclass(frozen=True)
class Target:
    """One (application, cluster) pair: the unit of reconcile, locking, status and history."""

    application: str
    cluster: str

    @property
    def key(self) -> str:
        return f"{self.application}@{self.cluster}"

    def __str__(self) -> str:
        return self.key
