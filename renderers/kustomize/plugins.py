"""Built-in plugin configs in ``generators`` / ``transformers`` fields, ``openapi`` and ``crds``.

Callers: the target builder, which also loads the configs
(:func:`renderers.kustomize.target.plugin_configs`: a directory of configs is built like a base). A plugin
config is a YAML object ``apiVersion: builtin`` (or any group) with a kind naming one of Kustomize's
built-in plugins; it is given as a file, inline YAML, or a directory whose kustomization produces configs.
Exec/Go/KRM-function plugins are rejected. Custom OpenAPI documents become type nodes for strategic merge;
CRD documents contribute name references.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from renderers.k8s.schema import TypeNode
from renderers.kustomize import config as cfgmod
from renderers.kustomize import generators, meta, patches, replacements, workload
from renderers.kustomize.accumulator import Acc
from renderers.kustomize.errors import as_map, fail
from renderers.kustomize.fieldspec import FieldSpec, parse_all
from renderers.kustomize.loader import Loader
from renderers.kustomize.resource import Gvk, Resource


def _specs(conf: dict[str, Any], default: list[FieldSpec]) -> list[FieldSpec]:
    specs = parse_all(conf.get("fieldSpecs"))
    return specs if conf.get("fieldSpecs") is not None else default


Configs = list[tuple[dict[str, Any], str]]  # each plugin config with the file it came from


def run_transformer_plugins(acc: Acc, loader: Loader, configs: Configs, where: str) -> None:
    for conf, _ in configs:
        handler = _TRANSFORMERS.get(str(conf["kind"]))
        if handler is None:
            raise fail(f"unable to load plugin {conf.get('apiVersion')}/{conf['kind']}: only Kustomize's "
                       "built-in plugins are supported", where, "transformers")
        handler(acc, loader, conf, where)


def _namespace(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    ns = str((conf.get("metadata") or {}).get("namespace") or "")
    cfg = acc.cfg.copy()
    cfg.namespace = [s for s in _specs(conf, acc.cfg.namespace) if s.path != "metadata/namespace"]
    subjects = str(conf.get("setRoleBindingSubjects") or "defaultOnly")
    meta.set_namespace(acc.resmap, ns, cfg, subjects)


def _prefix_suffix(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    specs = _specs(conf, acc.cfg.name_prefix)
    meta.add_prefix_suffix(acc.resmap, str(conf.get("prefix") or ""), str(conf.get("suffix") or ""),
                           specs, specs)


def _labels(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    meta.set_map(acc.resmap, meta.string_map(conf.get("labels"), where, "labels"),
                 _specs(conf, acc.cfg.common_labels))


def _annotations(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    meta.set_map(acc.resmap, meta.string_map(conf.get("annotations"), where, "annotations"),
                 _specs(conf, acc.cfg.common_annotations))


def _json6902(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    entry = {"target": conf.get("target"), "path": conf.get("path"), "patch": conf.get("jsonOp")}
    patches.json6902_entries(acc.resmap, loader, [{k: v for k, v in entry.items() if v}], where)


def _patch(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    entry = {k: conf[k] for k in ("path", "patch", "target", "options") if conf.get(k)}
    patches.patch_entry(acc.resmap, loader, entry, acc.schema, where)


def _smp(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    entries = [*(conf.get("paths") or []), *([conf["patches"]] if conf.get("patches") else [])]
    patches.strategic_merge_entries(acc.resmap, loader, entries, acc.schema, where)


def _images(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    workload.set_images(acc.resmap, [conf.get("imageTag")], parse_all(conf.get("fieldSpecs")), where)


def _replicas(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    workload.set_replicas(acc.resmap, [conf.get("replica")], _specs(conf, acc.cfg.replicas), where)


def _replacement(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    replacements.apply(acc.resmap, replacements.load(loader, conf.get("replacements") or [], where), where)


def _sort_order(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    raise fail("SortOrderTransformer may only be used through sortOptions in the top kustomization",
               where, "transformers")


_TRANSFORMERS: dict[str, Callable[[Acc, Loader, dict[str, Any], str], None]] = {
    "NamespaceTransformer": _namespace, "PrefixSuffixTransformer": _prefix_suffix,
    "PrefixTransformer": _prefix_suffix, "SuffixTransformer": _prefix_suffix,
    "LabelTransformer": _labels, "AnnotationsTransformer": _annotations,
    "PatchJson6902Transformer": _json6902, "PatchTransformer": _patch,
    "PatchStrategicMergeTransformer": _smp, "ImageTagTransformer": _images,
    "ReplicaCountTransformer": _replicas, "ReplacementTransformer": _replacement,
    "SortOrderTransformer": _sort_order}


def run_generator_plugins(acc: Acc, loader: Loader, configs: Configs, where: str) -> list[Resource]:
    made: list[Resource] = []
    for conf, source in configs:
        kind = str(conf["kind"])
        metadata = as_map(conf.get("metadata"), source, "metadata")
        if kind in ("ConfigMapGenerator", "SecretGenerator"):
            spec = {k: v for k, v in conf.items() if k in generators.KNOWN and k != "kind"}
            spec["name"] = conf.get("name") or metadata.get("name")
            if metadata.get("namespace") and not spec.get("namespace"):
                spec["namespace"] = metadata["namespace"]
            res = generators.make(loader, spec, kind.removesuffix("Generator"), {}, where)
            by = {"apiVersion": str(conf.get("apiVersion") or ""), "kind": kind}
            if metadata.get("name"):
                by["name"] = str(metadata["name"])
            res.origin = {"configuredIn": loader.absolute(source),
                          "configuredBy": by}
            made.append(res)
        elif kind == "IAMPolicyGenerator":
            made.append(_iam(conf, where))
        else:
            raise fail(f"unable to load plugin {conf.get('apiVersion')}/{kind}: only Kustomize's built-in "
                       "generators are supported", where, "generators")
    return made


def _iam(conf: dict[str, Any], where: str) -> Resource:
    if conf.get("cloud") != "gke":
        raise fail("IAMPolicyGenerator supports cloud: gke only", where, "cloud")
    sa, ksa = conf.get("serviceAccount") or {}, conf.get("kubernetesService") or {}
    meta_: dict[str, Any] = {"name": str(ksa.get("name") or ""), "annotations": {
        "iam.gke.io/gcp-service-account": f"{sa.get('name')}@{sa.get('projectId')}.iam.gserviceaccount.com"}}
    if ksa.get("namespace"):
        meta_["namespace"] = str(ksa["namespace"])
    return Resource({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta_}, source=where)


def load_openapi(loader: Loader, spec: dict[str, Any], where: str) -> dict[str, TypeNode]:
    if spec.get("path") and spec.get("version"):
        raise fail("builtin version and path cannot both be specified", where, "openapi")
    if not spec.get("path"):
        if spec.get("version") not in (None, "v1.21.2"):
            raise fail("the specified OpenAPI version is not built in", where, "openapi.version")
        return {}
    try:
        doc = json.loads(loader.read(str(spec["path"])))
    except (ValueError, UnicodeDecodeError):
        docs = loader.load_yaml(str(spec["path"]))
        doc = docs[0] if docs else {}
    definitions = doc.get("definitions") if isinstance(doc, dict) else None
    if not isinstance(definitions, dict):
        raise fail("an openapi document needs 'definitions'", spec["path"], "openapi")
    conv = _Converter(definitions)
    out: dict[str, TypeNode] = {}
    for name, definition in definitions.items():
        for gvk in (definition or {}).get("x-kubernetes-group-version-kind") or []:
            api = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else str(gvk.get("version"))
            out[f"{api}/{gvk.get('kind')}"] = conv.node(name)
    return out


class _Converter:
    """OpenAPI v2 definitions -> type nodes (shared nodes for shared definitions; cycles allowed)."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions
        self.done: dict[str, TypeNode] = {}

    def node(self, name: str) -> TypeNode:
        if name in self.done:
            return self.done[name]
        node: TypeNode = {}
        self.done[name] = node
        node.update(self.schema(self.definitions.get(name) or {}))
        return node

    def schema(self, sch: Any) -> TypeNode:
        if not isinstance(sch, dict):
            return {"any": True}
        ref = sch.get("$ref")
        if isinstance(ref, str):
            return self.node(ref.rsplit("/", 1)[-1])
        if isinstance(sch.get("properties"), dict):
            return {"fields": {k: self.schema(v) for k, v in sch["properties"].items()}}
        if sch.get("type") == "array":
            node: TypeNode = {"list": self.schema(sch.get("items"))}
            for src, dst in (("x-kubernetes-patch-strategy", "patch"),
                             ("x-kubernetes-patch-merge-key", "mergeKey"),
                             ("x-kubernetes-list-map-keys", "keys")):
                if sch.get(src):
                    node[dst] = sch[src]
            return node
        if isinstance(sch.get("additionalProperties"), dict):
            return {"map": self.schema(sch["additionalProperties"])}
        return {"any": True} if sch.get("type") in (None, "object") else {"scalar": str(sch.get("type"))}


