"""Accumulating one kustomization: resources, bases, components, generators, transformers, vars.

Callers: :func:`renderers.kustomize.build` (the top) and itself (bases are built recursively, each
into its own accumulator; components are applied to the accumulator of the kustomization that names
them). The order of steps is Kustomize's: resources, configurations, generators, components,
built-in transformers (patchesStrategicMerge, patches, namespace, prefix, suffix, labels,
annotations, patchesJson6902, replicas, images, replacements), transformer plugins, vars.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from typing import Any

from renderers import budget
from renderers.kustomize import config as cfgmod
from renderers.kustomize import generators, meta, model, order, patches, plugins, replacements, vars, workload
from renderers.kustomize.accumulator import Acc
from renderers.kustomize.errors import as_map, fail
from renderers.kustomize.loader import Dep, Loader, deps_valid, is_remote, parse_cached, shown_ref
from renderers.kustomize.resource import ResMap, Resource, builtin_kind

_CACHE_LIMIT = 512
# directory key -> (dependencies, accumulated base, its kustomization, YAML nodes its build charged)
_cache: dict[tuple[Any, ...], tuple[list[Dep], Acc, model.Kustomization, int]] = {}
_lock = threading.Lock()
# Whether the build has read an object of a kind outside the built-in catalog yet (kyaml then parses
# its built-in schema, and a custom ``openapi`` schema set later is added to it): one flag per build.
_custom_kind_seen: contextvars.ContextVar[list[bool]] = contextvars.ContextVar("custom_kind_seen")


def _seen_custom_kind() -> bool:
    holder = _custom_kind_seen.get(None)
    return bool(holder and holder[0])


def _note_kinds(resources: list[Resource]) -> None:
    holder = _custom_kind_seen.get(None)
    if holder is not None and not holder[0] and any(not builtin_kind(r.gvk) for r in resources):
        holder[0] = True


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _clone(acc: Acc) -> Acc:
    copies = {id(r): r.copy() for r in acc.resmap}
    out_vars = [dataclasses.replace(v, target=copies.get(id(v.target))) for v in acc.vars]
    return Acc(ResMap([copies[id(r)] for r in acc.resmap]), acc.cfg.copy(), out_vars, dict(acc.schemas))


def accumulate(loader: Loader, *, top: bool = False) -> tuple[Acc, model.Kustomization]:
    """The accumulated kustomization in ``loader.cwd``. A directory built before is reused when every
    file it read still has the same content (SHA-256) and every path probe the same answer."""
    opts = loader.options
    # The fence only matters when options.root is set (and then it is options.root itself). Remote
    # bases are dependencies (URL -> snapshot directory, asked again on reuse), not part of the key.
    if top:
        _custom_kind_seen.set([False])
    key = (str(loader.cwd), opts.load_restrictor, str(opts.root), _seen_custom_kind())
    hit = _cache.get(key)
    meter = budget.active()
    if hit is not None and deps_valid(hit[0], loader.chain[:-1], opts.remote_loader):
        if meter is not None:  # a reused base costs what building it cost: budgets never depend on caches
            meter.charge_nodes(hit[3], str(loader.cwd))
        loader.deps.extend(hit[0])
        _note_kinds(hit[1].resmap.items)
        return _clone(hit[1]), hit[2]
    nodes_before = meter.nodes if meter is not None else 0
    k = model.load(loader)
    if k.kind == model.KIND_COMPONENT and not top:  # built directly, a Component is a kustomization
        raise fail(f"expected kind '{model.KIND_KUSTOMIZATION}' for path '{loader.cwd}' but got "
                   f"'{model.KIND_COMPONENT}'", k.path, "kind")
    acc = Acc()
    accumulate_into(acc, loader, k)
    if not top:  # bases are what overlays share; the top is built once per call
        with _lock:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            nodes = meter.nodes - nodes_before if meter is not None else 0
            _cache[key] = (list(loader.deps), _clone(acc), k, nodes)
    return acc, k


def sub_build(loader: Loader, ref: str) -> tuple[Acc, model.Kustomization]:
    """Accumulate the base ``ref``; its dependencies become the current directory's too."""
    sub_loader = loader.directory(ref)
    try:
        return accumulate(sub_loader)
    finally:
        loader.deps.append(("dir", str(sub_loader.cwd), ""))
        loader.deps.extend(sub_loader.deps)


