"""Offline, field-level diff of two renders of one pair, and the same shape from a server-side dry-run.

Pure functions called by :mod:`gitops.fleetplan.orchestrate`: :func:`offline` compares the desired
objects rendered at BASE with those rendered at NEW (no cluster: what Git changes), :func:`from_dry_run`
reads a compare-only ``gitops.engine.ReconcileResult`` (what the cluster would see). Key design choice:
both reuse the plan's own helpers, so a plan reads like ``gitops diff``: objects are normalised and
Secret values masked by ``gitops.plan.normalize.normalize`` before anything is compared or shown, fields
are compared by ``gitops.plan.fields.compare`` over the Kubernetes schema (list maps matched by key) and
spelled by ``gitops.plan.managed.display``, and long values are cut by ``gitops.plan.fields.truncate``.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence

from gitops.cluster import builtin
from gitops.engine import ReconcileResult
from gitops.fleetplan.model import FieldChange, ObjectChange
from gitops.plan import managed
from gitops.plan.fields import compare, truncate
from gitops.plan.normalize import normalize
from gitops.render.manifests import without_internal
from gitops.vocabulary import Action, ObjectRef
from renderers.k8s.schema import root_for
from renderers.manifest import Manifest
from renderers.yamlio import dump_all

MAX_FIELDS = 200        # field changes kept per object
MAX_DIFF_CHARS = 20_000  # unified diff kept per pair


def comparable(objects: Sequence[Manifest], namespace: str | None) -> dict[ObjectRef, Manifest]:
    """The rendered objects by reference, as they would be compared: renderer annotations dropped, the
    destination namespace filled in for built-in namespaced kinds without one, noise dropped and Secret
    values masked (:func:`gitops.plan.normalize.normalize`)."""
    out: dict[ObjectRef, Manifest] = {}
    for obj in objects:
        shown = copy.deepcopy(without_internal(obj))
        meta = shown.get("metadata")
        if isinstance(meta, dict) and not meta.get("namespace") and namespace:
            info = builtin(str(shown.get("apiVersion", "")), str(shown.get("kind", "")))
            if info is not None and info.namespaced:
                meta["namespace"] = namespace
        shown = normalize(shown)
        out[ObjectRef.of(shown)] = shown
    return out


def _name(ref: ObjectRef) -> str:
    return str(ref)


def _yaml(obj: Manifest | None) -> str:
    return dump_all([truncate(obj)]) if obj is not None else ""


def cut(text: str, limit: int = MAX_DIFF_CHARS) -> str:
    """``text`` cut to ``limit`` characters at a line end, saying how much was left out."""
    if len(text) <= limit:
        return text
    head = text[:limit].rsplit("\n", 1)[0]
    return f"{head}\n... ({len(text) - len(head)} more characters cut)\n"


def offline(base: dict[ObjectRef, Manifest], new: dict[ObjectRef, Manifest]
            ) -> tuple[tuple[ObjectChange, ...], str]:
    """The object changes from BASE to NEW and their unified YAML diff (both ``comparable`` outputs)."""
    changes: list[ObjectChange] = []
    text: list[str] = []
    for ref in sorted(set(base) | set(new), key=lambda r: (r.group, r.kind, r.namespace, r.name)):
        old, now = base.get(ref), new.get(ref)
        if old == now:
            continue
        if old is None:
            changes.append(ObjectChange(_name(ref), "added"))
        elif now is None:
            changes.append(ObjectChange(_name(ref), "removed"))
        else:
            diffs = compare(old, now, root_for(ref.api_version, ref.kind))
            fields = tuple(FieldChange(managed.display(path), truncate(a), truncate(b))
                           for path, a, b in diffs[:MAX_FIELDS])
            message = f"{len(diffs) - MAX_FIELDS} more fields" if len(diffs) > MAX_FIELDS else ""
            changes.append(ObjectChange(_name(ref), "changed", fields, message))
        before, after = _yaml(old).splitlines(keepends=True), _yaml(now).splitlines(keepends=True)
        text += difflib.unified_diff(before, after, f"base/{ref}", f"new/{ref}")
    return tuple(changes), cut("".join(text))


def listing(objects: dict[ObjectRef, Manifest], change: str) -> tuple[ObjectChange, ...]:
    """Every object of one side as added or removed (a pair that exists at one side only)."""
    return tuple(ObjectChange(_name(r), change) for r in sorted(
        objects, key=lambda r: (r.group, r.kind, r.namespace, r.name)))


_DRY_RUN_CHANGE = {Action.CREATED: "added", Action.CONFIGURED: "changed", Action.RECREATED: "changed",
                   Action.DELETED: "removed", Action.FAILED: "error"}


def from_dry_run(result: ReconcileResult) -> tuple[tuple[ObjectChange, ...], str]:
    """The object changes a compare-only reconcile found against the live cluster (fields: live -> the
    server-side dry-run's prediction) and the engine's own unified diff."""
    fields: dict[ObjectRef, list[FieldChange]] = {}
    for drift in result.drift:
        fields.setdefault(drift.ref, []).append(FieldChange(drift.path, drift.live, drift.predicted))
    changes: list[ObjectChange] = []
    for obj in result.objects:
        change = _DRY_RUN_CHANGE.get(obj.action)
        if change is None and obj.action is Action.SKIPPED and obj.message == "requires pruning":
            change, message = "removed", "would be pruned (prune is off: kept)"
        else:
            message = obj.error or ""
        if change is None:
            continue
        found = tuple(fields.get(obj.ref, ())[:MAX_FIELDS])
        changes.append(ObjectChange(_name(obj.ref), change, found, message))
    return tuple(changes), cut(result.diff)
