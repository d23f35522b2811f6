"""Health of one live object from its kind's rules (pure), after Argo CD's health checks and kstatus.

Called by :mod:`.wait`, gitops.apply (between waves), gitops.outcome and gitops/engine.py on live
objects; a target's health is
``HealthStatus.worst`` of its objects (an object that should exist but does not is Missing). Every
rule first checks ``status.observedGeneration`` against ``metadata.generation``: a controller that has
not yet seen the latest spec cannot report on it, so the object is Progressing. Then, in order: the
application's CEL rules (``healthCheckExprs``, :mod:`.cel`) for any kind; the built-in Python rules
below (Deployments, Pods, Jobs...); for custom kinds only, the library of rules shipped as data
(:mod:`.library`: cert-manager, Argo Rollouts, Flux, Crossplane); then the generic conditions
(Stalled, Reconciling, Ready, Available). Built-in kinds without status (ConfigMaps, Secrets, RBAC) are
Healthy once they exist; a custom resource that nothing above judges is Unknown, never silently
Healthy (the built-in kinds are those of the Kubernetes schema catalog, renderers.k8s.schema).
docs/health.md is the user's view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitops.health.cel import Rules, evaluate
from gitops.health.library import library, rules_for
from gitops.vocabulary import HealthStatus
from renderers.k8s.schema import resources
from renderers.manifest import Manifest

__all__ = ["RULES", "Health", "Rules", "assess", "builtin", "generic", "library", "rules_for"]

H = HealthStatus


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    message: str = ""


def _status(obj: Manifest) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _spec(obj: Manifest) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _condition(obj: Manifest, kind: str) -> dict[str, Any] | None:
    for cond in _status(obj).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def _is(obj: Manifest, kind: str, value: str = "True") -> bool:
    cond = _condition(obj, kind)
    return cond is not None and str(cond.get("status")) == value


def _msg(obj: Manifest, kind: str) -> str:
    cond = _condition(obj, kind) or {}
    return str(cond.get("message") or cond.get("reason") or kind)


def _stale(obj: Manifest) -> bool:
    observed = _status(obj).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return isinstance(observed, int) and isinstance(generation, int) and observed < generation


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _deployment(obj: Manifest) -> Health:
    spec, status = _spec(obj), _status(obj)
    if spec.get("paused"):
        return Health(H.SUSPENDED, "deployment is paused")
    progressing = _condition(obj, "Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(H.DEGRADED, str(progressing.get("message") or "progress deadline exceeded"))
    want = _int(spec.get("replicas", 1))
    updated, total = _int(status.get("updatedReplicas")), _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    if updated < want:
        return Health(H.PROGRESSING, f"waiting for rollout: {updated} of {want} updated")
    if total > updated:
        return Health(H.PROGRESSING, f"waiting for rollout: {total - updated} old replicas pending")
    if available < updated:
        return Health(H.PROGRESSING, f"waiting for rollout: {available} of {updated} available")
    return Health(H.HEALTHY)


def _statefulset(obj: Manifest) -> Health:
    spec, status = _spec(obj), _status(obj)
    want, ready = _int(spec.get("replicas", 1)), _int(status.get("readyReplicas"))
    if ready < want:
        return Health(H.PROGRESSING, f"waiting for {want - ready} pods to be ready")
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and status.get("updateRevision") != status.get("currentRevision"):
        return Health(H.PROGRESSING, "waiting for the rolling update to finish")
    return Health(H.HEALTHY)


def _daemonset(obj: Manifest) -> Health:
    status = _status(obj)
    want = _int(status.get("desiredNumberScheduled"))
    if _int(status.get("updatedNumberScheduled")) < want:
        return Health(H.PROGRESSING, "waiting for daemon set rollout")
    if _int(status.get("numberAvailable")) < want:
        return Health(H.PROGRESSING, "waiting for daemon set pods to be available")
    return Health(H.HEALTHY)


def _replicaset(obj: Manifest) -> Health:
    if _is(obj, "ReplicaFailure"):
        return Health(H.DEGRADED, _msg(obj, "ReplicaFailure"))
    want = _int(_spec(obj).get("replicas", 1))
    if _int(_status(obj).get("availableReplicas")) < want:
        return Health(H.PROGRESSING, "waiting for replicas to be available")
    return Health(H.HEALTHY)


_BAD_WAITING = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                          "CreateContainerConfigError", "CreateContainerError"})


def _pod(obj: Manifest) -> Health:
    status = _status(obj)
    phase = status.get("phase")
    for cs in status.get("containerStatuses") or []:
        waiting = ((cs or {}).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _BAD_WAITING:
            return Health(H.DEGRADED, f"{cs.get('name')}: {waiting.get('reason')}")
    if phase == "Succeeded":
        return Health(H.HEALTHY, "pod completed")
    if phase == "Failed":
        return Health(H.DEGRADED, str(status.get("message") or "pod failed"))
    if phase == "Running" and _is(obj, "Ready"):
        return Health(H.HEALTHY)
    return Health(H.PROGRESSING, f"pod is {phase or 'pending'}")


def _job(obj: Manifest) -> Health:
    if _is(obj, "Failed"):
        return Health(H.DEGRADED, _msg(obj, "Failed"))
    if _is(obj, "Complete"):
        return Health(H.HEALTHY, "job completed")
    if _spec(obj).get("suspend"):
        return Health(H.SUSPENDED, "job is suspended")
    return Health(H.PROGRESSING, "job is running")


def _cronjob(obj: Manifest) -> Health:
    return Health(H.SUSPENDED, "cron job is suspended") if _spec(obj).get("suspend") else Health(H.HEALTHY)


def _load_balanced(obj: Manifest) -> Health:
    ingress = (_status(obj).get("loadBalancer") or {}).get("ingress")
    return Health(H.HEALTHY) if ingress else Health(H.PROGRESSING, "waiting for a load balancer address")


def _service(obj: Manifest) -> Health:
    return _load_balanced(obj) if _spec(obj).get("type") == "LoadBalancer" else Health(H.HEALTHY)


def _pvc(obj: Manifest) -> Health:
    phase = _status(obj).get("phase")
    if phase == "Lost":
        return Health(H.DEGRADED, "claim lost its volume")
    return Health(H.HEALTHY) if phase == "Bound" else Health(H.PROGRESSING, f"claim is {phase or 'pending'}")


def _namespace(obj: Manifest) -> Health:
    phase = _status(obj).get("phase", "Active")
    return Health(H.HEALTHY) if phase == "Active" else Health(H.PROGRESSING, f"namespace is {phase}")


def _crd(obj: Manifest) -> Health:
    if _is(obj, "NamesAccepted", "False"):
        return Health(H.DEGRADED, _msg(obj, "NamesAccepted"))
    return Health(H.HEALTHY) if _is(obj, "Established") else Health(H.PROGRESSING, "not yet established")


def _hpa(obj: Manifest) -> Health:
    if _is(obj, "AbleToScale", "False"):
        return Health(H.DEGRADED, _msg(obj, "AbleToScale"))
    active = _condition(obj, "ScalingActive") or {}
    if active.get("status") == "False" and str(active.get("reason", "")).startswith("Failed"):
        return Health(H.DEGRADED, str(active.get("message") or active.get("reason")))
    return Health(H.HEALTHY)


@functools.cache
def _builtin_kinds() -> frozenset[tuple[str, str]]:
    return frozenset((r.group, r.kind) for r in resources())


def builtin(group: str, kind: str) -> bool:
    """Whether ``group``/``kind`` is a Kubernetes kind (the schema catalog) or has a built-in rule."""
    return (group, kind) in RULES or (group, kind) in _builtin_kinds()


def generic(obj: Manifest) -> Health:
    """kstatus-style conditions for kinds without a rule; without them a built-in kind (ConfigMap, Secret,
    RBAC) is Healthy once it exists and a custom resource is Unknown."""
    if _is(obj, "Stalled"):
        return Health(H.DEGRADED, _msg(obj, "Stalled"))
    if _is(obj, "Reconciling"):
        return Health(H.PROGRESSING, _msg(obj, "Reconciling"))
    for kind in ("Ready", "Available"):
        cond = _condition(obj, kind)
        if cond is None:
            continue
        if cond.get("status") == "True":
            return Health(H.HEALTHY)
        reason = str(cond.get("reason", ""))
        failed = any(word in reason for word in ("Fail", "Error"))
        return Health(H.DEGRADED if failed else H.PROGRESSING, _msg(obj, kind))
    api_version = str(obj.get("apiVersion", ""))
    group, kind = api_version.rpartition("/")[0], str(obj.get("kind", ""))
    if builtin(group, kind):
        return Health(H.HEALTHY)
    what = f"{group}/{kind}" if group else kind
    if not _status(obj):
        return Health(H.UNKNOWN, f"no health rule for {what} and no status")
    return Health(H.UNKNOWN, f"no health rule for {what} and no Ready, Available, Stalled or Reconciling "
                             "condition in its status")


RULES: dict[tuple[str, str], Callable[[Manifest], Health]] = {
    ("apps", "Deployment"): _deployment, ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset, ("apps", "ReplicaSet"): _replicaset, ("", "Pod"): _pod,
    ("batch", "Job"): _job, ("batch", "CronJob"): _cronjob, ("", "Service"): _service,
    ("networking.k8s.io", "Ingress"): _load_balanced, ("", "PersistentVolumeClaim"): _pvc,
    ("", "Namespace"): _namespace, ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
}


def assess(obj: Manifest | None, rules: Rules | None = None) -> Health:
    """The health of one live object; ``None`` (not found) is Missing. ``rules``: an application's
    (:func:`rules_for`), the library's alone when None."""
    if obj is None:
        return Health(H.MISSING, "object does not exist")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(H.PROGRESSING, "object is being deleted")
    if _stale(obj):
        return Health(H.PROGRESSING, "waiting for the controller to observe the latest generation")
    group, kind = str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))
    cel = (library() if rules is None else rules).find(group, kind, obj, builtin=builtin(group, kind))
    if cel is not None:
        return Health(*evaluate(cel, obj))
    return RULES.get((group, kind), generic)(obj)
