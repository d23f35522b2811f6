"""Progressive rollout of an ApplicationSet's changes across clusters, step by step behind a gate.

SKELETON: the types and signatures below are the contract; the implementation is being written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gitops.appset.generated import GeneratedApp
from gitops.config.fanout import RollingSync
from gitops.state.model import TargetStatus
from gitops.vocabulary import Target

Phase = Literal["Progressing", "WaitingApproval", "Halted", "Completed"]


@dataclass(frozen=True)
class PrometheusCheck:
    url: str
    query: str
    timeout_seconds: float


@dataclass(frozen=True)
class Step:
    index: int
    clusters: tuple[str, ...]
    approval: bool
    bake_seconds: float
    max_concurrent: int


@dataclass(frozen=True)
class RolloutPlan:
    steps: tuple[Step, ...]
    prometheus: PrometheusCheck | None = None
    on_new_revision: Literal["restart", "continue"] = "restart"


@dataclass(frozen=True)
class GateResult:
    """The answer of the optional Prometheus gate: ``holds`` and why (None answer: no gate asked)."""

    holds: bool
    detail: str


@dataclass(frozen=True)
class RolloutState:
    id: str
    started_at: float
    step: int
    phase: Phase
    released: Mapping[str, float] = field(default_factory=dict, hash=False)
    done: Mapping[str, float] = field(default_factory=dict, hash=False)
    gate_since: float | None = None
    approved_step: int | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> RolloutState:
        raise NotImplementedError


@dataclass(frozen=True)
class Advance:
    state: RolloutState | None
    release: tuple[str, ...] = ()
    sync: tuple[Target, ...] = ()
    events: tuple[str, ...] = ()


def plan_rollout(strategy: RollingSync, clusters: Mapping[str, Mapping[str, str]]) -> RolloutPlan:
    raise NotImplementedError


def fingerprint_of(desired: Mapping[str, GeneratedApp]) -> str:
    raise NotImplementedError


def advance(plan: RolloutPlan, state: RolloutState | None, desired: Mapping[str, GeneratedApp],
            released: Mapping[str, GeneratedApp], statuses: Mapping[Target, TargetStatus | None],
            gate: GateResult | None, now: float, *, paused: bool = False) -> Advance:
    raise NotImplementedError
