"""A few create/update validations of built-in kinds that catch common manifest mistakes.

Called by the write pipeline after defaulting. The rules and messages follow kube-apiserver's
validation (pkg/apis/apps/validation, pkg/apis/batch/validation, pkg/apis/core/validation): a workload's
selector must match its pod template labels, a pod template needs containers (each with a name and
an image), a Job's pods must use restartPolicy OnFailure or Never, and the built-in namespaces cannot
be deleted. Everything else is accepted (the sandbox does not re-implement all validation).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubesandbox.apierrors import invalid
from kubesandbox.catalog import ResourceType

Cause = tuple[str, str, str]
WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"),
             ("batch", "Job")}


def _containers(pod: Any, path: str) -> list[Cause]:
    containers = pod.get("containers") if isinstance(pod, dict) else None
    if not containers:
        return [("FieldValueRequired", f"{path}.containers", "Required value")]
    causes = []
    for i, c in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(c, dict) or not c.get("name"):
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        if isinstance(c, dict) and not c.get("image"):
            causes.append(("FieldValueRequired", f"{where}.image", "Required value"))
    return causes


def _selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    if not isinstance(selector, dict):
        return False
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present, value = key in labels, labels.get(key)
        ok = {"In": value in values, "NotIn": value not in values, "Exists": present,
              "DoesNotExist": not present}.get(op, False)
        if not ok:
            return False
    return bool(match or selector.get("matchExpressions"))


def _selector_causes(kind: tuple[str, str], selector: Any, labels: dict[str, Any]) -> list[Cause]:
    """ValidateDeploymentSpec, ValidateReplicaSetSpec, ValidateStatefulSetSpec, ValidateDaemonSetSpec:
    a missing selector is required (DaemonSet aside) and matches no labels; an empty one is invalid
    (and matches everything); the template labels must match the selector."""
    causes: list[Cause] = []
    terms = isinstance(selector, dict) and bool(selector.get("matchLabels")
                                                or selector.get("matchExpressions"))
    noun = {"DaemonSet": "daemonset", "StatefulSet": "statefulset"}.get(kind[1], "deployment")
    mismatch = ("FieldValueInvalid", "spec.template.metadata.labels",
                f"Invalid value: {json.dumps(labels or None)}: `selector` does not match template `labels`")
    empty = ("FieldValueInvalid", "spec.selector",
             f"Invalid value: {json.dumps(selector)}: empty selector is invalid for {noun}")
    if kind == ("batch", "Job"):
        return [mismatch] if selector and not _selector_matches(selector, labels) else []
    if selector is None and kind != ("apps", "DaemonSet"):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    if selector is not None and not terms and kind != ("apps", "DaemonSet"):
        causes.append(empty)
    if selector is None or (terms and not _selector_matches(selector, labels)):
        causes.append(mismatch)
    if selector is not None and not terms and kind == ("apps", "DaemonSet"):
        causes.append(empty)
    return causes


def _workload(kind: tuple[str, str], obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    causes = _selector_causes(kind, spec.get("selector"), labels)
    causes += _containers(template.get("spec"), "spec.template.spec")
    if kind == ("batch", "Job"):
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in ("OnFailure", "Never"):
            causes.append(("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                           f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"'))
    return causes


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _service(obj: dict[str, Any]) -> list[Cause]:
    """ValidateService: ports are required except for headless and ExternalName Services; each port
    (validateServicePort) needs a name when there are several, names are DNS labels and unique,
    numbers 1-65535, protocols TCP, UDP or SCTP."""
    spec = obj.get("spec") or {}
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and spec.get("type") != "ExternalName":
        return [("FieldValueRequired", "spec.ports", "Required value")]
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(p for p in ports if isinstance(p, dict)):
        where, name = f"spec.ports[{i}]", port.get("name") or ""
        if not name and len(ports) > 1:
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif name:
            if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.fullmatch(name):
                causes.append(("FieldValueInvalid", f"{where}.name",
                               f"Invalid value: {json.dumps(name)}: a lowercase RFC 1123 label must consist "
                               "of lower case alphanumeric characters or '-'"))
            elif name in names:
                causes.append(("FieldValueDuplicate", f"{where}.name",
                               f"Duplicate value: {json.dumps(name)}"))
            names.add(str(name))
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(("FieldValueInvalid", f"{where}.port",
                           f"Invalid value: {json.dumps(number)}: must be between 1 and 65535, inclusive"))
        if port.get("protocol") not in ("TCP", "UDP", "SCTP"):
            causes.append(("FieldValueNotSupported", f"{where}.protocol",
                           f'Unsupported value: {json.dumps(port.get("protocol"))}: supported values: '
                           '"SCTP", "TCP", "UDP"'))
    return causes


def validate_object(rt: ResourceType, obj: dict[str, Any]) -> None:
    """422 Invalid with every cause found."""
    causes = object_causes(rt, obj)
    if causes:
        raise invalid(rt.kind, rt.group, str(obj["metadata"].get("name", "")), causes)


def object_causes(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """The causes :func:`validate_object` reports (none: valid)."""
    key = (rt.group, rt.kind)
    if key in WORKLOADS:
        causes = _workload(key, obj)
    elif key == ("", "Pod"):
        causes = _containers(obj.get("spec"), "spec")
    elif key == ("", "Service"):
        causes = _service(obj)
    else:
        causes = []
    return causes
