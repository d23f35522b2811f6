"""An ``ApplicationSet``'s safety policy and rollout strategy: ``spec.syncPolicy`` and ``spec.strategy``.

Called by :mod:`gitops.config.application` (``ApplicationSetSpec``) when the loader validates an
``ApplicationSet``; read by the ApplicationSet controller (:mod:`gitops.appset.controller`): the lifecycle
policy and the deletion breaker (:mod:`gitops.appset.lifecycle`), tombstones, and the progressive rollout
(:mod:`gitops.appset.rollout`). Key design choice: every safety switch is on by default (a 10% / 10
applications deletion breaker, 7 days of tombstones, no deletion while an element failed), and the
names follow Argo CD's where the meaning is the same (``applicationsSync``, ``RollingSync``), so a user
coming from it reads them without a dictionary.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from gitops.config.fields import Duration, Model, PositiveDuration, Text
from gitops.config.generators import LabelSelector

LifecyclePolicy = Literal["create-only", "create-update", "create-delete", "sync"]
MAX_STEPS = 32


def _share(value: Any) -> Any:
    """``30%`` or ``0.3`` (a fraction); ``100%`` is 1.0."""
    if isinstance(value, str) and value.endswith("%"):
        number = value[:-1].strip()
        try:
            return float(number) / 100.0
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage like '30%'") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


Share = Annotated[float, BeforeValidator(_share), Field(ge=0.0, le=1.0)]


class SetSyncPolicy(Model):
    """What the controller may do to the applications it generated (docs/applicationsets.md).

    ``applicationsSync``: ``create-only``, ``create-update`` (never deletes), ``create-delete`` (never
    updates) or ``sync`` (all three). ``maxDeleteShare`` and ``maxDeleteCount``: a change that would
    delete or move (a new destination cluster) more than this share of the set or more than this many
    applications waits for ``gitops appset approve``. ``tombstoneRetention``: how long a deleted
    application can be restored. ``allowEmpty``: a generation that suddenly returns nothing is taken as
    it is (default: it is a failure and the last good set stays).
    """

    applications_sync: LifecyclePolicy = "sync"
    max_delete_share: Share = 0.1
    max_delete_count: int = Field(default=10, ge=0, le=100_000)
    tombstone_retention_seconds: PositiveDuration = Field(default=7 * 86400.0,
                                                          validation_alias="tombstoneRetention")
    allow_empty: bool = False


class PrometheusGate(Model):
    """An instant query to a Prometheus HTTP API that must hold during a step's bake: the answer must be
    non-empty and every sample non-zero (``up == 1``, ``rate(errors[5m]) < 0.01``)."""

    url: Text
    query: Text
    timeout_seconds: PositiveDuration = Field(default=10.0, validation_alias="timeout")

    @model_validator(mode="after")
    def _http(self) -> Self:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// address of a Prometheus server")
        return self


class RolloutStep(Model):
    """One step: the clusters matched by ``clusters`` (a label selector over Cluster labels) or, with
    ``share``, the first share of the set's clusters (cumulative: ``5%``, ``30%``, ``100%``); clusters
    already in an earlier step are not counted again. ``approval: true`` waits for
    ``gitops appset approve`` before the step starts. ``bake`` and ``maxConcurrent`` override the
    strategy's for this step."""

    clusters: LabelSelector | None = None
    share: Share | None = None
    approval: bool = False
    bake_seconds: Duration | None = Field(default=None, ge=0.0, validation_alias="bake")
    max_concurrent: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.clusters is None) == (self.share is None):
            raise ValueError("set exactly one of clusters (a label selector) or share (like '30%')")
        return self


class RollingSync(Model):
    """The steps, the clusters updating at once within a step, the bake time of a step's gate, an
    optional Prometheus gate, and what a new revision does mid-rollout (``restart`` from the first step,
    or ``continue`` with the new revision from the current step)."""

    steps: list[RolloutStep] = Field(min_length=1, max_length=MAX_STEPS)
    max_concurrent: int = Field(default=10, ge=1, le=10_000)
    bake_seconds: Duration = Field(default=60.0, ge=0.0, validation_alias="bake")
    prometheus: PrometheusGate | None = None
    on_new_revision: Literal["restart", "continue"] = "restart"


class Strategy(Model):
    """``AllAtOnce`` (the default: every generated application follows its source as soon as it is
    generated) or ``RollingSync`` (changes reach the clusters step by step behind a gate)."""

    type: Literal["AllAtOnce", "RollingSync"] = "AllAtOnce"
    rolling_sync: RollingSync | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type == "RollingSync" and self.rolling_sync is None:
            raise ValueError("type RollingSync needs rollingSync.steps")
        if self.type == "AllAtOnce" and self.rolling_sync is not None:
            raise ValueError("rollingSync is set but type is AllAtOnce (set type: RollingSync)")
        return self
