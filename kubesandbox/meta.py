"""Object metadata as kube-apiserver sets it, and name validation.

Callers: the sandbox write path. Rules from the API conventions and "Object Names and IDs": names are
DNS-1123 subdomains (most kinds) or labels (Namespace, Service); ``generateName`` gets five random
characters appended; ``uid`` and ``creationTimestamp`` are set once; ``generation`` starts at 1 and is
bumped when anything outside ``metadata`` and ``status`` changes ("spec change"), only for the
built-in kinds whose registry strategy sets one (:data:`GENERATION_KINDS`: workloads, Ingress,
NetworkPolicy..., not Service, PersistentVolumeClaim or ConfigMap) and for every custom resource;
``resourceVersion`` is set from the store's counter.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

from kubesandbox.apierrors import invalid
from kubesandbox.catalog import ResourceType
from renderers.k8s.values import go_quote

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Kinds whose names must be DNS-1123 labels (apimachinery ValidateNamespaceName / ValidateServiceName).
LABEL_NAMED = frozenset({"Namespace", "Service"})
_ALPHANUM = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet (no vowels, no 0/1/3)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def generated_name(prefix: str) -> str:
    return prefix[:58] + "".join(secrets.choice(_ALPHANUM) for _ in range(5))


def name_problems(kind: str, name: str) -> list[str]:
    """Messages in apimachinery's wording for an invalid object name (empty list: valid)."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    if "/" in name or "%" in name:
        return [f"may not contain '{'/' if '/' in name else '%'}'"]
    if kind in LABEL_NAMED:
        if len(name) > 63:
            return ["must be no more than 63 characters"]
        if not _LABEL.fullmatch(name):
            return ["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                    "and must start and end with an alphanumeric character (e.g. 'my-name',  or "
                    "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]
        return []
    if len(name) > 253:
        return ["must be no more than 253 characters"]
    if not _SUBDOMAIN.fullmatch(name):
        return ["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
    return []


def validate_name(rt: ResourceType, name: str) -> None:
    problems = name_problems(rt.kind, name)
    if problems:
        raise invalid(rt.kind, rt.group, name, [
            ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name[:300]}": {p}') for p in problems])


def validate_metadata(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Label and annotation maps must hold strings (the typed API would reject anything else)."""
    meta = obj["metadata"]
    name = str(meta.get("name", ""))
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise invalid(rt.kind, rt.group, name, [
                ("FieldValueInvalid", f"metadata.{key}", "Invalid value: must be a map of strings")])
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (isinstance(finalizers, list)
                                       and all(isinstance(f, str) for f in finalizers)):
        raise invalid(rt.kind, rt.group, name, [
            ("FieldValueInvalid", "metadata.finalizers", "Invalid value: must be a list of strings")])


def validate_managed_fields(rt: ResourceType, obj: dict[str, Any]) -> None:
    """apimachinery's ValidateManagedFields on the entries about to be stored: 422 for a manager
    longer than 128 bytes or with unprintable characters, or a subresource longer than 256 bytes.
    (Operation and fieldsType cannot be wrong here: the field manager re-encodes every entry.)"""
    causes = []
    for i, item in enumerate(obj["metadata"].get("managedFields") or []):
        where = f"metadata.managedFields[{i}]"
        manager, subresource = str(item.get("manager", "")), str(item.get("subresource", ""))
        if len(manager.encode()) > 128:
            causes.append(("FieldValueTooLong", f"{where}.manager", "Too long: must have at most 128 bytes"))
        for pos, ch in enumerate(manager):
            if not ch.isprintable():
                at = len(manager[:pos].encode())
                detail = f"invalid character U+{ord(ch):04X} (at position {at})"
                causes.append(("FieldValueInvalid", f"{where}.manager",
                               f"Invalid value: {go_quote(manager)}: {detail}"))
        if len(subresource.encode()) > 256:
            causes.append(("FieldValueTooLong", f"{where}.subresource",
                           "Too long: must have at most 256 bytes"))
    if causes:
        raise invalid(rt.kind, rt.group, str(obj["metadata"].get("name", "")), causes)


# The built-in kinds whose registry strategy sets ``Generation = 1`` in PrepareForCreate (kube-apiserver
# v1.36 pkg/registry/*/strategy.go); every other built-in kind has none, with a spec or not (Service,
# PersistentVolumeClaim, HorizontalPodAutoscaler, Namespace...). Custom resources always have one.
GENERATION_KINDS = frozenset({
    ("", "Pod"), ("", "PodTemplate"), ("", "ReplicationController"),
    ("apps", "DaemonSet"), ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
    ("batch", "CronJob"), ("batch", "Job"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "NetworkPolicy"), ("policy", "PodDisruptionBudget"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "DeviceTaintRule"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
})


def has_generation(rt: ResourceType) -> bool:
    return rt.crd or (rt.group, rt.kind) in GENERATION_KINDS


def spec_changed(old: dict[str, Any], new: dict[str, Any], status_subresource: bool = True) -> bool:
    """Did anything besides metadata (and status, when it is a subresource) change?"""
    ignored = {"metadata", "apiVersion", "kind"} | ({"status"} if status_subresource else set())
    keys = (set(old) | set(new)) - ignored
    return any(old.get(k) != new.get(k) for k in keys)


def stamp_create(rt: ResourceType, obj: dict[str, Any], rv: int | None) -> None:
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    for server_field in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(server_field, None)
    if has_generation(rt):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    _set_rv(meta, rv)


def stamp_update(rt: ResourceType, old: dict[str, Any], obj: dict[str, Any], rv: int | None) -> None:
    meta, old_meta = obj["metadata"], old["metadata"]
    for server_field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if server_field in old_meta:
            meta[server_field] = old_meta[server_field]
        else:
            meta.pop(server_field, None)
    if has_generation(rt):
        generation = int(old_meta.get("generation", 1))
        changed = spec_changed(old, obj, "status" in rt.subresources or not rt.crd)
        if (rt.group, rt.kind) == ("apps", "Deployment"):  # its strategy: annotations reach the ReplicaSets
            changed = changed or (old_meta.get("annotations") or {}) != (meta.get("annotations") or {})
        meta["generation"] = generation + 1 if changed else generation
    else:
        meta.pop("generation", None)
    _set_rv(meta, rv)


def _set_rv(meta: dict[str, Any], rv: int | None) -> None:
    if rv is None:
        meta.pop("resourceVersion", None)
    else:
        meta["resourceVersion"] = str(rv)
