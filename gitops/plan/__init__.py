"""Plan: desired vs live vs predicted -> per-object action and field-level drift with attribution.

Called by gitops/engine.py and ``gitops diff``; gitops.apply executes the plan, gitops.prune reads
it. Helpers in this package: ``normalize`` (what is compared), ``fields`` (field-level comparison),
``managed`` (who owns a field, from managedFields) and ``ordering`` (the order actions run in: waves
and stages, reversed for prune). Live objects are read with
one LIST per kind (label selector ``keys.APP_LABEL``), plus a GET only for desired objects the LIST
did not return (new, or not yet labelled by us). The exact prediction is the server-side dry-run apply
of the desired object, but it is skipped when the live object carries the hash of the same desired
manifest (``keys.APPLIED_HASH``) *and* still holds every desired value: a no-op sync of an unchanged
application therefore costs one LIST per kind and no write. The trade-off: a change the server would
make by itself (a mutating webhook rewriting a field we set) is seen only when the hash changes.

Drift is each field where normalised live differs from normalised predicted, attributed to the
manager owning the live value in managedFields, with the time of that manager's entry (when it
changed it). Ignore rules drop JSON pointers from the comparison; rules naming managers leave the
fields those managers own to them (also removed from what we apply).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from gitops import keys
from gitops.cluster import Cluster
from gitops.cluster.parallel import DEFAULT_WORKERS, pmap
from gitops.domain import IgnoreRule
from gitops.errors import ClusterError, Conflict, Forbidden, ImmutableField, NotFound
from gitops.plan import managed
from gitops.plan.fields import compare, truncate
from gitops.plan.normalize import contains, manifest_hash, normalize, stored_form
from gitops.results import FieldDrift
from gitops.vocabulary import Action, ObjectRef
from renderers.k8s import fieldpath, jsonpointer
from renderers.k8s.fieldpath import PathElement
from renderers.k8s.schema import root_for
from renderers.manifest import Manifest
from renderers.yamlio import dump_all

RefKey = tuple[str, str, str, str]


def ref_key(ref: ObjectRef) -> RefKey:
    return (ref.group, ref.kind, ref.namespace, ref.name)


@dataclass(frozen=True)
class DiffOptions:
    application: str
    field_manager: str = keys.DEFAULT_FIELD_MANAGER
    force: bool = False
    allow_recreate: bool = False
    ignore: tuple[IgnoreRule, ...] = ()
    workers: int = DEFAULT_WORKERS  # requests in flight at once


@dataclass(frozen=True)
class ObjectPlan:
    """The planned action for one desired object; ``desired`` is exactly what apply would send."""

    ref: ObjectRef
    desired: Manifest
    live: Manifest | None
    predicted: Manifest | None
    action: Action
    drift: tuple[FieldDrift, ...] = ()
    message: str = ""
    error: str | None = None
    refresh: bool = False  # unchanged, but the applied hash on live is stale: write it back
    ignored: tuple[str, ...] = ()  # JSON pointers the Application's ignore rules hide from the diff

    @property
    def desired_changed(self) -> bool:
        """Git asks for something new: the object is missing or its applied hash differs."""
        if self.live is None:
            return True
        applied = ((self.live.get("metadata") or {}).get("annotations") or {}).get(keys.APPLIED_HASH)
        return bool(applied != (self.desired["metadata"].get("annotations") or {}).get(keys.APPLIED_HASH))

    @property
    def writes(self) -> bool:
        return self.refresh or self.action in (Action.CREATED, Action.CONFIGURED, Action.RECREATED)


@dataclass(frozen=True)
class Plan:
    objects: tuple[ObjectPlan, ...]
    live: dict[RefKey, Manifest] = field(default_factory=dict)

    @property
    def drift(self) -> list[FieldDrift]:
        return [d for p in self.objects for d in p.drift]

    @property
    def in_sync(self) -> bool:
        return all(p.action is Action.UNCHANGED for p in self.objects)

    @property
    def desired_changed(self) -> bool:
        return any(p.desired_changed for p in self.objects)

    @property
    def failed(self) -> list[ObjectPlan]:
        return [p for p in self.objects if p.action is Action.FAILED]

    def unified_diff(self) -> str:
        return "".join(unified_diff(p) for p in self.objects)


def _kinds(desired: list[Manifest]) -> dict[tuple[str, str], set[str]]:
    kinds: dict[tuple[str, str], set[str]] = {}
    for obj in desired:
        kinds.setdefault((obj["apiVersion"], obj["kind"]), set()).add(ObjectRef.of(obj).namespace)
    return kinds


def _list_kind(cluster: Cluster, api_version: str, kind: str, namespaces: set[str],
               selector: str) -> list[Manifest]:
    """One LIST (one namespace, or all); per namespace when credentials may not list cluster-wide."""
    only = next(iter(namespaces)) if len(namespaces) == 1 else None
    try:
        return cluster.list(api_version, kind, namespace=only or None, label_selector=selector)
    except NotFound:  # kind not served yet (its CRD is part of this application)
        return []
    except Forbidden:
        if only is not None or "" in namespaces:
            raise
    return [i for ns in sorted(namespaces) for i in cluster.list(api_version, kind, namespace=ns,
                                                                 label_selector=selector)]


def _get_or_none(cluster: Cluster, ref: ObjectRef) -> Manifest | None:
    try:
        return cluster.get(ref)
    except NotFound:  # the kind itself is not served (yet)
        return None


def read_live(cluster: Cluster, desired: list[Manifest], application: str,
              workers: int = DEFAULT_WORKERS) -> dict[RefKey, Manifest]:
    """Live objects of the application: one LIST per kind, one GET per object the LISTs missed."""
    live: dict[RefKey, Manifest] = {}
    selector = f"{keys.APP_LABEL}={keys.app_label(application)}"
    for (api_version, kind), namespaces in _kinds(desired).items():
        for item in _list_kind(cluster, api_version, kind, namespaces, selector):
            live[ref_key(ObjectRef.of(item))] = item
    missing = [ObjectRef.of(o) for o in desired if ref_key(ObjectRef.of(o)) not in live]
    for ref, found in zip(missing, pmap(lambda r: _get_or_none(cluster, r), missing, workers), strict=True):
        if found is not None:
            live[ref_key(ref)] = found
    return live


_METADATA = (PathElement.field("metadata"),)


def _strip_managed_by_others(desired: Manifest, live: Manifest | None, rules: list[IgnoreRule]) -> Manifest:
    others = [m for r in rules for m in r.managers]
    if not others or live is None:
        return desired
    out = copy.deepcopy(desired)
    owned = managed.owners((live.get("metadata") or {}).get("managedFields"))
    for path in managed.paths_of(owned, others):
        if path[:1] != _METADATA:
            fieldpath.remove(out, path)
    return out


def _stamp(desired: Manifest) -> Manifest:
    out = copy.deepcopy(desired)
    out["metadata"].setdefault("annotations", {})[keys.APPLIED_HASH] = manifest_hash(desired)
    return out


def _recreate_allowed(desired: Manifest, opts: DiffOptions) -> bool:
    annotations = (desired.get("metadata") or {}).get("annotations") or {}
    return opts.allow_recreate or str(annotations.get(keys.RECREATE, "")).lower() == "allow"


def _comparable(obj: Manifest, rules: list[IgnoreRule]) -> Manifest:
    out = normalize(obj)
    for rule in rules:
        for pointer in rule.json_pointers:
            jsonpointer.remove(out, pointer)
    return out


def field_drift(ref: ObjectRef, live: Manifest, predicted: Manifest,
                rules: list[IgnoreRule]) -> list[FieldDrift]:
    """Each differing field, with the manager owning the live value and when it changed it (ignored
    managers' fields dropped)."""
    found = managed.entries((live.get("metadata") or {}).get("managedFields"))
    owned = managed.owners_of(found)
    left = set(m for r in rules for m in r.managers)
    node = root_for(ref.api_version, ref.kind)
    out = []
    for path, a, b in compare(_comparable(live, rules), _comparable(predicted, rules), node):
        owner = managed.owner_of(path, owned)
        if owner in left:
            continue
        out.append(FieldDrift(ref, managed.display(path), truncate(a), truncate(b), owner,
                              managed.changed_at(path, owner, found)))
    return out


def _predict(cluster: Cluster, desired: Manifest, opts: DiffOptions) -> tuple[Manifest, str]:
    try:
        return cluster.apply(desired, field_manager=opts.field_manager, force=opts.force, dry_run=True), ""
    except Conflict as exc:
        who = ", ".join(f"{f} (owned by {m})" for m, f in exc.causes) or str(exc)
        predicted = cluster.apply(desired, field_manager=opts.field_manager, force=True, dry_run=True)
        return predicted, f"conflict: {who}; sync with force to take ownership"


@dataclass(frozen=True)
class _Pending:
    """What this application itself creates first: kinds (its CRDs) and namespaces. A dry run of an
    object of such a kind, or in such a namespace, is answered 404 until the earlier stage has been
    applied; the object is then planned as created, without a prediction."""

    kinds: frozenset[tuple[str, str]] = frozenset()
    namespaces: frozenset[str] = frozenset()

    @staticmethod
    def of(desired: list[Manifest]) -> _Pending:
        kinds = {(str((o.get("spec") or {}).get("group", "")),
                  str(((o.get("spec") or {}).get("names") or {}).get("kind", "")))
                 for o in desired if o.get("kind") == "CustomResourceDefinition"}
        namespaces = {str(o["metadata"]["name"]) for o in desired
                      if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"}
        return _Pending(frozenset(kinds), frozenset(namespaces))

    def reason(self, ref: ObjectRef) -> str | None:
        if (ref.group, ref.kind) in self.kinds:
            return "kind defined by this application"
        if ref.namespace and ref.namespace in self.namespaces:
            return f"namespace {ref.namespace} created by this application"
        return None


def _unpredictable(exc: ClusterError, ref: ObjectRef, send: Manifest, live: Manifest | None,
                   desired: Manifest, opts: DiffOptions, pending: _Pending) -> ObjectPlan:
    """The plan of an object whose dry-run failed: recreate, create after its CRD or namespace, or fail."""
    if isinstance(exc, ImmutableField):
        if _recreate_allowed(desired, opts):
            return ObjectPlan(ref, send, live, send, Action.RECREATED,
                              message=f"will recreate: immutable {', '.join(exc.fields)}")
        return ObjectPlan(ref, send, live, None, Action.FAILED, error=(
            f"immutable field {', '.join(exc.fields)} changed; allow recreate (sync policy allow_recreate "
            f"or annotation {keys.RECREATE}=allow) to delete and recreate the object"))
    reason = pending.reason(ref) if isinstance(exc, NotFound) and live is None else None
    if reason is not None:
        return ObjectPlan(ref, send, None, None, Action.CREATED, message=reason)
    if exc.temporary:
        raise exc
    return ObjectPlan(ref, send, live, None, Action.FAILED, error=str(exc))


def _foreign(ref: ObjectRef, send: Manifest, live: Manifest | None) -> ObjectPlan | None:
    """A failed plan when ``live`` belongs to another target (never taken over silently)."""
    owner = ((live or {}).get("metadata", {}).get("annotations") or {}).get(keys.OWNED_BY)
    if not owner or owner == send["metadata"]["annotations"].get(keys.OWNED_BY):
        return None
    return ObjectPlan(ref, send, live, None, Action.FAILED, error=(
        f"object is managed by {owner}; remove it from one of the applications (or delete the "
        f"{keys.OWNED_BY} annotation to hand it over)"))


def plan_object(cluster: Cluster, desired: Manifest, live: Manifest | None, opts: DiffOptions,
                pending: _Pending) -> ObjectPlan:
    """The plan of one desired object (no request when the live object provably matches)."""
    ref = ObjectRef.of(desired)
    rules = [r for r in opts.ignore if r.matches(ref)]
    send = _stamp(_strip_managed_by_others(desired, live, rules))
    if live is not None and (contains(live, send) or contains(live, stored_form(send))):
        return ObjectPlan(ref, send, live, live, Action.UNCHANGED)
    foreign = _foreign(ref, send, live)
    if foreign is not None:
        return foreign
    try:
        predicted, note = _predict(cluster, send, opts)
    except ClusterError as exc:
        return _unpredictable(exc, ref, send, live, desired, opts, pending)
    if live is None:
        return ObjectPlan(ref, send, None, predicted, Action.CREATED, message=note)
    drift = tuple(field_drift(ref, live, predicted, rules))
    if not drift:
        stale = ((live.get("metadata") or {}).get("annotations") or {}).get(keys.APPLIED_HASH) != \
            send["metadata"]["annotations"][keys.APPLIED_HASH]
        return ObjectPlan(ref, send, live, predicted, Action.UNCHANGED, refresh=stale)
    ignored = tuple(pointer for rule in rules for pointer in rule.json_pointers)
    return ObjectPlan(ref, send, live, predicted, Action.CONFIGURED, drift, note, ignored=ignored)


def plan(cluster: Cluster, desired: list[Manifest], opts: DiffOptions) -> Plan:
    """The plan for every desired object (reads only; dry-run applies where needed)."""
    live = read_live(cluster, desired, opts.application, opts.workers)
    pending = _Pending.of(desired)
    plans = tuple(pmap(lambda obj: plan_object(cluster, obj, live.get(ref_key(ObjectRef.of(obj))), opts,
                                               pending), desired, opts.workers))
    return Plan(plans, live)


def _shown(obj: Manifest, ignored: tuple[str, ...]) -> str:
    out = normalize(obj)
    for pointer in ignored:
        jsonpointer.remove(out, pointer)
    return dump_all([truncate(out)])


def unified_diff(p: ObjectPlan) -> str:
    """A unified YAML diff of live vs predicted (normalised, Secret values masked, long values cut)."""
    if p.action is Action.UNCHANGED:
        return ""
    before, after = (_shown(obj, p.ignored) if obj else "" for obj in (p.live, p.predicted or p.desired))
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 f"live/{p.ref}", f"predicted/{p.ref}")
    return "".join(lines)


def refs(plans: Iterable[ObjectPlan]) -> list[ObjectRef]:
    return [p.ref for p in plans]