def crd_config(loader: Loader, ref: str) -> cfgmod.Config:
    """Name references declared in a CRD OpenAPI document (``x-kubernetes-object-ref-kind``)."""
    data = loader.read(ref)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise fail(f"invalid JSON: {exc}", ref, "crds") from exc
    cfg = cfgmod.empty("crd:" + hashlib.sha256(data).hexdigest())
    if not isinstance(doc, dict):
        return cfg
    for name, entry in doc.items():
        schema = (entry or {}).get("Schema") if isinstance(entry, dict) else None
        kind = name.rsplit(".", 1)[-1]
        _crd_refs(doc, schema, kind, "", cfg, 0)
    return cfg


def _crd_refs(doc: dict[str, Any], schema: Any, kind: str, path: str, cfg: cfgmod.Config, depth: int) -> None:
    if not isinstance(schema, dict) or depth > 20:
        return
    for prop, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        here = f"{path}/{prop}" if path else prop
        if sub.get("x-kubernetes-object-ref-kind"):
            target = Gvk("", str(sub.get("x-kubernetes-object-ref-api-version") or ""),
                         str(sub["x-kubernetes-object-ref-kind"]))
            cfg.add_name_reference(target, [FieldSpec(f"{here}/name", Gvk(kind=kind))])
        ref = sub.get("$ref")
        if isinstance(ref, str) and isinstance(doc.get(ref), dict):
            _crd_refs(doc, doc[ref].get("Schema"), kind, here, cfg, depth + 1)
        else:
            _crd_refs(doc, sub, kind, here, cfg, depth + 1)
