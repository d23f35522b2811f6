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
import posixpath
from collections.abc import Callable
from typing import Any

from renderers.errors import RenderError
from renderers.k8s.schema import TypeNode
from renderers.kustomize import config as cfgmod
from renderers.kustomize import fieldpath, generators, meta, output, patches, replacements, workload, yaml12
from renderers.kustomize.accumulator import Acc
from renderers.kustomize.errors import as_list, as_map, fail
from renderers.kustomize.fieldspec import FieldSpec, parse_all
from renderers.kustomize.loader import Loader
from renderers.kustomize.resource import Gvk, Resource, check_selector, cluster_scoped


def _specs(conf: dict[str, Any]) -> list[FieldSpec]:
    """A plugin config's own ``fieldSpecs``: none unless given (Kustomize hands the kustomization's
    default field specs only to the transformers of kustomization fields)."""
    return parse_all(conf.get("fieldSpecs"))


Configs = list[tuple[dict[str, Any], str]]  # each plugin config with the absolute path it came from


def run_transformer_plugins(acc: Acc, loader: Loader, configs: Configs, where: str,
                            record: Callable[[Acc, dict[str, Any]], None]) -> None:
    """Run each config in turn; ``record`` gets Kustomize's origin of each after it ran."""
    for conf, origin in configs:
        handler = _TRANSFORMERS.get(str(conf["kind"]))
        if handler is None:
            raise fail(f"unable to load plugin {conf.get('apiVersion')}/{conf['kind']}: only Kustomize's "
                       "built-in plugins are supported", where, "transformers")
        handler(acc, loader, conf, where)
        record(acc, {"configuredIn": origin, "configuredBy": configured_by(conf)})


def configured_by(conf: dict[str, Any]) -> dict[str, str]:
    """A plugin config's identity as Kustomize writes it in origins (empty fields left out)."""
    raw = conf.get("metadata")
    metadata: dict[str, Any] = raw if isinstance(raw, dict) else {}
    out = {"apiVersion": conf.get("apiVersion"), "kind": conf.get("kind"),
           "name": metadata.get("name"), "namespace": metadata.get("namespace")}
    return {k: str(v) for k, v in out.items() if v not in (None, "")}