def plugin_configs(loader: Loader, entries: list[Any], where: str) -> plugins.Configs:
    """Every plugin config of ``generators``/``transformers`` with the absolute path of the file it
    came from (Kustomize's origin of the config: the kustomization file for inline ones, the file
    inside a directory of configs, which is built like a base)."""
    out: plugins.Configs = []
    kust_file = loader.absolute(where)
    for entry in entries:
        text = str(entry)
        if "\n" in text or text.lstrip().startswith("{"):  # Kustomize: inline when it reads as objects
            found = [(d, kust_file) for d in parse_cached(text.encode(), f"{where} (inline plugin config)")]
        elif loader.probe(text) == "dir":
            sub, _ = sub_build(loader, text)
            found = [(r.obj, str((r.origin or {}).get("path") or loader.absolute(text))) for r in sub.resmap]
        else:
            found = [(d, loader.absolute(text)) for d in loader.load_yaml(text)]
        for doc, origin in found:
            if not isinstance(doc, dict) or not doc.get("kind"):
                raise fail("a plugin config must be an object with a kind", text, "transformers")
            if doc.get("apiVersion") != "builtin":
                raise fail(f"external plugins disabled; unable to load external plugin '{doc.get('kind')}' "
                           "(only apiVersion: builtin is supported)", text, "apiVersion")
            out.append((doc, origin))
    return out


def accumulate_into(acc: Acc, loader: Loader, k: model.Kustomization) -> None:
    where = str(k.path)
    with_builtin = _seen_custom_kind()  # kyaml sets a schema when it loads the kustomization
    pending: list[Resource] = []
    for ref in [*k.list("resources"), *k.list("bases")]:
        _resource(acc, loader, str(ref), where, pending)
    acc.resmap.extend(ResMap(pending))
    acc.cfg.merge(cfgmod.defaults())
    for ref in k.list("configurations"):
        for doc in loader.load_yaml(str(ref)) or [None]:
            acc.cfg.merge(cfgmod.parse(doc, ref))
    for ref in k.list("crds"):
        acc.cfg.merge(plugins.crd_config(loader, str(ref)))
    if k.data.get("openapi"):
        acc.schemas = plugins.load_openapi(loader, k.map("openapi"), where, with_builtin=with_builtin)
    run_generators(acc, loader, k)
    for ref in k.list("components"):
        _component(acc, loader, str(ref), where)
    run_transformers(acc, loader, k)
    vars.merge(acc.vars, [vars.parse(v, where) for v in k.list("vars")], acc.resmap, where)


def _resource(acc: Acc, loader: Loader, ref: str, where: str, pending: list[Resource]) -> None:
    """Add one ``resources`` entry; file resources wait in ``pending`` (added in one pass)."""
    kind = "dir" if is_remote(ref) else loader.probe(ref)
    if kind == "dir":
        sub, _ = sub_build(loader, ref)
        acc.resmap.extend(ResMap(pending))
        pending.clear()
        _absorb(acc, sub, ref)
        return
    if kind == "missing":
        raise fail(f"accumulating resources: '{loader.cwd / ref}' does not exist (neither a file nor a "
                   "directory)", where, "resources")
    pending.extend(load_resources(loader, ref))


def _absorb(acc: Acc, sub: Acc, ref: str) -> None:
    try:
        acc.resmap.extend(sub.resmap)
    except budget.BudgetExceeded:
        raise
    except Exception as exc:
        shown = shown_ref(ref) if is_remote(ref) else ref  # no token of a remote base in the message
        raise fail(f"accumulating resources from '{shown}': {exc}", shown, "resources") from exc
    acc.cfg.merge(sub.cfg)
    acc.schemas.update(sub.schemas)
    for var in sub.vars:
        if any(v.name == var.name for v in acc.vars):
            raise fail(f"var '{var.name}' already encountered", shown_ref(ref) if is_remote(ref) else ref,
                       "vars")
        acc.vars.append(var)


