"""The sandbox write pipeline: status rules, defaults, immutability, metadata, managedFields, storage,
deletion with finalizers and garbage collection.

Called by :mod:`kubesandbox.rest` with the store lock held. The order follows kube-apiserver's
registry: the status subresource rules of "Subresources" (a main-resource write keeps the stored
status, a /status write changes only status), defaulting (the decoder's), managed fields (the
handler's field manager), the storage's allocations (a Service's cluster IPs and node ports, so no
manager owns them), validation (immutability), then metadata (uid, generation, resourceVersion). A
write that changes nothing is a no-op that keeps the resourceVersion (etcd3 store's "no-op update"
short cut). Deletion follows "Finalizers" and "Garbage Collection" (propagationPolicy Foreground,
Background, Orphan; ownerReferences).
"""

from __future__ import annotations

from typing import Any

from kubesandbox import crds, fieldmanager, fieldvalidation, typed
from kubesandbox.apierrors import ApiError, bad_request, conflict, invalid, not_found
from kubesandbox.call import Call
from kubesandbox.catalog import Catalog, ResourceType
from kubesandbox.defaults import allocate, apply_defaults, job_selector
from kubesandbox.immutable import immutable_causes
from kubesandbox.meta import (
    now,
    stamp_create,
    stamp_update,
    validate_managed_fields,
    validate_metadata,
    validate_name,
)
from kubesandbox.store import Entry, Store, dumps
from kubesandbox.validation import object_causes

FOREGROUND, ORPHAN = "foregroundDeletion", "orphan"
# Resources whose registry sets ReturnDeletedObject (kube-apiserver v1.36 pkg/registry/*/storage): a
# DELETE answers with the object, every other resource with a Success Status naming it.
RETURNS_DELETED = frozenset({
    ("", "namespaces"), ("", "persistentvolumes"), ("", "persistentvolumeclaims"), ("", "pods"),
    ("", "podtemplates"), ("", "resourcequotas"), ("", "services"), ("", "serviceaccounts"),
    ("resource.k8s.io", "deviceclasses"), ("resource.k8s.io", "devicetaintrules"),
    ("resource.k8s.io", "resourceclaims"), ("resource.k8s.io", "resourceclaimtemplates"),
    ("resource.k8s.io", "resourcepoolstatusrequests"), ("resource.k8s.io", "resourceslices"),
    ("storage.k8s.io", "csidrivers"), ("storage.k8s.io", "csinodes"), ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "volumeattachments"), ("storage.k8s.io", "volumeattributesclasses"),
})
LOAD_BALANCED = frozenset({("", "Service"), ("networking.k8s.io", "Ingress")})  # status.loadBalancer struct
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})  # NamespaceLifecycle admission


def _without_times(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj.get("metadata", {}))
    meta["managedFields"] = [{k: v for k, v in m.items() if k != "time"}
                             for m in meta.get("managedFields", [])]
    return {**obj, "metadata": meta}


