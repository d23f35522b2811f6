"""Validation and preparation of rendered manifests before anything touches a cluster.

Called by gitops/engine.py right after rendering (gitops.render) and by the CLI. ``validate`` rejects the
whole set when one manifest is malformed (no kind/apiVersion/name, a name with ``/`` or ``..``, a duplicate,
deletion state copied from a live object), so nothing is half-applied. Its errors name the file and
document: from the location annotations a renderer leaves (kyaml's ``internal.config.kubernetes.io/ path``
and ``index``, their legacy ``config.kubernetes.io/`` forms, Kustomize's ``config.kubernetes.io/origin``),
else the application's path and the manifest's position. ``prepare`` drops the location annotations
(``without_internal``: they never reach a cluster, a diff or a hash) and the metadata the server owns
(managedFields, resourceVersion, uid, creationTimestamp, generation, selfLink: an object exported with
``kubectl get -o yaml`` applies as its content, never as a stale precondition), fills the destination
namespace into namespaced objects that have none and stamps our ownership: the ``keys.APP_LABEL`` label
(cheap LIST per kind) and the ``keys.OWNED_BY`` annotation (what prune and inventory recovery check).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from gitops import keys
from gitops.cluster import Cluster, check_name
from gitops.errors import InputError, NotFound
from gitops.vocabulary import ObjectRef, Target
from renderers import yamlio
from renderers.errors import RenderError
from renderers.manifest import Manifest

_API_VERSION = re.compile(r"([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?v[0-9]+[a-z0-9]*")
# Metadata only the API server sets: dropped before apply (sent, they are preconditions or refused).
SERVER_OWNED = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")
# Deletion state of a live object: Git cannot ask for it, so a manifest carrying it is refused.
DELETION_STATE = ("deletionTimestamp", "deletionGracePeriodSeconds")
# Where a renderer says a manifest came from (kyaml's convention; the legacy keys; Kustomize's origin).
_INTERNAL = "internal.config.kubernetes.io/"
_LOCATIONS = ((f"{_INTERNAL}path", f"{_INTERNAL}index"),
              ("config.kubernetes.io/path", "config.kubernetes.io/index"))
_ORIGIN = "config.kubernetes.io/origin"


def _where(index: int, obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = obj.get("kind") if isinstance(obj, dict) else None
    return f"manifest #{index + 1}" + (f" ({kind}/{name})" if kind or name else "")


def _origin_path(value: Any) -> str | None:
    try:
        origin = yamlio.load(value, _ORIGIN, max_bytes=4096) if isinstance(value, str) else None
    except RenderError:
        return None
    path = origin.get("path") if isinstance(origin, dict) else None
    return path if isinstance(path, str) and path else None


def source_of(obj: Any, default: str | None = None) -> str | None:
    """The file (``path#document``) a manifest came from, when its renderer said so; else ``default``."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return default
    for path_key, index_key in _LOCATIONS:
        path, index = annotations.get(path_key), annotations.get(index_key)
        if isinstance(path, str) and path:
            return f"{path}#{index}" if isinstance(index, str) and index.isdigit() else path
    return _origin_path(annotations.get(_ORIGIN)) or default


def without_internal(obj: Manifest) -> Manifest:
    """``obj`` without the ``internal.config.kubernetes.io/`` annotations (locations a renderer left):
    they are for messages only, never applied, diffed, hashed or printed. A copy when there were any."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not any(str(k).startswith(_INTERNAL) for k in annotations):
        return obj
    kept = {k: v for k, v in annotations.items() if not str(k).startswith(_INTERNAL)}
    meta = {**obj["metadata"], "annotations": kept}
    if not kept:
        del meta["annotations"]
    return {**obj, "metadata": meta}


def _check_one(index: int, obj: Any) -> Manifest:
    where = _where(index, obj)
    if not isinstance(obj, dict):
        raise InputError(f"{where}: a manifest must be a mapping, got {type(obj).__name__}")
    for name in ("apiVersion", "kind"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise InputError(f"{where}: missing or non-string {name}", field=name)
    if not _API_VERSION.fullmatch(obj["apiVersion"]) or ".." in obj["apiVersion"]:
        raise InputError(f"{where}: invalid apiVersion {obj['apiVersion']!r}", field="apiVersion")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", obj["kind"]):
        raise InputError(f"{where}: invalid kind {obj['kind']!r}", field="kind")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise InputError(f"{where}: missing metadata.name", field="metadata.name")
    check_name(meta["name"], "name", obj=where)
    if meta.get("namespace") is not None:
        check_name(meta["namespace"], "namespace", obj=where)
    for bag in ("labels", "annotations"):
        if meta.get(bag) is not None and not isinstance(meta[bag], dict):
            raise InputError(f"{where}: metadata.{bag} must be a mapping", field=f"metadata.{bag}")
    for state in DELETION_STATE:
        if meta.get(state) is not None:
            raise InputError(f"{where}: {state} is the deletion state of a live object, which Git cannot "
                             "ask for (remove it: was this exported with kubectl get?)",
                             field=f"metadata.{state}")
    return obj


def validate(objects: list[Any], source: str | None = None) -> list[Manifest]:
    """The manifests, checked; InputError on the first malformed or duplicate one.

    Errors name the manifest's file and document when its renderer left them (see ``source_of``),
    else ``source`` (the application's path), and always its position in the rendered list.
    """
    seen: dict[tuple[str, str, str, str], int] = {}
    out = []
    for index, obj in enumerate(objects):
        try:
            manifest = _check_one(index, obj)
            ref = ObjectRef.of(manifest)
            key = (ref.group, ref.kind, ref.namespace, ref.name)
            if key in seen:
                first = source_of(objects[seen[key]])
                raise InputError(f"{_where(index, obj)}: duplicate of manifest #{seen[key] + 1}"
                                 + (f" ({first})" if first else ""))
        except InputError as exc:
            if exc.problem.file is not None:
                raise
            raise InputError(exc.problem.message, file=source_of(obj, source), field=exc.problem.field,
                             line=exc.problem.line, column=exc.problem.column) from exc
        seen[key] = index
        out.append(manifest)
    return out


def _crd_scopes(objects: list[Manifest]) -> dict[tuple[str, str], bool]:
    scopes = {}
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            scopes[(str(spec.get("group", "")), str(kind))] = spec.get("scope") != "Cluster"
    return scopes


def _namespaced(cluster: Cluster, obj: Manifest, crds: dict[tuple[str, str], bool]) -> bool:
    ref = ObjectRef.of(obj)
    if (ref.group, ref.kind) in crds:
        return crds[(ref.group, ref.kind)]
    try:
        return cluster.resource_for(ref.api_version, ref.kind).namespaced
    except NotFound:
        return bool(ref.namespace)


def prepare(objects: list[Manifest], cluster: Cluster, target: Target,
            namespace: str | None) -> list[Manifest]:
    """Copies with the default namespace filled in and our label and ownership annotation added."""
    crds = _crd_scopes(objects)
    out = []
    for obj in objects:
        obj = copy.deepcopy(without_internal(obj))
        meta = obj["metadata"]
        for server_owned in SERVER_OWNED:
            meta.pop(server_owned, None)
        if _namespaced(cluster, obj, crds):
            if not meta.get("namespace"):
                if not namespace:
                    raise InputError(f"{obj['kind']}/{meta['name']}: namespaced object without a "
                                     "namespace and the application has no destination namespace",
                                     field="metadata.namespace")
                meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta["labels"] = {**(meta.get("labels") or {}), keys.APP_LABEL: keys.app_label(target.application)}
        meta["annotations"] = {**(meta.get("annotations") or {}), keys.OWNED_BY: target.key}
        out.append(obj)
    return out
