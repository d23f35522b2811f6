"""Status documents the sandbox controller writes, one pure function per kind.

Used by :mod:`kubesandbox.controller`. The shapes follow what the Kubernetes controllers write
(Deployment conditions Available/Progressing with reasons MinimumReplicasAvailable,
NewReplicaSetAvailable, ReplicaSetUpdated, ProgressDeadlineExceeded; Job conditions Complete/Failed;
PVC phase Bound; LoadBalancer ingress), so health assessment code can be tested against them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from typing import Any

Obj = dict[str, Any]


def template_hash(obj: Obj) -> str:
    """A short hash of the pod template: the suffix of the Deployment's current ReplicaSet."""
    raw = json.dumps(obj.get("spec", {}).get("template", {}), sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _condition(kind: str, status: str, reason: str, message: str, previous: Obj | None,
               probe: str = "lastUpdateTime") -> Obj:
    """One condition; Deployments stamp ``lastUpdateTime``, Jobs ``lastProbeTime``."""
    old = next((c for c in (previous or {}).get("conditions", []) if c.get("type") == kind), None)
    now = _stamp()
    since = old.get("lastTransitionTime", now) if old is not None and old.get("status") == status else now
    return {"type": kind, "status": status, probe: now, "lastTransitionTime": since,
            "reason": reason, "message": message}


def _deployment(obj: Obj, settled: bool, failed: bool) -> Obj:
    spec, meta, prev = obj.get("spec", {}), obj["metadata"], obj.get("status")
    replicas = int(spec.get("replicas", 1))
    rs = f'ReplicaSet "{meta["name"]}-{template_hash(obj)}"'
    status: Obj = {"observedGeneration": meta.get("generation", 1), "replicas": replicas,
                   "updatedReplicas": replicas}
    if settled and not failed:
        status.update(readyReplicas=replicas, availableReplicas=replicas)
        conds = [_condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum "
                            "availability.", prev),
                 _condition("Progressing", "True", "NewReplicaSetAvailable",
                            f"{rs} has successfully progressed.", prev)]
    elif settled:
        status["unavailableReplicas"] = replicas
        conds = [_condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have "
                            "minimum availability.", prev),
                 _condition("Progressing", "False", "ProgressDeadlineExceeded",
                            f"{rs} has timed out progressing.", prev)]
    else:
        status["unavailableReplicas"] = replicas
        conds = [_condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have "
                            "minimum availability.", prev),
                 _condition("Progressing", "True", "ReplicaSetUpdated", f"{rs} is progressing.", prev)]
    if spec.get("paused"):  # the Deployment controller stops progressing a paused rollout
        conds[1] = _condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", prev)
    if replicas == 0:
        status = {"observedGeneration": meta.get("generation", 1)}
        conds = [conds[0] | {"status": "True", "reason": "MinimumReplicasAvailable",
                             "message": "Deployment has minimum availability."}, conds[1]]
    status["conditions"] = conds
    return _keep_times(status, prev)


def _keep_times(status: Obj, prev: Obj | None) -> Obj:
    """Do not rewrite a status whose only change would be timestamps (no needless writes)."""
    if not prev:
        return status
    return prev if _timeless(status) == _timeless(prev) else status


def _timeless(status: Obj) -> Obj:
    return {**status, "conditions": [{k: v for k, v in c.items() if not k.endswith("Time")}
                                     for c in status.get("conditions", [])]}


def _statefulset(obj: Obj, settled: bool, failed: bool) -> Obj:
    spec, meta = obj.get("spec", {}), obj["metadata"]
    replicas = int(spec.get("replicas", 1))
    revision = f"{meta['name']}-{meta.get('generation', 1)}"
    ready = replicas if settled and not failed else 0
    status = {"observedGeneration": meta.get("generation", 1), "replicas": replicas, "readyReplicas": ready,
              "currentReplicas": replicas, "updatedReplicas": replicas if settled else 0,
              "availableReplicas": ready, "currentRevision": revision, "updateRevision": revision,
              "collisionCount": 0}
    return {k: v for k, v in status.items() if v != 0 or k in ("replicas", "collisionCount")}


def _daemonset(obj: Obj, settled: bool, failed: bool) -> Obj:
    ready = 1 if settled and not failed else 0
    status = {"observedGeneration": obj["metadata"].get("generation", 1), "currentNumberScheduled": 1,
              "desiredNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": ready,
              "updatedNumberScheduled": 1 if settled else 0, "numberAvailable": ready}
    if not ready:
        status["numberUnavailable"] = 1
        status.pop("numberAvailable")
    return status


def _replicaset(obj: Obj, settled: bool, failed: bool) -> Obj:
    replicas = int(obj.get("spec", {}).get("replicas", 1))
    status: Obj = {"observedGeneration": obj["metadata"].get("generation", 1), "replicas": replicas,
                   "fullyLabeledReplicas": replicas}
    if settled and not failed and replicas:
        status.update(readyReplicas=replicas, availableReplicas=replicas)
    return status


