"""The ``scale`` subresource: an ``autoscaling/v1`` Scale view of a workload's replicas.

Called by :mod:`kubesandbox.rest` for ``.../<name>/scale``. As the API reference describes it, GET
returns ``Scale`` (spec.replicas, status.replicas and the selector as a label-selector string), and
PUT or PATCH of a Scale changes only ``spec.replicas`` of the parent object (recorded in managedFields
with subresource ``scale``, as ``kubectl scale`` and autoscalers do).
"""

from __future__ import annotations

from typing import Any

from kubesandbox.apierrors import bad_request


def selector_string(selector: Any) -> str:
    """A LabelSelector as the label-selector text the Scale status carries."""
    if not isinstance(selector, dict):
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(str(key))
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def view(obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale object of a workload."""
    meta = obj["metadata"]
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in keep if k in meta},
            "spec": {"replicas": int(obj.get("spec", {}).get("replicas", 1))},
            "status": {"replicas": int(obj.get("status", {}).get("replicas", 0)),
                       "selector": selector_string(obj.get("spec", {}).get("selector"))}}


def apply_scale(obj: dict[str, Any], scale: Any) -> dict[str, Any]:
    """``obj`` with the replicas of a written Scale (mutates and returns ``obj``)."""
    if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
        raise bad_request("the body must be a Scale object with spec.replicas")
    replicas = scale["spec"].get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise bad_request(f"spec.replicas must be a non-negative integer, got {replicas!r:.50}")
    obj.setdefault("spec", {})["replicas"] = replicas
    return obj