def _namespace(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    ns = str((conf.get("metadata") or {}).get("namespace") or "")
    cfg = acc.cfg.copy()
    specs = _specs(conf)
    cfg.namespace = [s for s in specs if s.path not in ("metadata/namespace", "metadata/name")]
    subjects = str(conf.get("setRoleBindingSubjects") or "defaultOnly")
    if subjects not in ("defaultOnly", "allServiceAccounts", "none"):
        raise fail(f'invalid value "{subjects}" for setRoleBindingSubjects: must be one of "defaultOnly", '
                   '"none" or "allServiceAccounts"', where, "transformers")
    renames = any(s.path == "metadata/name" and Gvk("", "v1", "Namespace").selected_by(s.gvk) for s in specs)
    meta.set_namespace(acc.resmap, ns, cfg, subjects, rename=renames,
                       unset_only=conf.get("unsetOnly") is True)


def _prefix_suffix(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    if conf.get("fieldSpecs") is None:
        raise fail(_config_error(conf, "fieldSpecs is not expected to be nil"), where, "transformers")
    specs = _specs(conf)
    meta.add_prefix_suffix(acc.resmap, str(conf.get("prefix") or ""), str(conf.get("suffix") or ""),
                           specs, specs)


def _labels(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    meta.set_map(acc.resmap, meta.string_map(conf.get("labels"), where, "labels"),
                 _specs(conf))


def _annotations(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    meta.set_map(acc.resmap, meta.string_map(conf.get("annotations"), where, "annotations"),
                 _specs(conf))


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
    workload.set_replicas(acc.resmap, [conf.get("replica")], _specs(conf), where)


def _replacement(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    replacements.apply(acc.resmap, replacements.load(loader, conf.get("replacements") or [], where), where)


def _config_error(conf: dict[str, Any], message: str) -> str:
    """Kustomize's wording of a plugin config it rejects."""
    name = (conf.get("metadata") or {}).get("name") if isinstance(conf.get("metadata"), dict) else None
    return (f"plugin {conf['kind']}.{conf.get('apiVersion')}.[noGrp]/{name}.[noNs] fails configuration: "
            f"{message}")


def _value_add(acc: Acc, loader: Loader, conf: dict[str, Any], where: str) -> None:
    """Kustomize's ValueAddTransformer: ``value`` (default: the name of the kustomization's directory)
    set at each target's ``fieldPath`` (``/``-separated, ``\\/`` escapes a slash; created when missing),
    or inserted as a path part at ``filePathPosition`` (1 = first) of the string already there.
    ``metadata/namespace`` is Kustomize's namespace filter: namespaced objects and the subjects named
    "default" of role bindings, without renaming Namespace objects or recording a previous id."""
    raw = conf.get("value")
    if isinstance(raw, (dict, list)):
        raise fail("json: cannot unmarshal an object or array into Go struct field "
                   "ValueAddTransformerPlugin.value of type string", where, "transformers")
    value = ("" if raw is None else go_scalar_text(raw)).strip() or loader.cwd.name
    targets = list(as_list(conf.get("targets"), where, "targets"))
    if conf.get("targetFilePath"):
        ref = str(conf["targetFilePath"])
        for doc in loader.load_yaml(ref):
            targets += as_list(as_map(doc, ref, "targets").get("targets"), ref, "targets")
    if not targets:
        raise fail(_config_error(conf, "must specify at least one target"), where, "transformers")
    for target in targets:
        target = as_map(target, where, "targets")
        if not isinstance(target.get("fieldPath") or "", str) or not target.get("fieldPath"):
            raise fail(_config_error(conf, "fieldPath cannot be empty"), where, "targets.fieldPath")
        position = target.get("filePathPosition") or 0
        if not isinstance(position, int) or isinstance(position, bool):
            raise fail("filePathPosition must be an integer", where, "targets.filePathPosition")
        if position < 0:
            raise fail(_config_error(conf, f"value of FilePathPosition ({position}) cannot be negative"),
                       where, "targets.filePathPosition")
    for target in targets:
        sel = target.get("selector")
        chosen = acc.resmap.select(check_selector(sel, where, "selector")) if sel is not None \
            else list(acc.resmap)
        for res in chosen:
            if target["fieldPath"] == "metadata/namespace":
                if not cluster_scoped(res.gvk):
                    res.meta["namespace"] = value
                if res.kind in ("RoleBinding", "ClusterRoleBinding"):
                    meta.subjects(res, value, "defaultOnly")
            else:
                _add_value(res, _value_path(target["fieldPath"]), value, target.get("filePathPosition") or 0)


def _value_path(path: str) -> list[str]:
    fields: list[str] = []
    for part in path.split("/"):
        if fields and fields[-1].endswith("\\"):
            fields[-1] = fields[-1][:-1] + "/" + part
        else:
            fields.append(part)
    return fields


def _add_value(res: Resource, fields: list[str], value: str, position: int) -> None:
    def setter(parent: Any, key: Any) -> None:
        old = parent.get(key) if isinstance(parent, dict) else parent[key]
        if isinstance(old, (dict, list)):
            got = "MappingNode" if isinstance(old, dict) else "SequenceNode"
            raise fail(f"wrong node kind: expected ScalarNode but got {got} at {'/'.join(fields)}",
                       res.source, "fieldPath")
        new = _insert_path_part("" if old is None else go_scalar_text(old), position - 1, value) \
            if position > 0 else value
        parent[key] = _untagged(new)
    fieldpath.visit(res.obj, fields, True, setter)


def go_scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return output.go_float(value)
    return str(value)


def _untagged(text: str) -> Any:
    """Kustomize sets the value as an untagged scalar, which its JSON round trip then reads as YAML:
    "42" becomes the number 42, "007" the number 7, "true" a boolean."""
    if not text or text.strip() != text or "\n" in text or "#" in text:
        return text
    try:
        docs = yaml12.load_all(text.encode(), "value", max_bytes=1024)
    except RenderError:
        return text
    if not docs and text in ("null", "Null", "NULL", "~"):
        return None
    typed = docs[0] if len(docs) == 1 else None
    return typed if isinstance(typed, (bool, int, float)) else text


def _insert_path_part(path: str, pos: int, part: str) -> str:
    """Go's ``filesys.InsertPathPart``: ``part`` inserted at ``pos`` of the ``/``-separated ``path``
    (0 prefixes, past the end postfixes; an absolute path stays absolute)."""
    parts = _path_split(path)
    pos = max(0, min(pos, len(parts)))
    if parts and parts[0] == "" and pos < len(parts):
        pos += 1
    joined = [*parts[:pos], part, *parts[pos:]]
    if joined[0] == "":
        return "/" + _go_join(joined[1:])
    return _go_join(joined)


def _path_split(path: str) -> list[str]:
    """Go's ``filesys.PathSplit`` (an absolute path starts with an empty part), without recursion."""
    if path == "":
        return []
    backwards: list[str] = []
    while True:
        cut = path.rfind("/") + 1
        head, tail = path[:cut], path[cut:]
        if head == "/":
            backwards += [tail, ""] if tail else [""]
            break
        head = head.removesuffix("/")
        backwards.append(tail)
        if head == "":
            break
        path = head
    return backwards[::-1]


def _go_join(parts: list[str]) -> str:
    """Go's ``filepath.Join``: empty parts skipped, the result cleaned (``""`` when nothing is left)."""
    kept = [p for p in parts if p]
    return posixpath.normpath("/".join(kept)) if kept else ""


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
    "SortOrderTransformer": _sort_order, "ValueAddTransformer": _value_add}


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
            res.origin = {"configuredIn": source, "configuredBy": configured_by(conf)}
            made.append(res)
        elif kind == "IAMPolicyGenerator":
            res = _iam(conf, where)
            res.origin = {"configuredIn": source, "configuredBy": configured_by(conf)}
            made.append(res)
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


def load_openapi(loader: Loader, spec: dict[str, Any], where: str, *,
                 with_builtin: bool = False) -> dict[str, TypeNode]:
    """Type nodes of a custom schema. ``with_builtin``: its references to definitions it does not
    have reach the built-in ones (kyaml adds a custom schema to the built-in one when that was parsed
    before, which happens once an object of a kind outside the built-in catalog was read; otherwise
    the custom schema is all there is and such references are free-form)."""
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
    conv = _Converter(definitions, with_builtin)
    out: dict[str, TypeNode] = {}
    for name, definition in definitions.items():
        for gvk in (definition or {}).get("x-kubernetes-group-version-kind") or []:
            api = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else str(gvk.get("version"))
            out[f"{api}/{gvk.get('kind')}"] = conv.node(name)
    return out


class _Converter:
    """OpenAPI v2 definitions -> type nodes (shared nodes for shared definitions; cycles allowed). A
    definition the document does not have is the built-in one of that name (a ``ref`` node) when
    ``with_builtin``, else free-form."""

    def __init__(self, definitions: dict[str, Any], with_builtin: bool) -> None:
        self.definitions, self.with_builtin = definitions, with_builtin
        self.done: dict[str, TypeNode] = {}

    def node(self, name: str) -> TypeNode:
        if name not in self.definitions and self.with_builtin:
            return {"ref": name}
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
