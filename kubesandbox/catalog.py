"""The sandbox's resource catalog and the discovery documents built from it.

The built-in resources come from ``renderers.k8s.schema.resources()`` (generated from the Kubernetes
OpenAPI); custom resources are added when a CustomResourceDefinition is created and removed when it is
deleted. Discovery follows the documented shapes (``APIVersions``, ``APIGroupList``,
``APIResourceList``; "Discovery API" in the Kubernetes API concepts). The catalog is read on every
request, so lookups are dict hits; it changes only under the store lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from renderers.k8s.schema import TypeNode, resources, root_for

# Well-known short names (kubectl api-resources on a stock cluster).
SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "pods": ("po",), "services": ("svc",), "deployments": ("deploy",), "namespaces": ("ns",),
    "configmaps": ("cm",), "statefulsets": ("sts",), "daemonsets": ("ds",), "replicasets": ("rs",),
    "persistentvolumeclaims": ("pvc",), "persistentvolumes": ("pv",), "serviceaccounts": ("sa",),
    "ingresses": ("ing",), "customresourcedefinitions": ("crd", "crds"), "cronjobs": ("cj",),
    "horizontalpodautoscalers": ("hpa",), "nodes": ("no",), "endpoints": ("ep",), "events": ("ev",),
    "networkpolicies": ("netpol",), "poddisruptionbudgets": ("pdb",), "priorityclasses": ("pc",),
    "storageclasses": ("sc",), "limitranges": ("limits",), "resourcequotas": ("quota",),
    "certificatesigningrequests": ("csr",), "replicationcontrollers": ("rc",),
}
SERVED_SUBRESOURCES = ("status", "scale")


@dataclass(frozen=True)
class ResourceType:
    """One servable REST resource (built-in or custom)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[str, ...]
    singular: str = ""
    short_names: tuple[str, ...] = ()
    list_kind: str = ""
    crd: bool = False
    schema: TypeNode | None = field(default=None, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: objects are shared by every served version of a resource."""
        return (self.group, self.plural)

    def type_node(self) -> TypeNode:
        return self.schema if self.schema is not None else root_for(self.api_version, self.kind)


def _builtin() -> list[ResourceType]:
    out = []
    for r in resources():
        subs = tuple(s for s in r.subresources if s in SERVED_SUBRESOURCES)
        out.append(ResourceType(r.group, r.version, r.kind, r.plural, r.namespaced, r.verbs, subs,
                                r.kind.lower(), SHORT_NAMES.get(r.plural, ()), r.kind + "List"))
    return out


class Catalog:
    """Lookup of resource types by URL (group, version, plural) and by (apiVersion, kind)."""

    def __init__(self) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_gvk: dict[tuple[str, str], ResourceType] = {}
        self.generation = 0  # bumped whenever the served resources change (discovery caches key on it)
        for rt in _builtin():
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_gvk.setdefault((rt.api_version, rt.kind), rt)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_gvk.get((api_version, kind))

    def all(self) -> list[ResourceType]:
        return list(self._by_path.values())

    def add_custom(self, types: list[ResourceType]) -> None:
        self.generation += 1
        for rt in types:
            self._add(rt)

    def remove_custom(self, group: str, plural: str) -> None:
        self.generation += 1
        for key, rt in list(self._by_path.items()):
            if rt.crd and rt.group == group and rt.plural == plural:
                del self._by_path[key]
                self._by_gvk.pop((rt.api_version, rt.kind), None)

    def versions(self) -> dict[str, list[str]]:
        """group -> served versions, newest first as kube-apiserver orders them (v2 > v1 > v1beta1)."""
        groups: dict[str, list[str]] = {}
        for group, version, _ in self._by_path:
            versions = groups.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        for versions in groups.values():
            versions.sort(key=_version_priority)
        return groups

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """The ``APIResourceList`` of one group version (None when not served)."""
        types = [rt for (g, v, _), rt in self._by_path.items() if g == group and v == version]
        if not types:
            return None
        entries: list[dict[str, Any]] = []
        for rt in sorted(types, key=lambda t: t.plural):
            entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular,
                                     "namespaced": rt.namespaced, "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            entries.append(entry)
            for sub in rt.subresources:
                kind = "Scale" if sub == "scale" else rt.kind
                entries.append({"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                                "kind": kind, "verbs": ["get", "patch", "update"]})
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}

    def group_list(self) -> dict[str, Any]:
        groups = []
        for group, versions in sorted(self.versions().items()):
            if not group:
                continue
            gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def group(self, group: str) -> dict[str, Any] | None:
        versions = self.versions().get(group)
        if not versions or not group:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
                "preferredVersion": gvs[0]}


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, higher numbers first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0))
