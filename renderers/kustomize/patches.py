"""Patches: ``patches`` (strategic merge or JSON 6902, with target selectors), ``patchesStrategicMerge``
and ``patchesJson6902``.

Callers: the target builder and builtin patch transformer configs. A strategic merge patch keeps the
target's kind, name and namespace unless the patch's options allow a name or kind change (the old id
is remembered for name references); a ``$patch: delete`` removes the target from the build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from renderers.k8s import jsonpatch, strategic
from renderers.k8s.schema import TypeNode
from renderers.kustomize.errors import as_map, fail
from renderers.kustomize.loader import Loader, parse_cached
from renderers.kustomize.resource import Gvk, ResId, ResMap, Resource, check_selector

SchemaFn = Callable[[Resource], TypeNode]


def _looks_inline(text: str) -> bool:
    return "\n" in text or text.lstrip().startswith(("{", "[", "-", "apiVersion", "kind"))


def load_docs(loader: Loader, entry: dict[str, Any], where: str) -> tuple[list[Any], str]:
    """The parsed documents of a patch given by ``path`` or inline ``patch``."""
    if entry.get("path") and entry.get("patch"):
        raise fail("patch and path can't be set at the same time", where, "patches")
    if entry.get("path"):
        ref = str(entry["path"])
        return loader.load_yaml(ref), ref
    text = entry.get("patch")
    if not isinstance(text, str) or not text.strip():
        raise fail("must specify a patch file path or an inline patch", where, "patches")
    return parse_cached(text.encode(), f"{where} (inline patch)"), f"{where} (inline patch)"


def is_json_patch(docs: list[Any]) -> bool:
    return len(docs) == 1 and isinstance(docs[0], list)


def patch_entry(resmap: ResMap, loader: Loader, entry: Any, schema: SchemaFn, where: str) -> None:
    """One entry of ``patches``."""
    if not isinstance(entry, dict):
        raise fail("a patches entry must be a map with 'path' or 'patch'", where, "patches")
    docs, source = load_docs(loader, entry, where)
    target = entry.get("target")
    if target is not None:
        target = check_selector(target, where, "target")
    opts = as_map(entry.get("options"), where, "options")
    if is_json_patch(docs):
        if not isinstance(target, dict):
            raise fail("must specify a target for JSON patch", source, "target")
        for res in resmap.select(target):
            json_patch(res, docs[0], source)
        return
    for doc in docs:
        if not isinstance(doc, dict) or ("metadata" in doc and not isinstance(doc["metadata"], dict)):
            raise fail("unable to parse SM or JSON patch", source, "patches")
        if isinstance(target, dict):
            for res in resmap.select(target):
                apply_smp(resmap, res, doc, schema, opts)
        else:
            apply_smp(resmap, _own_target(resmap, doc, source), doc, schema, opts)


def json_patch(res: Resource, ops: list[Any], source: str) -> None:
    """Apply a JSON patch; a changed name or kind is remembered for name references."""
    before = res.cur_id()
    try:
        res.obj = jsonpatch.apply(res.obj, ops)
    except jsonpatch.PatchError as exc:
        raise fail(exc.message, f"{source} (operation {exc.op})", exc.field) from exc
    if not isinstance(res.obj, dict):
        raise fail("a JSON patch must leave an object", source, "patches")
    if res.cur_id() != before:
        res.prev.append(before)


def _own_target(resmap: ResMap, doc: dict[str, Any], source: str) -> Resource:
    meta = as_map(doc.get("metadata"), source, "metadata")
    rid = ResId(Gvk.of(str(doc.get("apiVersion") or ""), str(doc.get("kind") or "")),
                str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    try:
        return resmap.get_by_id(rid, f"patch {source}")
    except Exception as exc:
        raise fail(str(exc), source, "patches") from exc


def apply_smp(resmap: ResMap, res: Resource, patch: dict[str, Any], schema: SchemaFn,
              opts: dict[str, Any], *, legacy: bool = False) -> None:
    name, namespace, kind = res.name, res.namespace, res.kind
    allow_name, allow_kind = bool(opts.get("allowNameChange")), bool(opts.get("allowKindChange"))
    if allow_name or allow_kind:
        res.store_previous()
    api_version = res.obj.get("apiVersion")
    labels = (patch.get("metadata") or {}).get("labels") if isinstance(patch.get("metadata"), dict) else None
    if legacy and isinstance(labels, dict):  # patchesStrategicMerge reads patches as objects first:
        patch = {**patch, "metadata": {**patch["metadata"], "labels": {
            str(k): v if isinstance(v, str) else ("null" if v is None else str(v).lower()
                                                  if isinstance(v, bool) else str(v))
            for k, v in labels.items()}}}
    merged = strategic.merge(res.obj, patch, schema(res), prepend=True)
    if not merged:
        resmap.remove(res)
        return
    res.obj = merged
    if not allow_kind:
        res.obj["kind"] = kind
        if api_version is None:
            res.obj.pop("apiVersion", None)
        else:
            res.obj["apiVersion"] = api_version
    if not allow_name:
        res.name = name
    if namespace:
        res.meta["namespace"] = namespace
    else:
        res.meta.pop("namespace", None)


def strategic_merge_entries(resmap: ResMap, loader: Loader, entries: list[Any], schema: SchemaFn,
                            where: str) -> None:
    """``patchesStrategicMerge``: file paths or inline YAML patches, each matched by its own id."""
    for entry in entries:
        text = str(entry)
        if _looks_inline(text) and ("\n" in text or loader.probe(text) != "file"):
            docs = parse_cached(text.encode(), f"{where} (inline patch)")
            source = f"{where} (inline patch)"
        else:
            docs, source = loader.load_yaml(text), text
        for doc in docs:
            if not isinstance(doc, dict):
                raise fail("a strategic merge patch must be a map", source, "patchesStrategicMerge")
            apply_smp(resmap, _own_target(resmap, doc, source), doc, schema, {}, legacy=True)


def json6902_entries(resmap: ResMap, loader: Loader, entries: list[Any], where: str) -> None:
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("target"), dict):
            raise fail("a patchesJson6902 entry needs a target", where, "patchesJson6902")
        docs, source = load_docs(loader, entry, where)
        ops = docs[0] if len(docs) == 1 else docs
        if isinstance(ops, str):
            try:
                ops = yaml.safe_load(ops)
            except yaml.YAMLError as exc:
                raise fail(f"invalid JSON patch: {exc}", source) from exc
        if not isinstance(ops, list):
            raise fail("a JSON 6902 patch must be a list of operations", source, "patchesJson6902")
        target = check_selector(entry["target"], where, "target")
        if not target.get("name"):
            raise fail("must specify the target name", where, "patchesJson6902")
        for res in resmap.select(target):
            json_patch(res, ops, source)