def _job(obj: Obj, settled: bool, failed: bool) -> Obj:
    prev = obj.get("status") or {}
    if any(c.get("type") in ("Complete", "Failed") for c in prev.get("conditions", [])):
        return prev  # finished Jobs stay finished
    spec = obj.get("spec", {})
    start = prev.get("startTime", _stamp())
    if not settled:
        return {"startTime": start, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}
    if failed:
        message = "Job has reached the specified backoff limit"
        return {"startTime": start, "failed": int(spec.get("backoffLimit", 6)) + 1, "ready": 0,
                "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                    _condition("FailureTarget", "True", "BackoffLimitExceeded", message, None,
                               "lastProbeTime"),
                    _condition("Failed", "True", "BackoffLimitExceeded", message, None, "lastProbeTime")]}
    return {"startTime": start, "completionTime": _stamp(), "succeeded": int(spec.get("completions") or 1),
            "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                _condition("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of "
                           "succeeded pods", None, "lastProbeTime"),
                _condition("Complete", "True", "CompletionsReached", "Reached expected number of succeeded "
                           "pods", None, "lastProbeTime")]}


def _pvc(obj: Obj, settled: bool, failed: bool) -> Obj:
    spec = obj.get("spec", {})
    if not settled:
        return obj.get("status") or {"phase": "Pending"}
    storage = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    return {"phase": "Bound", "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
            "capacity": {"storage": storage}}


def _service(obj: Obj, settled: bool, failed: bool) -> Obj | None:
    if obj.get("spec", {}).get("type") != "LoadBalancer":
        return None
    if not settled:
        return obj.get("status") or {"loadBalancer": {}}
    octet = sum(obj["metadata"]["uid"].encode()) % 200 + 10
    return {"loadBalancer": {"ingress": [{"ip": f"172.18.255.{octet}", "ipMode": "VIP"}]}}


def _pod(obj: Obj, settled: bool, failed: bool) -> Obj:
    """Pending while "creating", then Running and Ready, or stuck in ImagePullBackOff when failing."""
    prev = obj.get("status") or {}
    containers = [c for c in obj.get("spec", {}).get("containers") or [] if isinstance(c, dict)]
    start = prev.get("startTime") or _stamp()
    running = settled and not failed
    reason = "ContainerCreating" if not settled else "ImagePullBackOff"

    def state(c: Obj) -> Obj:
        if running:
            return {"running": {"startedAt": start}}
        message = f'Back-off pulling image "{c.get("image", "")}"' if settled else ""
        return {"waiting": {"reason": reason, **({"message": message} if message else {})}}

    ready = "True" if running else "False"
    conds = [{"type": t, "status": s, "lastProbeTime": None, "lastTransitionTime": start}
             for t, s in (("PodReadyToStartContainers", "True" if settled else "False"),
                          ("Initialized", "True"), ("Ready", ready), ("ContainersReady", ready),
                          ("PodScheduled", "True"))]
    octet = sum(obj["metadata"]["uid"].encode()) % 250 + 2
    pod_ip = f"10.244.0.{octet}"
    return {"phase": "Running" if running else "Pending", "conditions": conds, "hostIP": "10.0.0.10",
            "hostIPs": [{"ip": "10.0.0.10"}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": start, "qosClass": "BestEffort",
            "containerStatuses": [{"name": c.get("name", ""), "image": c.get("image", ""), "imageID": "",
                                   "ready": running, "started": running, "restartCount": 0, "state": state(c)}
                                  for c in containers]}


def _ingress(obj: Obj, settled: bool, failed: bool) -> Obj | None:
    if not settled or failed:
        return obj.get("status") or {"loadBalancer": {}}
    octet = sum(obj["metadata"]["uid"].encode()) % 200 + 10
    return {"loadBalancer": {"ingress": [{"ip": f"172.18.254.{octet}"}]}}


_STATUS = {"Pod": _pod, "Ingress": _ingress, "Deployment": _deployment, "StatefulSet": _statefulset,
           "DaemonSet": _daemonset, "ReplicaSet": _replicaset, "Job": _job, "PersistentVolumeClaim": _pvc,
           "Service": _service}


def status_for(kind: str, obj: Obj, *, settled: bool, failed: bool) -> Obj | None:
    """The status the controller would write now (None: this kind has no controller here)."""
    func = _STATUS.get(kind)
    if func is None:
        return None
    if kind == "Job" and obj.get("spec", {}).get("suspend"):
        return obj.get("status")
    result = func(obj, settled, failed)
    return result


def replicaset_for(deployment: Obj, name: str) -> Obj:
    """The ReplicaSet the Deployment controller creates for the current pod template."""
    meta = deployment["metadata"]
    spec = deployment.get("spec", {})
    template = copy.deepcopy(spec.get("template", {}))
    pod_hash = name.rsplit("-", 1)[-1]
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
    selector = copy.deepcopy(spec.get("selector", {}))
    selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": meta.get("namespace", ""),
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {"deployment.kubernetes.io/revision": str(meta.get("generation", 1))},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": meta["name"], "uid": meta["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"replicas": int(spec.get("replicas", 1)), "selector": selector, "template": template}}
