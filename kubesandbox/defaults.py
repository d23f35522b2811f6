"""Defaulting of built-in kinds: the fields kube-apiserver fills in that show up as drift noise.

Called by the write pipeline after the merge of an apply (so the applier does not own defaulted
fields, as with structured-merge-diff where defaulting runs on the merged object) and before
managedFields are recorded for other writes. Values follow the Kubernetes ``SetDefaults_*``
functions (pkg/apis/core/v1/defaults.go, apps/v1, batch/v1, networking/v1) and the registry strategies
(Service IP allocation, Namespace phase). A default is only set where the field is absent. Fields the
server allocates (Service clusterIP, nodePort) are carried over from the stored object when an update
leaves them out, as the Service update strategy does.
"""

from __future__ import annotations

import itertools
from typing import Any

from kubesandbox.catalog import ResourceType

_ip_counter = itertools.count(10)
_port_counter = itertools.count(30000)
Obj = dict[str, Any]


def _map(parent: Obj, key: str) -> Obj:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def _spec(obj: Obj) -> Obj:
    return _map(obj, "spec")


def apply_defaults(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Fill in what kube-apiserver defaults for this kind (mutates ``obj``)."""
    handler = _HANDLERS.get((rt.group, rt.kind))
    if handler is not None:
        handler(obj, old)


def _namespace(obj: Obj, old: Obj | None) -> None:
    _spec(obj).setdefault("finalizers", ["kubernetes"])


def _image_pull_policy(image: str) -> str:
    """Always for ``:latest`` or no tag, IfNotPresent otherwise (digests count as tagged)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = env.get("valueFrom", {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(key))


def pod_spec(spec: Any) -> None:
    """SetDefaults_PodSpec plus containers and volumes."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            _container(c)
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        for source in ("configMap", "secret"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


def _template(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec(template.get("spec"))


def _deployment(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    strategy = _map(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _map(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _statefulset(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _map(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _map(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    policy = _map(spec, "persistentVolumeClaimRetentionPolicy")
    policy.setdefault("whenDeleted", "Retain")
    policy.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            _map(claim, "spec").setdefault("volumeMode", "Filesystem")
    _template(spec)


def _daemonset(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    strategy = _map(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _map(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)


def _replicaset(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    _template(spec)


def _job_template_spec(spec: Obj) -> None:
    """Defaults a Job's spec and a CronJob's jobTemplate.spec share."""
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(spec)


def _job_spec(spec: Obj) -> None:
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    _job_template_spec(spec)


def _job(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    _job_spec(spec)
    if old is not None:  # the generated selector and labels are kept from the stored Job
        for key in ("selector", "manualSelector"):
            if key in old.get("spec", {}) and key not in spec:
                spec[key] = old["spec"][key]
        labels = old.get("spec", {}).get("template", {}).get("metadata", {}).get("labels")
        if labels and isinstance(spec.get("template"), dict):
            _map(_map(spec, "template"), "metadata").setdefault("labels", labels)


def job_selector(obj: Obj) -> None:
    """The Job strategy's generated selector: controller-uid labels on the selector and template."""
    spec = _spec(obj)
    if spec.get("manualSelector") or "selector" in spec:
        return
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = _map(_map(_map(spec, "template"), "metadata"), "labels")
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})


def _cronjob(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _job_template_spec(_map(_map(spec, "jobTemplate"), "spec"))


def _service(obj: Obj, old: Obj | None) -> None:
    """SetDefaults_Service (what the decoder defaults, so the writer owns it)."""
    spec = _spec(obj)
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def allocate(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """What the Service storage allocates or carries over from the stored Service (``patchAllocatedValues``
    and the IP family initialisation): cluster IPs, IP families, node ports. It runs after the field
    manager, in the registry's BeginCreate/BeginUpdate, so no writer owns these fields."""
    if (rt.group, rt.kind) != ("", "Service"):
        return
    spec = _spec(obj)
    old_spec = (old or {}).get("spec") or {}
    for allocated in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort"):
        if allocated not in spec and allocated in old_spec:
            spec[allocated] = old_spec[allocated]
    kind = spec.get("type", "ClusterIP")
    if kind != "ExternalName":
        if "clusterIP" not in spec:
            n = next(_ip_counter)
            spec["clusterIP"] = f"10.96.{(n // 250) % 250}.{n % 250 + 1}"
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []
                 if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and kind in ("NodePort", "LoadBalancer") and "nodePort" not in port:
            previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")), {}).get("nodePort")
            port["nodePort"] = previous or next(_port_counter) % 2768 + 30000


def _pvc(obj: Obj, old: Obj | None) -> None:
    _spec(obj).setdefault("volumeMode", "Filesystem")


def _secret(obj: Obj, old: Obj | None) -> None:
    obj.setdefault("type", "Opaque")


def _pod(obj: Obj, old: Obj | None) -> None:
    pod_spec(_spec(obj))


def _network_policy(obj: Obj, old: Obj | None) -> None:
    spec = _spec(obj)
    if "policyTypes" not in spec:
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for port in (rule.get("ports") or []) if isinstance(rule, dict) else []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


_HANDLERS = {
    ("", "Namespace"): _namespace, ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset, ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset, ("batch", "Job"): _job, ("batch", "CronJob"): _cronjob,
    ("", "Service"): _service, ("", "PersistentVolumeClaim"): _pvc, ("", "Secret"): _secret,
    ("", "Pod"): _pod, ("networking.k8s.io", "NetworkPolicy"): _network_policy,
}
