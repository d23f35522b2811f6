"""Waiting for health with an application's rules (gitops.health.wait): Unknown is settled (nothing
judges the object, so waiting cannot change it), a CEL rule's Progressing is waited for."""

from __future__ import annotations

from typing import Any

from gitops.domain import HealthCheck
from gitops.health import rules_for
from gitops.health.wait import wait_healthy
from gitops.outcome import held_health
from gitops.plan import ref_key
from gitops.testing import FakeCluster
from gitops.vocabulary import HealthStatus as H
from gitops.vocabulary import ObjectRef
from tests.gitops.health.kit import crd

REF = ObjectRef("example.com", "Gadget", "ns", "w", "v1")
RULES = rules_for((HealthCheck("example.com/v1", "Gadget", current="has(status.ready) && status.ready"),))


def widget(**status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Gadget",
                           "metadata": {"name": "w", "namespace": "ns"}, "spec": {}}
    if status:
        obj["status"] = status
    return obj


def cluster_with_widget() -> FakeCluster:
    cluster = FakeCluster()
    cluster.apply(crd("example.com"), field_manager="t")
    cluster.apply(widget(), field_manager="t")
    return cluster


class Clock:
    """Time that moves only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1


def test_unknown_is_settled_at_once() -> None:
    cluster = cluster_with_widget()
    clock = Clock()
    waited = wait_healthy(cluster, [REF], timeout=30, clock=clock, sleep=clock.sleep)
    assert waited.health[REF].status is H.UNKNOWN and not waited.timed_out and clock.sleeps == 0


def test_a_rule_s_progressing_is_waited_for_until_the_deadline() -> None:
    cluster = cluster_with_widget()
    clock = Clock()
    waited = wait_healthy(cluster, [REF], timeout=3, interval=1, clock=clock, sleep=clock.sleep, rules=RULES)
    assert waited.timed_out and waited.health[REF].status is H.PROGRESSING and clock.sleeps == 3
    assert waited.health[REF].message == "cel: no expression is true yet"


def test_held_health_uses_the_rules_given_and_the_library_by_default() -> None:
    objects = {ref_key(REF): widget(ready=True)}
    assert held_health([REF], objects, RULES)[REF].status is H.HEALTHY
    assert held_health([REF], objects)[REF].status is H.UNKNOWN
    assert held_health([REF], {}, RULES)[REF].status is H.MISSING
