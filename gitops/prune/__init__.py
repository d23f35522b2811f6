"""Prune: delete what a target applied before but no longer renders, guarded, using an inventory.

Called by gitops/engine.py around apply, in three calls: :func:`plan` (reads only: the inventory, the
candidates, the mass-delete guard), then on the write path :func:`write_ahead` before the first object is
written and :func:`execute` after apply, or :func:`preview` when nothing is written. The inventory is kept
in the cluster, kapp-style: a ConfigMap ``gitops-inventory-<hash of the target key>`` in the
``gitops-system`` namespace listing every object reference applied for the target, so a fresh worker (or
another replica) knows what to prune without local state. It is written ahead (old plus desired, before the
first object is written, so a sync that dies half way never loses track of what it created) and shrunk after
a complete prune (what prune deleted leaves it). When it is missing, ``recover`` finds the target's objects
by the ownership marks ``gitops.render.manifests.prepare`` put on them (label ``keys.APP_LABEL``, annotation
``keys.OWNED_BY``), listing every kind the cluster may serve only when a LIST the plan already made shows a
marked object (a new target costs nothing). Candidates are inventory entries missing from the desired set;
one is deleted only when the live object still carries our ``keys.OWNED_BY`` annotation for this target and
does not opt out with ``Prune=false`` in ``keys.SYNC_OPTIONS``. The mass-delete guard refuses (PruneRefused)
to delete everything, or more than ``max_share`` of the inventory, unless explicitly allowed. Deletions run
in reverse apply order (gitops.plan.ordering) with a configurable propagation policy (Background by
default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitops import keys
from gitops.cluster import Cluster
from gitops.cluster.parallel import DEFAULT_WORKERS, pmap
from gitops.errors import ClusterError, Forbidden, GitOpsError, InputError, NotFound, PruneRefused
from gitops.plan import Plan, ref_key
from gitops.plan.ordering import sort_key
from gitops.results import ObjectResult
from gitops.vocabulary import Action, ObjectRef, Target
from renderers.k8s.schema import resources
from renderers.manifest import Manifest

NAMESPACE = "gitops-system"
_FIELD = "objects"
PROPAGATION = ("Background", "Foreground", "Orphan")
log = logging.getLogger(__name__)


def inventory_name(target: Target) -> str:
    return "gitops-inventory-" + hashlib.sha256(target.key.encode()).hexdigest()[:16]


def _ref_from(entry: Any) -> ObjectRef | None:
    if not isinstance(entry, list) or len(entry) != 5 or not all(isinstance(x, str) for x in entry):
        return None
    group, version, kind, namespace, name = entry
    return ObjectRef(group, kind, namespace, name, version)


def read_inventory(cluster: Cluster, target: Target) -> list[ObjectRef] | None:
    """The refs last recorded for ``target``; ``None`` when it has no inventory yet."""
    ref = ObjectRef("", "ConfigMap", NAMESPACE, inventory_name(target), "v1")
    try:
        cm = cluster.get(ref)
    except NotFound:
        return None
    if cm is None:
        return None
    try:
        entries = json.loads((cm.get("data") or {}).get(_FIELD, "[]"))
    except ValueError:
        entries = []
    return sorted(r for r in map(_ref_from, entries if isinstance(entries, list) else []) if r)


def write_inventory(cluster: Cluster, target: Target, refs: list[ObjectRef], field_manager: str) -> None:
    """Record ``refs`` (creating the namespace and ConfigMap when needed)."""
    entries = sorted({ref_key(r): [r.group, r.version, r.kind, r.namespace, r.name] for r in refs}.values())
    label = hashlib.sha256(target.key.encode()).hexdigest()[:16]
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                  field_manager=field_manager)
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": inventory_name(target), "namespace": NAMESPACE,
        "labels": {keys.INVENTORY_LABEL: label}, "annotations": {keys.OWNED_BY: target.key}},
        "data": {"target": target.key, _FIELD: json.dumps(entries, separators=(",", ":"))}},
        field_manager=field_manager, force=True)


def remove_inventory(cluster: Cluster, target: Target) -> bool:
    """Delete ``target``'s inventory (its application was deleted); False when there was none."""
    return cluster.delete(ObjectRef("", "ConfigMap", NAMESPACE, inventory_name(target), "v1"))


