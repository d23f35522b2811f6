"""Immutable-field validation on update, with kube-apiserver's error shapes.

Called by the write pipeline for every update of a stored object. The rules and wording come from the
validation code of each kind (ValidateDeploymentUpdate, ValidateServiceUpdate, ValidateJobUpdate,
ValidatePersistentVolumeClaimUpdate, ValidateConfigMapUpdate, ValidateStatefulSetUpdate):
``<field>: Invalid value: <value>: field is immutable`` (reason FieldValueInvalid) for selectors, a
Service's clusterIP and a Job's template; ``Forbidden`` (reason FieldValueForbidden) for a PVC spec,
the data of an immutable ConfigMap/Secret and StatefulSet spec fields other than the updatable ones.
Values are printed as JSON where the apiserver prints Go syntax (a documented difference).
"""

from __future__ import annotations

import json
from typing import Any

from kubesandbox.apierrors import invalid
from kubesandbox.catalog import ResourceType

Cause = tuple[str, str, str]
IMMUTABLE = "field is immutable"
_STS_UPDATABLE = ("replicas", "ordinals", "template", "updateStrategy",
                  "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _changed(old: dict[str, Any], new: dict[str, Any], path: str) -> Cause | None:
    o: Any = old
    n: Any = new
    for part in path.split("."):
        o = o.get(part) if isinstance(o, dict) else None
        n = n.get(part) if isinstance(n, dict) else None
    if o != n:
        return ("FieldValueInvalid", path, f"Invalid value: {_show(n)}: {IMMUTABLE}")
    return None


def _paths(old: dict[str, Any], new: dict[str, Any], *paths: str) -> list[Cause]:
    return [c for p in paths if (c := _changed(old, new, p)) is not None]


def _service(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    o, n = old.get("spec", {}), new.get("spec", {})
    if o.get("clusterIP") in (None, "") or "ExternalName" in (o.get("type"), n.get("type")):
        return []
    return _paths(old, new, "spec.clusterIP")


def _pvc(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    def comparable(spec: Any) -> Any:
        spec = dict(spec or {})
        spec.pop("volumeAttributesClassName", None)
        resources = dict(spec.pop("resources", None) or {})
        resources.pop("requests", None)
        return spec, resources
    if comparable(old.get("spec")) != comparable(new.get("spec")):
        return [("FieldValueForbidden", "spec", "Forbidden: spec is immutable after creation except "
                 "resources.requests and volumeAttributesClassName for bound claims")]
    return []


def _immutable_data(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if new.get("type", "Opaque") != old.get("type", "Opaque") and new.get("kind") == "Secret":
        causes.append(("FieldValueInvalid", "type", f"Invalid value: {_show(new.get('type'))}: {IMMUTABLE}"))
    if not old.get("immutable"):
        return causes
    forbidden = "Forbidden: field is immutable when `immutable` is set"
    if not new.get("immutable"):
        causes.append(("FieldValueForbidden", "immutable", forbidden))
    for key in ("data", "binaryData"):
        if old.get(key) != new.get(key):
            causes.append(("FieldValueForbidden", key, forbidden))
    return causes


def _statefulset(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    o = {k: v for k, v in (old.get("spec") or {}).items() if k not in _STS_UPDATABLE}
    n = {k: v for k, v in (new.get("spec") or {}).items() if k not in _STS_UPDATABLE}
    if o != n:
        return [("FieldValueForbidden", "spec", "Forbidden: updates to statefulset spec for fields other "
                 "than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                 "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]
    return []


def _rules(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    key = (rt.group, rt.kind)
    if key in (("apps", "Deployment"), ("apps", "DaemonSet"), ("apps", "ReplicaSet")):
        return _paths(old, new, "spec.selector")
    if key == ("apps", "StatefulSet"):
        return _statefulset(old, new)
    if key == ("batch", "Job"):
        return _paths(old, new, "spec.selector", "spec.template", "spec.completionMode")
    if key == ("", "Service"):
        return _service(old, new)
    if key == ("", "PersistentVolumeClaim"):
        return _pvc(old, new)
    if key in (("", "ConfigMap"), ("", "Secret")):
        return _immutable_data(old, new)
    if key == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return _paths(old, new, "spec.group", "spec.scope")
    return []


def immutable_causes(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """The causes of the 422 when ``new`` changes a field Kubernetes declares immutable."""
    if (rt.group, rt.kind) == ("batch", "Job") and new.get("spec", {}).get("suspend"):
        return _paths(old, new, "spec.selector")  # a suspended Job's template may change
    return _rules(rt, old, new)


def check_immutable(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise 422 Invalid when ``new`` changes a field Kubernetes declares immutable."""
    causes = immutable_causes(rt, old, new)
    if causes:
        raise invalid(rt.kind, rt.group, str(new["metadata"].get("name", "")), causes)