class Writer:
    """Stores writes and deletions; every method expects the store lock held."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self._finalizing: set[str] = set()  # uids whose finalize() is on the stack

    def commit(self, call: Call, old: Entry | None, new: dict[str, Any], *, manager: str,
               applied: bool = False) -> tuple[int, bytes]:
        """Validate, default and store ``new`` (replacing ``old``); returns (status code, JSON)."""
        rt = call.rt
        old_obj = old.obj if old is not None else None
        new = self._prepare(call, old_obj, new, manager, applied)
        if old is None:
            stamp_create(rt, new, None if call.dry_run else self.store.rv + 1)
            if (rt.group, rt.kind) == ("batch", "Job"):
                job_selector(new)
        else:
            stamp_update(rt, old.obj, new, int(old.obj["metadata"]["resourceVersion"]))
            if _without_times(new) == _without_times(old.obj):
                return 200, old.raw  # no-op update: nothing stored, resourceVersion kept
            if not call.dry_run:
                new["metadata"]["resourceVersion"] = str(self.store.rv + 1)
        code = 201 if old is None else 200
        if call.dry_run:
            return code, dumps(new)
        self.store.next_rv()
        entry = self.store.put(rt.key, new, created=old is None)
        self._after_write(rt, entry)
        return code, entry.raw

    def _prepare(self, call: Call, old: dict[str, Any] | None, new: dict[str, Any], manager: str,
                 applied: bool) -> dict[str, Any]:
        """Everything before metadata: validation, status rules, defaults, managed fields."""
        rt = call.rt
        self._normalize(call, new)
        # the typed round trip drops empty omitempty maps and lists (custom resources: in metadata)
        if rt.crd:
            typed.normalize(new["metadata"], {"ref": typed.OBJECT_META})
        else:
            typed.normalize_object(rt.api_version, rt.kind, new)
        if old is None:
            validate_name(rt, new["metadata"]["name"])
            self.require_namespace(rt, call.namespace)
        if not applied:
            fieldvalidation.validate(call.query, new, rt.type_node(), call.warnings)
        new = _status_rules(rt, call.subresource, old, new)
        apply_defaults(rt, new, old)
        if not applied:
            new = fieldmanager.update(old, new, manager, subresource=call.subresource, schema=rt.type_node(),
                                      now=now(), status_subresource="status" in rt.subresources,
                                      zero=None if rt.crd else typed.zero(rt.api_version, rt.kind))
        allocate(rt, new, old)  # the Service storage's BeginCreate/BeginUpdate: after the field manager
        # ValidateUpdate reports the object's problems and its immutable fields together
        causes = object_causes(rt, new) if call.subresource != "status" else []
        if old is not None:
            causes += immutable_causes(rt, old, new)
        if causes:
            raise invalid(rt.kind, rt.group, str(new["metadata"].get("name", "")), causes)
        validate_managed_fields(rt, new)
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            crds.validate_and_accept(new)  # the establishing controller's status, not a user's field
        if "status" in rt.subresources and not rt.crd:
            status = new.setdefault("status", {})  # typed kinds always serialize their status struct
            if (rt.group, rt.kind) in LOAD_BALANCED and isinstance(status, dict):
                status.setdefault("loadBalancer", {})  # a struct field: Go's omitempty keeps it
        if old is None and (rt.group, rt.kind) == ("", "Namespace"):
            new.setdefault("status", {}).setdefault("phase", "Active")  # namespace PrepareForCreate
        return new

    def _normalize(self, call: Call, new: dict[str, Any]) -> None:
        rt = call.rt
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new.setdefault("metadata", {})
        if rt.namespaced:
            meta["namespace"] = call.namespace
        else:
            meta.pop("namespace", None)
        validate_metadata(rt, new)

    def require_namespace(self, rt: ResourceType, namespace: str) -> None:
        """Namespaced creates need an existing, non-terminating namespace (NamespaceLifecycle)."""
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns.obj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"{rt.plural} is forbidden: unable to create new content in "
                           f"namespace {namespace} because it is being terminated")

    def _after_write(self, rt: ResourceType, entry: Entry) -> None:
        meta = entry.obj["metadata"]
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            self.catalog.remove_custom(*crds.resource_key(entry.obj))  # versions may have changed
            self.catalog.add_custom(crds.resource_types(entry.obj))
        if meta.get("deletionTimestamp"):
            self.finalize(rt, entry)
        elif meta.get("ownerReferences"):
            self.collect(rt, entry)  # the garbage collector sees every object that names owners

    # --- deletion ----------------------------------------------------------------------------
    def delete(self, call: Call, old: Entry, options: dict[str, Any]) -> tuple[int, bytes]:
        rt = call.rt
        legacy = "Orphan" if options.get("orphanDependents") is True else None  # deprecated DeleteOptions
        policy = (call.query.get("propagationPolicy") or options.get("propagationPolicy") or legacy
                  or "Background")
        if policy not in ("Foreground", "Background", "Orphan"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                              f'"Foreground", "Background", "Orphan"')
        _check_preconditions(call, old, options.get("preconditions") or {})
        if (rt.group, rt.kind) == ("", "Namespace") and call.name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{call.name}" is forbidden: this namespace may not '
                           "be deleted")
        obj = old.copy()
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        extra = {"Foreground": FOREGROUND, "Orphan": ORPHAN}.get(policy)
        if extra and extra not in finalizers and self._dependents(meta["uid"]):
            finalizers.append(extra)
        if rt.kind == "Namespace" and not rt.group:
            obj.setdefault("status", {})["phase"] = "Terminating"
        pending = finalizers or (rt.kind == "Namespace" and not rt.group)
        # The answer (the generic registry's Delete and finalizeDelete, handlers/delete.go): an object
        # removed at once is reported as a Success Status (the object itself for RETURNS_DELETED
        # resources); one kept for its finalizers is returned as updated, with 200 (202 only when the
        # client set orphanDependents: false, as the handler does), dry runs included.
        code = 202 if pending and options.get("orphanDependents") is False else 200
        if not pending:
            if not call.dry_run:
                self.remove(rt, obj)  # sets the deletion's resourceVersion on obj
            return code, dumps(obj) if rt.key in RETURNS_DELETED else _success(rt, meta)
        changed = not meta.get("deletionTimestamp") or meta.get("finalizers") != finalizers
        if changed:
            meta.setdefault("deletionTimestamp", now())
            meta.setdefault("deletionGracePeriodSeconds", 0)
            if finalizers:
                meta["finalizers"] = finalizers
        if call.dry_run:
            return code, dumps(obj)
        if changed:
            meta["resourceVersion"] = str(self.store.next_rv())
            old = self.store.put(rt.key, obj, created=False)
        self.finalize(rt, old)
        current = self.store.get(rt.key, meta.get("namespace", ""), meta["name"])
        return code, (current or old).raw

    def remove(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Remove an object for good and collect what depended on it (Background propagation)."""
        self.store.remove(rt.key, obj)
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            group, plural = crds.resource_key(obj)
            for entry in self.store.drop_resource((group, plural)):  # while the kind still resolves
                gone = entry.copy()
                self.store.remove((group, plural), gone)
                self._collect_dependents(gone["metadata"]["uid"])
            self.catalog.remove_custom(group, plural)
        self._collect_dependents(obj["metadata"]["uid"])
        self._wake_waiters(rt, obj)

    # --- garbage collection ------------------------------------------------------------------
    def _collect_dependents(self, uid: str) -> None:
        for dep_rt, dep in self._dependents(uid):
            meta = dep.obj["metadata"]
            current = self.store.get(dep_rt.key, meta.get("namespace", ""), meta["name"])
            if current is not None and current.obj["metadata"].get("uid") == meta.get("uid"):
                self.collect(dep_rt, current)

    def collect(self, rt: ResourceType, entry: Entry) -> None:
        """The garbage collector's attemptToDeleteItem for an object with ownerReferences.

        Each reference is resolved as the collector does: the owner is looked up by kind and name
        (in the dependent's namespace for namespaced kinds) and counts as absent when it does not
        exist or has another uid. An object with at least one present owner keeps only its present
        references (dangling ones, and owners waiting in foreground deletion, are removed); one
        without is deleted (Foreground when an owner waits for its dependents and it has dependents
        of its own, otherwise as its finalizers say). A reference the collector cannot resolve (an
        unknown kind, or a namespaced owner of a cluster-scoped object) leaves the object alone.
        """
        meta = entry.obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, dict)]
        solid: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        dangling: list[dict[str, Any]] = []
        for ref in refs:
            state = self._owner_state(rt, meta, ref)
            if state is None:
                return
            {"solid": solid, "waiting": waiting, "absent": dangling}[state].append(ref)
        if solid:
            if waiting or dangling:
                self._rewrite(rt, entry, lambda m: m.__setitem__("ownerReferences", solid))
            return
        foreground = bool(waiting) and bool(self._dependents(meta["uid"]))
        self.delete_object(rt, entry, foreground=foreground)

    def _owner_state(self, rt: ResourceType, meta: dict[str, Any], ref: dict[str, Any]) -> str | None:
        """solid, waiting (deleting in the foreground), absent, or None when unresolvable."""
        owner_rt = self.catalog.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if owner_rt is None or (owner_rt.namespaced and not rt.namespaced):
            return None
        namespace = meta.get("namespace", "") if owner_rt.namespaced else ""
        owner = self.store.get(owner_rt.key, namespace, str(ref.get("name", "")))
        if owner is None or owner.obj["metadata"].get("uid") != ref.get("uid"):
            return "absent"
        owner_meta = owner.obj["metadata"]
        if owner_meta.get("deletionTimestamp") and FOREGROUND in (owner_meta.get("finalizers") or []):
            return "waiting"
        return "solid"

    def _wake_waiters(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """An owner deleting in the foreground, or a terminating namespace, may now be done."""
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            owner_rt = self.catalog.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            if owner_rt is None:
                continue
            owner = self.store.get(owner_rt.key, meta.get("namespace", "") if owner_rt.namespaced else "",
                                   str(ref.get("name", "")))
            if owner is not None and owner.obj["metadata"].get("uid") == ref.get("uid") and \
                    owner.obj["metadata"].get("deletionTimestamp"):
                self.finalize(owner_rt, owner)
        if rt.namespaced and meta.get("namespace"):
            ns_rt = self.catalog.lookup("", "v1", "namespaces")
            ns = self.store.get(("", "namespaces"), "", meta["namespace"])
            if ns_rt is not None and ns is not None and ns.obj["metadata"].get("deletionTimestamp"):
                self.finalize(ns_rt, ns)

    def delete_object(self, rt: ResourceType, entry: Entry, *, foreground: bool = False) -> None:
        """A DELETE issued by the garbage collector or namespace controller: Background, or
        Foreground when asked (the object then waits for its own dependents)."""
        meta = entry.obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        finalizers = list(meta.get("finalizers") or [])
        if foreground and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        if finalizers:
            def mark(m: dict[str, Any]) -> None:
                m["deletionTimestamp"] = now()
                m["deletionGracePeriodSeconds"] = 0
                m["finalizers"] = finalizers
            marked = self._rewrite(rt, entry, mark)
            if ORPHAN in finalizers or FOREGROUND in finalizers:
                self.finalize(rt, marked)
        else:
            self.remove(rt, entry.copy())

    def finalize(self, rt: ResourceType, entry: Entry) -> None:
        """Run the system finalizers of a deleting object; remove it once none are left.

        Deleting a dependent wakes its owner (``_wake_waiters``) from inside this method; such a
        nested call for an object already being finalized is ignored, since the outer pass re-reads
        what is left after collecting (the nested pass would work on a stale copy)."""
        uid = entry.obj["metadata"]["uid"]
        if uid in self._finalizing:
            return
        self._finalizing.add(uid)
        try:
            self._finalize(rt, entry)
        finally:
            self._finalizing.discard(uid)

    def _finalize(self, rt: ResourceType, entry: Entry) -> None:
        meta = entry.obj["metadata"]
        uid, namespace, name = meta["uid"], meta.get("namespace", ""), meta["name"]
        finalizers = list(meta.get("finalizers") or [])
        if ORPHAN in finalizers:
            for dep_rt, dep in self._dependents(uid):
                refs = [r for r in dep.obj["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
                self._rewrite(dep_rt, dep, lambda m, refs=refs: _set_or_drop(m, "ownerReferences", refs))
            finalizers.remove(ORPHAN)
        if FOREGROUND in finalizers:
            self._collect_dependents(uid)  # they see this owner waiting for them
            if not self._dependents(uid):
                finalizers.remove(FOREGROUND)
        waiting = rt.kind == "Namespace" and not rt.group and not self._empty_namespace(name)
        current = self.store.get(rt.key, namespace, name)
        if current is None or current.obj["metadata"].get("uid") != uid:
            return
        entry = current
        if finalizers != list(entry.obj["metadata"].get("finalizers") or []):
            entry = self._rewrite(rt, entry, lambda m: _set_or_drop(m, "finalizers", finalizers))
        if not finalizers and not waiting:
            self.remove(rt, entry.copy())

    def _empty_namespace(self, namespace: str) -> bool:
        """Delete everything in a terminating namespace; True once nothing is left."""
        namespaced = [rt for rt in self.catalog.all() if rt.namespaced]
        for rt in namespaced:
            for entry in self.store.list(rt.key, namespace):
                self.delete_object(rt, entry)
        return not any(self.store.list(rt.key, namespace) for rt in namespaced)

    def _rewrite(self, rt: ResourceType, entry: Entry, change: Any) -> Entry:
        obj = entry.copy()
        change(obj["metadata"])
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        return self.store.put(rt.key, obj, created=False)

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Entry]]:
        found, seen = [], set()
        for rt in self.catalog.all():
            if rt.key in seen:
                continue
            seen.add(rt.key)
            for entry in self.store.list(rt.key, None):
                refs = entry.obj["metadata"].get("ownerReferences")
                if refs and any(r.get("uid") == uid for r in refs):
                    found.append((rt, entry))
        return found


def _set_or_drop(meta: dict[str, Any], key: str, value: list[Any]) -> None:
    if value:
        meta[key] = value
    else:
        meta.pop(key, None)


def _status_rules(rt: ResourceType, sub: str, old: dict[str, Any] | None, new: dict[str, Any]
                  ) -> dict[str, Any]:
    """Subresource rules: /status writes change only status; main writes keep the stored status."""
    if "status" not in rt.subresources:
        return new
    if sub == "status":
        if old is None:
            raise not_found(rt.plural, rt.group, new["metadata"]["name"])
        result = {**old, "metadata": {**old["metadata"]}}
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        if "managedFields" in new["metadata"]:
            result["metadata"]["managedFields"] = new["metadata"]["managedFields"]
        return result
    if old is None:
        new.pop("status", None)
    elif "status" in old:
        new["status"] = old["status"]
    else:
        new.pop("status", None)
    return new


def _check_preconditions(call: Call, old: Entry, pre: dict[str, Any]) -> None:
    meta = old.obj["metadata"]
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        if pre.get(key) and pre[key] != meta.get(key):
            raise conflict(call.rt.plural, call.rt.group, call.name,
                           f"Precondition failed: {label} in precondition: {pre[key]}, {label} in object "
                           f"meta: {meta.get(key)}")


def _success(rt: ResourceType, meta: dict[str, Any]) -> bytes:
    details: dict[str, Any] = {"name": meta["name"], "kind": rt.plural, "uid": meta["uid"]}
    if rt.group:
        details["group"] = rt.group
    return dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                  "details": details})
