"""``FakeCluster``: an in-memory Cluster port with just enough server-side apply to test the engine.

Used by the engine's unit tests (and anyone testing code above the Cluster port) where a real API
server is not needed; end-to-end behaviour is tested against the sandbox API server instead. Apply
merges maps recursively and replaces lists, tracks field ownership per manager in FieldsV1 (lists
keyed by the schema's merge keys), reports conflicts with other managers unless forced, drops fields
a manager stopped applying, and rejects changes to configured immutable fields with the same errors
the real client raises, including what the server refuses in an apply body (managedFields, a
resourceVersion on create or a stale one). Each managedFields entry carries its ``time`` (RFC 3339,
whole seconds, from the injected clock) as the API server stamps it. ``calls`` records every
request; ``faults`` queues errors to raise next; ``on_apply`` runs after each stored apply (a test
can fail or stop the sync there). tests/gitops/testing/test_cluster_contract.py runs the same
scenarios against this fake and the real HTTP client on the sandbox API server, so the two cannot
drift apart.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.cluster import ResourceInfo, builtin, check_name
from gitops.errors import ClusterError, Conflict, ImmutableField, Invalid, NotFound
from gitops.plan import managed
from gitops.plan.fields import compare
from gitops.vocabulary import ObjectRef
from renderers.k8s import fieldpath, fieldsv1
from renderers.k8s.fieldpath import FieldSet, Path, PathElement
from renderers.k8s.schema import TypeNode, element, field, resolve, root_for
from renderers.manifest import Manifest

Key = tuple[str, str, str, str]
IMMUTABLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): ("spec", "selector"), ("batch", "Job"): ("spec", "template"),
    ("", "Service"): ("spec", "clusterIP"),
}


def field_set(obj: Any, node: TypeNode, prefix: Path = ()) -> FieldSet:
    """The field set of every leaf ``obj`` sets (and of each element of a keyed list)."""
    out = FieldSet()
    if isinstance(obj, dict):
        for name, value in obj.items():
            path = (*prefix, PathElement.field(name))
            below = field_set(value, field(node, name), path)
            out = out.union(below) if not below.empty() else out.union(FieldSet.of(path))
    elif isinstance(obj, list):
        keys = resolve(node).get("keys") if resolve(node).get("listType") == "map" else None
        if keys and all(isinstance(i, dict) for i in obj):
            for item in obj:
                path = (*prefix, PathElement.key({k: item[k] for k in keys if k in item}))
                out = out.union(FieldSet.of(path)).union(field_set(item, element(node), path))
    return out


def fields_v1(obj: Any, node: TypeNode) -> dict[str, Any]:
    """The FieldsV1 set of every leaf ``obj`` sets."""
    return fieldsv1.encode(field_set(obj, node))


def _merge(live: Any, applied: Any) -> Any:
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for k, v in applied.items():
            out[k] = _merge(live.get(k), v)
        return out
    return copy.deepcopy(applied)


def _key(ref: ObjectRef) -> Key:
    return (ref.group, ref.kind, ref.namespace, ref.name)


class FakeCluster:
    """In-memory cluster; see the module docstring for what it models."""

    def __init__(self, name: str = "fake", clock: Clock = SYSTEM_CLOCK) -> None:
        self.name = name
        self.clock = clock
        self.objects: dict[Key, Manifest] = {}
        self.calls: list[tuple[str, str]] = []
        self.faults: list[ClusterError] = []
        self.on_apply: Callable[[Manifest], None] | None = None
        self._rv = itertools.count(1)
        self._lock = threading.RLock()

    def _call(self, verb: str, kind: str) -> None:
        with self._lock:
            self.calls.append((verb, kind))
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            raise fault

    def _time(self) -> str:
        """Now as the API server writes a managedFields time (RFC 3339, whole seconds, UTC)."""
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def writes(self) -> int:
        return sum(1 for verb, _ in self.calls if verb in ("apply", "create", "delete"))

    def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        info = builtin(api_version, kind)
        if info is not None:
            return info
        group, _, version = api_version.rpartition("/")
        for crd in (o for k, o in self.objects.items() if k[1] == "CustomResourceDefinition"):
            spec = crd.get("spec") or {}
            names = spec.get("names") or {}
            versions = [v.get("name") for v in spec.get("versions") or []]
            if spec.get("group") == group and names.get("kind") == kind and version in versions:
                return ResourceInfo(group, version, kind, str(names.get("plural")),
                                    spec.get("scope") != "Cluster")
        raise NotFound(f"kind {kind} is not served by {api_version}", status=404)

    def invalidate_discovery(self) -> None:
        self.calls.append(("discovery-reset", ""))

    def get(self, ref: ObjectRef) -> Manifest | None:
        self.resource_for(ref.api_version, ref.kind)
        self._call("get", ref.kind)
        found = self.objects.get(_key(ref))
        return copy.deepcopy(found) if found is not None else None

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None) -> list[Manifest]:
        self.resource_for(api_version, kind)
        self._call("list", kind)
        want = dict(p.split("=", 1) for p in label_selector.split(",")) if label_selector else {}
        return [copy.deepcopy(o) for k, o in sorted(self.objects.items())
                if k[1] == kind and (namespace is None or k[2] == namespace)
                and all(((o["metadata"].get("labels") or {}).get(a) == b) for a, b in want.items())]

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        self._call("delete", ref.kind)
        return self.objects.pop(_key(ref), None) is not None

    def create(self, obj: Manifest, *, field_manager: str) -> Manifest:
        """POST: ``metadata.generateName`` gets five characters appended; a taken name is a Conflict."""
        meta = dict(obj.get("metadata") or {})
        if not meta.get("name"):
            prefix = str(meta.get("generateName") or "")
            check_name(prefix + "x", "generateName")
            with self._lock:
                meta["name"] = f"{prefix}{next(self._rv):05d}"[-253:]
        obj = {**obj, "metadata": meta}
        ref = ObjectRef.of(obj)
        check_name(ref.name, "name")
        self.resource_for(ref.api_version, ref.kind)
        self._call("create", ref.kind)
        with self._lock:
            if _key(ref) in self.objects:
                raise Conflict(f"{ref.kind} {ref.name!r} already exists", status=409, reason="AlreadyExists",
                               obj=str(ref))
        self._check_apply_metadata(ref, meta, None)
        new = self._merge_apply(None, copy.deepcopy(obj), field_manager, True)
        self.objects[_key(ref)] = new
        if self.on_apply:
            self.on_apply(new)
        return copy.deepcopy(new)

    def apply(self, obj: Manifest, *, field_manager: str, force: bool = False,
              dry_run: bool = False) -> Manifest:
        ref = ObjectRef.of(obj)
        check_name(ref.name, "name")
        self.resource_for(ref.api_version, ref.kind)
        self._call("apply-dry-run" if dry_run else "apply", ref.kind)
        live = copy.deepcopy(self.objects.get(_key(ref)))
        self._check_apply_metadata(ref, obj["metadata"], live)
        new = self._merge_apply(live, copy.deepcopy(obj), field_manager, force)
        if not dry_run:
            self.objects[_key(ref)] = new
            if self.on_apply:
                self.on_apply(new)
        return copy.deepcopy(new)

    def _merge_apply(self, live: Manifest | None, obj: Manifest, manager: str, force: bool) -> Manifest:
        ref = ObjectRef.of(obj)
        node = root_for(ref.api_version, ref.kind)
        mine = fields_v1(obj, node)
        if live is None:
            new = copy.deepcopy(obj)
            new["metadata"].update(uid=f"uid-{next(self._rv)}", generation=1,
                                   creationTimestamp="2026-01-01T00:00:00Z")
            others: list[dict[str, Any]] = []
        else:
            self._check_immutable(ref, live, obj)
            owners = managed.owners(live["metadata"].get("managedFields"))
            changed = {p for p, _, _ in compare(live, _merge(live, obj), node)}
            self._check_conflicts(ref, owners, changed, manager, force)
            new = _merge(live, obj)
            stale = owners.get(manager, set()) - managed.decode(mine)
            for path in sorted(stale, key=len, reverse=True):
                fieldpath.remove(new, path)
            others = [e for e in live["metadata"].get("managedFields") or [] if e.get("manager") != manager]
            if force:
                for entry in others:
                    kept = managed.decode(entry["fieldsV1"]) - {p for p in changed}
                    entry["fieldsV1"] = _encode(kept)
            if new.get("spec") != live.get("spec"):
                new["metadata"]["generation"] = int(live["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        new["metadata"]["managedFields"] = [*others, {"manager": manager, "operation": "Apply",
                                                      "apiVersion": obj["apiVersion"], "time": self._time(),
                                                      "fieldsType": "FieldsV1", "fieldsV1": mine}]
        return new

    @staticmethod
    def _check_apply_metadata(ref: ObjectRef, meta: Manifest, live: Manifest | None) -> None:
        """What the API server refuses in an apply body: managedFields and a stale resourceVersion
        (apply's optimistic lock). An apply that creates ignores a resourceVersion (kube-apiserver
        creates through the update path; only a POST gets the etcd3 store's 500)."""
        if meta.get("managedFields") is not None:
            raise Invalid("metadata.managedFields must be nil", status=400, reason="BadRequest", obj=str(ref))
        wanted = meta.get("resourceVersion")
        if wanted and live is not None and wanted != live["metadata"].get("resourceVersion"):
            raise Conflict("the object has been modified; please apply your changes to the latest version "
                           "and try again", status=409, reason="Conflict", temporary=True, obj=str(ref))

    def _check_immutable(self, ref: ObjectRef, live: Manifest, obj: Manifest) -> None:
        path = IMMUTABLE.get((ref.group, ref.kind))
        if not path:
            return
        a: Any = live
        b: Any = obj
        for part in path:
            a, b = (a or {}).get(part), (b or {}).get(part)
        if b is not None and a is not None and a != b:
            raise ImmutableField("field is immutable", fields=[".".join(path)], status=422, obj=str(ref))

    @staticmethod
    def _check_conflicts(ref: ObjectRef, owners: dict[str, set[Path]], changed: set[Path],
                         manager: str, force: bool) -> None:
        if force:
            return
        causes = [(m, managed.display(p)) for m, paths in sorted(owners.items()) if m != manager
                  for p in sorted(changed) if p in paths]
        if causes:
            raise Conflict(f"Apply failed with {len(causes)} conflict(s)", causes=causes, status=409,
                           obj=str(ref))

    def edit(self, ref: ObjectRef, patch: Manifest, manager: str) -> Manifest:
        """Another client's merge-patch update: it takes ownership of the fields it changed."""
        live = self.objects[_key(ref)]
        new = _merge(copy.deepcopy(live), patch)
        node = root_for(ref.api_version, ref.kind)
        changed = {p for p, _, _ in compare(live, new, node)}
        for entry in new["metadata"].get("managedFields") or []:
            entry["fieldsV1"] = _encode(managed.decode(entry["fieldsV1"]) - changed)
        new["metadata"]["managedFields"] = [*(new["metadata"].get("managedFields") or []), {
            "manager": manager, "operation": "Update", "time": self._time(), "fieldsType": "FieldsV1",
            "fieldsV1": _encode(changed)}]
        if new.get("spec") != live.get("spec"):
            new["metadata"]["generation"] = int(live["metadata"].get("generation", 1)) + 1
        self.objects[_key(ref)] = new
        return copy.deepcopy(new)


def _encode(paths: set[Path]) -> dict[str, Any]:
    return fieldsv1.encode(FieldSet.of(*paths))