def owner_of(obj: Manifest | None) -> str | None:
    """The target key in an object's ``keys.OWNED_BY`` annotation."""
    value = (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(keys.OWNED_BY)
    return value if isinstance(value, str) else None


def owned(objects: Iterable[Manifest], target: Target) -> list[ObjectRef]:
    """Refs of the objects whose ownership annotation names ``target``."""
    return sorted({ref_key(r): r for r in (ObjectRef.of(o) for o in objects
                                           if owner_of(o) == target.key)}.values())


_VERSION = re.compile(r"v([0-9]+)(?:(alpha|beta)([0-9]+))?")


def _version_rank(version: str) -> tuple[int, int, int]:
    """Kubernetes' version priority: GA before beta before alpha, higher numbers first."""
    found = _VERSION.fullmatch(version)
    if found is None:
        return (3, 0, 0)
    stage = {None: 0, "beta": 1, "alpha": 2}[found.group(2)]
    return (stage, -int(found.group(1)), -int(found.group(3) or 0))


def _builtin_kinds() -> dict[tuple[str, str], tuple[str, bool]]:
    """(group, kind) -> (the preferred listable apiVersion, namespaced) of the built-in catalog."""
    best: dict[tuple[str, str], tuple[tuple[int, int, int], str, bool]] = {}
    for res in resources():
        if "list" not in res.verbs:
            continue
        rank = _version_rank(res.version)
        known = best.get((res.group, res.kind))
        if known is None or rank < known[0]:
            best[(res.group, res.kind)] = (rank, res.api_version, res.namespaced)
    return {gk: (version, namespaced) for gk, (_, version, namespaced) in best.items()}


def _custom_kinds(cluster: Cluster) -> dict[tuple[str, str], tuple[str, bool]]:
    """(group, kind) -> (apiVersion, namespaced) of every CustomResourceDefinition the cluster has."""
    try:
        crds = cluster.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    except ClusterError as exc:
        if exc.temporary:
            raise
        return {}
    out = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        versions = [v for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("served")]
        versions.sort(key=lambda v: (not v.get("storage"), _version_rank(str(v.get("name")))))
        kind, group = (spec.get("names") or {}).get("kind"), spec.get("group")
        if versions and isinstance(kind, str) and isinstance(group, str):
            out[(group, kind)] = (f"{group}/{versions[0].get('name')}", spec.get("scope") != "Cluster")
    return out


def _list_marked(cluster: Cluster, api_version: str, kind: str, namespaced: bool, selector: str,
                 namespaces: list[str]) -> list[Manifest]:
    """The objects of one kind with our label (per namespace when listing cluster-wide is forbidden);
    kinds the cluster does not serve or lets us not list are skipped, temporary errors raised."""
    try:
        return cluster.list(api_version, kind, label_selector=selector)
    except ClusterError as exc:
        if exc.temporary:
            raise
        if not isinstance(exc, Forbidden) or not namespaced:
            return []
    out: list[Manifest] = []
    for namespace in namespaces:
        try:
            out += cluster.list(api_version, kind, namespace=namespace, label_selector=selector)
        except ClusterError as exc:
            if exc.temporary:
                raise
    return out


def recover(cluster: Cluster, target: Target, seen: Iterable[Manifest], namespaces: Iterable[str],
            workers: int = DEFAULT_WORKERS) -> list[ObjectRef] | None:
    """The objects of a target whose inventory is missing, found by the marks ``prepare`` put on them.

    ``seen`` are objects already read (the LISTs of the desired kinds): when none of them carries
    ``target``'s ownership annotation, the target never applied anything here (a new target) and
    nothing more is read. Otherwise every listable kind the cluster may serve (the built-in catalog,
    one version per kind, and every CRD's kind) is listed with the application label, and the
    objects whose ``keys.OWNED_BY`` names ``target`` are returned; ``None`` when there are none.
    """
    probe = owned(seen, target)
    if not probe:
        return None
    kinds = {**_builtin_kinds(), **_custom_kinds(cluster)}
    selector = f"{keys.APP_LABEL}={keys.app_label(target.application)}"
    spaces = sorted({n for n in namespaces if n})
    listed = pmap(lambda item: _list_marked(cluster, item[1][0], item[0][1], item[1][1], selector, spaces),
                  sorted(kinds.items()), workers)
    found = owned([o for batch in listed for o in batch], target)
    return merged(probe, found) or None


def merged(old: list[ObjectRef] | None, new: list[ObjectRef]) -> list[ObjectRef]:
    """``new`` plus the old refs it does not name (newest version of each wins)."""
    out = {ref_key(r): r for r in old or []}
    out.update({ref_key(r): r for r in new})
    return sorted(out.values())


@dataclass(frozen=True)
class PruneOptions:
    max_share: float = 0.5
    allow_empty: bool = False
    allow_mass_delete: bool = False
    propagation: str = "Background"
    dry_run: bool = False
    deleting: bool = False  # the application is deleted (gitops delete): Delete=false keeps an object

    def __post_init__(self) -> None:
        if self.propagation not in PROPAGATION:
            raise InputError(f"propagation must be one of {', '.join(PROPAGATION)}, not {self.propagation!r}",
                             field="propagation")


def _opted_out(live: Manifest, option: str = "prune=false") -> bool:
    options = str(((live.get("metadata") or {}).get("annotations") or {}).get(keys.SYNC_OPTIONS, ""))
    return option in options.replace(" ", "").lower().split(",")


def candidates(inventory: list[ObjectRef] | None, desired: list[ObjectRef]) -> list[ObjectRef]:
    keep = {ref_key(r) for r in desired}
    return [r for r in inventory or [] if ref_key(r) not in keep]


def guard(inventory: list[ObjectRef] | None, desired: list[ObjectRef], doomed: list[ObjectRef],
          opts: PruneOptions, target: Target) -> None:
    """Raise PruneRefused when the prune would delete everything or too large a share."""
    if not doomed or opts.allow_mass_delete:
        return
    total = len(inventory or [])
    if not desired and not opts.allow_empty:
        raise PruneRefused(f"refusing to prune all {total} objects: the application rendered nothing "
                           "(set allow_empty to permit)", target=target.key)
    if total and len(doomed) / total > opts.max_share:
        raise PruneRefused(f"refusing to prune {len(doomed)} of {total} objects: more than "
                           f"{opts.max_share:.0%} (prune_max_share)", target=target.key)


def _delete_one(cluster: Cluster, ref: ObjectRef, target: Target, opts: PruneOptions) -> ObjectResult:
    try:
        live = cluster.get(ref)
    except NotFound:
        live = None
    except ClusterError as exc:
        return ObjectResult(ref, Action.FAILED, "not pruned: could not read it", str(exc))
    if live is None:
        return ObjectResult(ref, Action.DELETED, "already gone")
    owner = owner_of(live)
    if owner != target.key:
        return ObjectResult(ref, Action.SKIPPED,
                            f"not pruned: owned by {owner or 'nobody'}, not {target.key}")
    if opts.deleting and _opted_out(live, "delete=false"):
        return ObjectResult(ref, Action.SKIPPED, "not deleted: Delete=false")
    if not opts.deleting and _opted_out(live):
        return ObjectResult(ref, Action.SKIPPED, "not pruned: Prune=false")
    if opts.dry_run:
        return ObjectResult(ref, Action.DELETED, "would delete (dry run)")
    try:
        cluster.delete(ref, propagation=opts.propagation)
    except ClusterError as exc:
        return ObjectResult(ref, Action.FAILED, "delete failed", str(exc))
    return ObjectResult(ref, Action.DELETED, "pruned")


def _as_manifest(ref: ObjectRef) -> Manifest:
    return {"apiVersion": ref.api_version, "kind": ref.kind,
            "metadata": {"name": ref.name, "namespace": ref.namespace}}


def prune(cluster: Cluster, target: Target, doomed: list[ObjectRef],
          opts: PruneOptions) -> list[ObjectResult]:
    """Delete the candidates we own, dependants first (reverse apply order)."""
    ordered = sorted(doomed, key=lambda r: sort_key(_as_manifest(r)), reverse=True)
    return [_delete_one(cluster, ref, target, opts) for ref in ordered]


# -- the verb: plan (reads only), then write ahead + execute, or preview ------------------------------
@dataclass(frozen=True)
class PrunePlan:
    """What prune will do for one target, decided before anything is written."""

    target: Target
    recorded: list[ObjectRef] | None  # the inventory ConfigMap's content (None: missing)
    inventory: list[ObjectRef] | None  # as recorded, or recovered from ownership marks when missing
    desired: list[ObjectRef]
    doomed: list[ObjectRef]  # inventory entries Git no longer renders
    options: PruneOptions = field(default_factory=PruneOptions)
    enabled: bool = False  # prune when the sync writes (else the candidates are reported as skipped)

    @property
    def intended(self) -> list[ObjectRef]:
        """The inventory written ahead: the old one plus every desired object."""
        return merged(self.inventory, self.desired)


def plan(cluster: Cluster, target: Target, desired: Plan, opts: PruneOptions, *, enabled: bool,
         namespace: str | None = None) -> PrunePlan:
    """Read the inventory (recovered from ownership marks when missing: the objects ``desired``'s LISTs
    returned decide whether more must be read), find the candidates and, when pruning is
    ``enabled``, check the mass-delete guard (PruneRefused). Reads only."""
    refs = [p.ref for p in desired.objects]
    recorded = inventory = read_inventory(cluster, target)
    if recorded is None:  # lost, or a new target: find what carries our marks
        namespaces = {r.namespace for r in refs} | {namespace or ""}
        inventory = recover(cluster, target, desired.live.values(), {n for n in namespaces if n})
    doomed = candidates(inventory, refs)
    if enabled:
        guard(inventory, refs, doomed, opts, target)
    return PrunePlan(target, recorded, inventory, refs, doomed, opts, enabled)


def _record(cluster: Cluster, target: Target, refs: list[ObjectRef],
            field_manager: str) -> GitOpsError | None:
    try:
        write_inventory(cluster, target, refs, field_manager)
    except GitOpsError as exc:
        log.warning("inventory of %s not written: %s", target, exc)
        return exc
    return None


def write_ahead(cluster: Cluster, pp: PrunePlan, field_manager: str) -> GitOpsError | None:
    """Record the intended inventory (old plus desired) before the first object is written; the
    error when that failed (then nothing may be written)."""
    if pp.intended == pp.recorded:
        return None
    return _record(cluster, pp.target, pp.intended, field_manager)


@dataclass(frozen=True)
class PruneOutcome:
    results: list[ObjectResult]
    failure: GitOpsError | None = None  # the inventory could not be shrunk (the sync must be retried)


def execute(cluster: Cluster, pp: PrunePlan, *, complete: bool, field_manager: str) -> PruneOutcome:
    """After apply: when pruning is enabled and the apply ``complete`` (nothing failed or stopped),
    delete the candidates we own and shrink the inventory to what is left; otherwise report the
    candidates as skipped, and the written-ahead inventory keeps naming them."""
    if pp.enabled and pp.doomed and complete:
        pruned = prune(cluster, pp.target, pp.doomed, pp.options)
        gone = {ref_key(r.ref) for r in pruned if r.action is Action.DELETED}
        kept = [r for r in pp.intended if ref_key(r) not in gone]
        failure = _record(cluster, pp.target, kept, field_manager) if kept != pp.intended else None
        return PruneOutcome(pruned, failure)
    why = "requires pruning (prune disabled)" if not pp.enabled else "not pruned: the sync did not finish"
    return PruneOutcome([ObjectResult(r, Action.SKIPPED, why) for r in pp.doomed])


def preview(cluster: Cluster, pp: PrunePlan) -> list[ObjectResult]:
    """Without writing: on a dry run with pruning enabled, what prune would delete (ownership read
    from the cluster); otherwise the candidates, as skipped."""
    if pp.options.dry_run and pp.enabled:
        return prune(cluster, pp.target, pp.doomed, pp.options)
    return [ObjectResult(r, Action.SKIPPED, "requires pruning") for r in pp.doomed]