def _component(acc: Acc, loader: Loader, ref: str, where: str) -> None:
    sub_loader = loader.directory(ref)
    try:
        k = model.load(sub_loader)
        if k.kind != model.KIND_COMPONENT:
            raise fail(f"expected kind '{model.KIND_COMPONENT}' for path '{sub_loader.cwd}' but got "
                       f"'{k.kind}'", k.path, "kind")
        accumulate_into(acc, sub_loader, k)
    finally:
        loader.deps.append(("dir", str(sub_loader.cwd), ""))
        loader.deps.extend(sub_loader.deps)


def load_resources(loader: Loader, ref: str) -> list[Resource]:
    out: list[Resource] = []
    origin = {"path": loader.absolute(ref)}
    for index, doc in enumerate(loader.load_yaml(ref, unique_keys=True)):
        for res in to_resources(doc, ref):
            res.origin, res.document = dict(origin), index
            out.append(res)
    _note_kinds(out)
    return out


def to_resources(doc: Any, source: str) -> list[Resource]:
    if not isinstance(doc, dict):
        raise fail(f"expected a map (a Kubernetes object), got {type(doc).__name__}", source)
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        return [r for item in doc["items"] for r in to_resources(item, source)]
    if kind in (None, "") or isinstance(kind, (dict, list)):
        raise fail("missing Resource metadata: kind is required", source, "kind")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("name") in (None, "") or isinstance(
            metadata.get("name"), (dict, list)):
        raise fail(f"missing metadata.name in object of kind {kind}", source, "metadata.name")
    return [Resource(doc, source=source)]


def go_text(value: Any) -> str:
    """A scalar as Kustomize turns it into a string-map value (``null`` becomes "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_generators(acc: Acc, loader: Loader, k: model.Kustomization) -> None:
    where = str(k.path)
    opts = k.map("generatorOptions")
    made = [generators.make(loader, g, "ConfigMap", opts, where) for g in k.list("configMapGenerator")]
    made += [generators.make(loader, g, "Secret", opts, where) for g in k.list("secretGenerator")]
    for res in made:
        res.origin = {"configuredIn": loader.absolute(k.path.name),
                      "configuredBy": {"apiVersion": "builtin", "kind": f"{res.kind}Generator"}}
        absorb_generated(acc.resmap, res)
    if k.list("generators"):
        configs = plugin_configs(loader, k.list("generators"), where)
        for res in plugins.run_generator_plugins(acc, loader, configs, where):
            absorb_generated(acc.resmap, res)


def absorb_generated(resmap: ResMap, res: Resource) -> None:
    rid = res.cur_id()
    matches = resmap.by_any_id(rid)
    if not matches:
        if res.behavior in ("merge", "replace"):
            raise fail(f"id {rid} does not exist; cannot merge or replace", res.source, "behavior")
        resmap.append(res)
        return
    if len(matches) > 1:
        raise fail(f"found multiple objects that could accept merge of {rid}", res.source, "behavior")
    old = matches[0]
    if res.behavior not in ("merge", "replace"):
        raise fail(f"id {rid} exists; behavior must be merge or replace", res.source, "behavior")
    new_meta = res.meta
    new_meta["labels"] = {**old.labels(), **res.labels()}
    new_meta["annotations"] = {**old.annotations(), **res.annotations()}
    for key in ("labels", "annotations"):
        if not new_meta[key]:
            del new_meta[key]
    res.name = old.name
    if old.namespace:
        new_meta["namespace"] = old.namespace
    if res.behavior == "merge":
        for key in ("data", "binaryData"):
            merged = {**as_map(old.obj.get(key), old.source, key),
                      **as_map(res.obj.get(key), res.source, key)}
            if merged:
                res.obj[key] = merged
    # Kustomize merges the old annotations into the new object, its build annotations included: the
    # transformations recorded so far stay, and a merged object keeps the origin of the old one.
    res.transformations = [*old.transformations, *res.transformations]
    if res.behavior == "merge" and old.origin is not None:
        res.origin = old.origin
    res.prev, res.prefixes, res.suffixes = list(old.prev), list(old.prefixes), list(old.suffixes)
    res.needs_hash = res.needs_hash and old.needs_hash
    resmap.replace(old, res)


_FIELD_TRANSFORMERS = (
    ("patchesStrategicMerge", "PatchStrategicMergeTransformer"), ("patches", "PatchTransformer"),
    ("namespace", "NamespaceTransformer"), ("namePrefix", "PrefixTransformer"),
    ("nameSuffix", "SuffixTransformer"), ("labels", "LabelTransformer"), ("commonLabels", "LabelTransformer"),
    ("commonAnnotations", "AnnotationsTransformer"), ("patchesJson6902", "PatchJson6902Transformer"),
    ("replicas", "ReplicaCountTransformer"), ("images", "ImageTagTransformer"),
    ("replacements", "ReplacementTransformer"))


def _instances(k: model.Kustomization, key: str) -> int:
    """How many transformers Kustomize configures for the field ``key`` (one per entry of a list
    field, one for ``commonLabels`` whenever labels are given)."""
    if key in ("patches", "patchesJson6902", "replicas", "images", "labels"):
        return len(k.list(key))
    if key == "commonLabels":
        return 1 if k.data.get("commonLabels") or k.list("labels") else 0
    return 1 if k.data.get(key) else 0


def _record_transformers(acc: Acc, loader: Loader, k: model.Kustomization) -> None:
    """Each built-in transformer the kustomization configured, in Kustomize's order, appended to every
    object's transformations (``buildMetadata: [transformerAnnotations]``)."""
    for key, kind in _FIELD_TRANSFORMERS:
        for _ in range(_instances(k, key)):
            record_transformation(acc, {"configuredIn": loader.absolute(k.path.name),
                                        "configuredBy": {"apiVersion": "builtin", "kind": kind}})


