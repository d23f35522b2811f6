"""Health rules per kind (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.health import assess, generic
from gitops.vocabulary import HealthStatus as H


def obj(
    api: str,
    kind: str,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
        "spec": spec or {},
        "status": status or {},
    }


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("spec", "status", "want"),
    [
        (
            {"replicas": 2},
            {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
            H.HEALTHY,
        ),
        (
            {"replicas": 2},
            {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1},
            H.PROGRESSING,
        ),
        (
            {"replicas": 2},
            {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2},
            H.PROGRESSING,
        ),
        (
            {"replicas": 2},
            {
                "observedGeneration": 1,
                "conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded", "rollout stuck")],
            },
            H.DEGRADED,
        ),
        ({"replicas": 1, "paused": True}, {}, H.SUSPENDED),
    ],
)
def test_deployment(spec: dict[str, Any], status: dict[str, Any], want: H) -> None:
    assert assess(obj("apps/v1", "Deployment", spec, status)).status is want


def test_stale_generation_is_progressing_whatever_the_status_says() -> None:
    d = obj(
        "apps/v1",
        "Deployment",
        {"replicas": 1},
        {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
        generation=2,
    )
    assert assess(d).status is H.PROGRESSING


def test_missing_and_deleting() -> None:
    assert assess(None).status is H.MISSING
    d = obj("v1", "ConfigMap")
    d["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert assess(d).status is H.PROGRESSING


@pytest.mark.parametrize(
    ("o", "want"),
    [
        (obj("apps/v1", "StatefulSet", {"replicas": 2}, {"readyReplicas": 1}), H.PROGRESSING),
        (
            obj(
                "apps/v1",
                "StatefulSet",
                {"replicas": 1},
                {"readyReplicas": 1, "currentRevision": "a", "updateRevision": "a"},
            ),
            H.HEALTHY,
        ),
        (
            obj(
                "apps/v1",
                "StatefulSet",
                {"replicas": 1},
                {"readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"},
            ),
            H.PROGRESSING,
        ),
        (
            obj(
                "apps/v1",
                "DaemonSet",
                {},
                {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3},
            ),
            H.HEALTHY,
        ),
        (
            obj("apps/v1", "DaemonSet", {}, {"desiredNumberScheduled": 3, "updatedNumberScheduled": 2}),
            H.PROGRESSING,
        ),
        (
            obj("apps/v1", "ReplicaSet", {"replicas": 1}, {"conditions": [cond("ReplicaFailure", "True")]}),
            H.DEGRADED,
        ),
        (obj("apps/v1", "ReplicaSet", {"replicas": 1}, {"availableReplicas": 1}), H.HEALTHY),
        (obj("v1", "Pod", {}, {"phase": "Running", "conditions": [cond("Ready", "True")]}), H.HEALTHY),
        (obj("v1", "Pod", {}, {"phase": "Pending"}), H.PROGRESSING),
        (obj("v1", "Pod", {}, {"phase": "Failed"}), H.DEGRADED),
        (
            obj(
                "v1",
                "Pod",
                {},
                {
                    "phase": "Running",
                    "containerStatuses": [
                        {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                    ],
                },
            ),
            H.DEGRADED,
        ),
        (obj("batch/v1", "Job", {}, {"conditions": [cond("Complete", "True")]}), H.HEALTHY),
        (
            obj("batch/v1", "Job", {}, {"conditions": [cond("Failed", "True", "BackoffLimitExceeded")]}),
            H.DEGRADED,
        ),
        (obj("batch/v1", "Job", {"suspend": True}, {}), H.SUSPENDED),
        (obj("batch/v1", "Job", {}, {}), H.PROGRESSING),
        (obj("batch/v1", "CronJob", {"suspend": True}, {}), H.SUSPENDED),
        (obj("batch/v1", "CronJob", {}, {}), H.HEALTHY),
        (obj("v1", "Service", {"type": "LoadBalancer"}, {}), H.PROGRESSING),
        (
            obj(
                "v1", "Service", {"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
            ),
            H.HEALTHY,
        ),
        (obj("v1", "Service", {"type": "ClusterIP"}, {}), H.HEALTHY),
        (obj("networking.k8s.io/v1", "Ingress", {}, {}), H.PROGRESSING),
        (obj("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), H.HEALTHY),
        (obj("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), H.PROGRESSING),
        (obj("v1", "PersistentVolumeClaim", {}, {"phase": "Lost"}), H.DEGRADED),
        (obj("v1", "Namespace", {}, {"phase": "Active"}), H.HEALTHY),
        (obj("v1", "Namespace", {}, {"phase": "Terminating"}), H.PROGRESSING),
        (
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                {},
                {"conditions": [cond("Established", "True")]},
            ),
            H.HEALTHY,
        ),
        (obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {}), H.PROGRESSING),
        (
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                {},
                {"conditions": [cond("NamesAccepted", "False", "NameConflict")]},
            ),
            H.DEGRADED,
        ),
        (
            obj(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                {},
                {"conditions": [cond("AbleToScale", "False")]},
            ),
            H.DEGRADED,
        ),
        (
            obj(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                {},
                {"conditions": [cond("ScalingActive", "False", "FailedGetResourceMetric")]},
            ),
            H.DEGRADED,
        ),
        (
            obj(
                "autoscaling/v2", "HorizontalPodAutoscaler", {}, {"conditions": [cond("AbleToScale", "True")]}
            ),
            H.HEALTHY,
        ),
        (obj("v1", "ConfigMap"), H.HEALTHY),
    ],
)
def test_kind_rules(o: dict[str, Any], want: H) -> None:
    assert assess(o).status is want


@pytest.mark.parametrize(
    ("conditions", "want"),
    [
        ([cond("Ready", "True")], H.HEALTHY),
        ([cond("Ready", "False", "Progressing")], H.PROGRESSING),
        ([cond("Ready", "False", "InstallFailed")], H.DEGRADED),
        ([cond("Stalled", "True", "Broken"), cond("Ready", "True")], H.DEGRADED),
        ([cond("Reconciling", "True")], H.PROGRESSING),
        ([cond("Available", "True")], H.HEALTHY),
        ([], H.UNKNOWN),  # a custom resource with no condition says nothing: never silently Healthy
    ],
)
def test_generic_conditions_for_custom_resources(conditions: list[dict[str, str]], want: H) -> None:
    assert generic(obj("example.com/v1", "Widget", {}, {"conditions": conditions})).status is want
    assert assess(obj("example.com/v1", "Widget", {}, {"conditions": conditions})).status is want


def test_hostile_status_shapes_do_not_crash() -> None:
    weird = obj("apps/v1", "Deployment", {"replicas": "lots"}, {"conditions": "nope", "replicas": None})
    assert assess(weird).status in set(H)
    weird_pod = obj("v1", "Pod", {}, {"containerStatuses": [None, {"state": None}]})
    assert assess(weird_pod).status is H.PROGRESSING


def test_worst_aggregates() -> None:
    assert H.worst([H.HEALTHY, H.PROGRESSING, H.DEGRADED]) is H.DEGRADED
    assert H.worst([]) is H.HEALTHY