def record_transformation(acc: Acc, entry: dict[str, Any]) -> None:
    for res in acc.resmap:
        if res.origin is None:  # Kustomize: the transformer made it
            res.origin = dict(entry)
        else:
            res.transformations.append(entry)


def run_transformers(acc: Acc, loader: Loader, k: model.Kustomization) -> None:
    _builtin_transformers(acc, loader, k)
    _record_transformers(acc, loader, k)
    if k.list("transformers"):
        where = str(k.path)
        configs = plugin_configs(loader, k.list("transformers"), where)
        plugins.run_transformer_plugins(acc, loader, configs, where, record_transformation)


def _builtin_transformers(acc: Acc, loader: Loader, k: model.Kustomization) -> None:
    where, rm, cfg = str(k.path), acc.resmap, acc.cfg
    patches.strategic_merge_entries(rm, loader, k.list("patchesStrategicMerge"), acc.schema, where)
    for entry in k.list("patches"):
        patches.patch_entry(rm, loader, entry, acc.schema, where)
    meta.set_namespace(rm, k.str("namespace"), cfg)
    meta.add_prefix_suffix(rm, k.str("namePrefix"), k.str("nameSuffix"), cfg.name_prefix, cfg.name_suffix)
    meta.set_map(rm, meta.string_map(k.data.get("commonLabels"), where, "commonLabels"), cfg.common_labels)
    for entry in k.list("labels"):
        if not isinstance(entry, dict):
            raise fail("a labels entry must be a map", where, "labels")
        pairs = meta.string_map(entry.get("pairs"), where, "labels.pairs")
        meta.set_map(rm, pairs, meta.labels_entry_specs(entry, cfg, where))
    meta.set_map(rm, meta.string_map(k.data.get("commonAnnotations"), where, "commonAnnotations"),
                 cfg.common_annotations)
    patches.json6902_entries(rm, loader, k.list("patchesJson6902"), where)
    # Kustomize sorts the field specs of its transformer config (the order shows in error messages)
    workload.set_replicas(rm, k.list("replicas"), sorted(cfg.replicas, key=lambda s: order.gvk_key(s.gvk)),
                          where)
    workload.set_images(rm, k.list("images"), cfg.images, where)
    replacements.apply(rm, replacements.load(loader, k.list("replacements"), where), where)
