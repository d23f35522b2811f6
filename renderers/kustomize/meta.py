"""Metadata transformers: namespace, name prefix/suffix, labels, annotations.

Callers: the target builder, in Kustomize's order (namespace, prefix, suffix, labels, annotations),
and the builtin transformer plugin configs. Each function mutates the resources of one build in place
(the builder owns them; nothing cached is reachable from here).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from renderers.kustomize.config import Config
from renderers.kustomize.errors import fail
from renderers.kustomize.fieldspec import FieldSpec, apply, dedupe, parse_all, split_path, walk
from renderers.kustomize.resource import ResMap, Resource, cluster_scoped

_SKIP_RENAME = (("", "CustomResourceDefinition"), ("apiregistration.k8s.io", "APIService"), ("", "Namespace"))


def _scalar_setter(value: str, unset_only: bool = False) -> Any:
    def setter(parent: dict[str, Any], key: str) -> None:
        current = parent.get(key)
        if isinstance(current, (dict, list)):
            raise fail(f"namespace field specs must target scalar nodes ('{key}')", field=key)
        if not (unset_only and current not in (None, "")):
            parent[key] = value
    return setter


def set_namespace(resmap: ResMap, namespace: str, cfg: Config, subject_mode: str = "defaultOnly", *,
                  rename: bool = True, unset_only: bool = False) -> None:
    """Kustomize's namespace transformer; ``rename``: v1 Namespace objects take the namespace as their
    name (the default field specs; a plugin config only when its own field specs say so);
    ``unset_only``: only empty or missing fields are set (a plugin config's ``unsetOnly``)."""
    if not namespace:
        return
    put = _scalar_setter(namespace, unset_only)
    for res in resmap:
        renames = rename and res.kind == "Namespace" and res.obj.get("apiVersion") == "v1"
        res.store_previous()  # Kustomize records every object's id here, moved or not
        if not cluster_scoped(res.gvk):
            put(res.meta, "namespace")
        if renames:
            put(res.meta, "name")
        if res.kind in ("RoleBinding", "ClusterRoleBinding"):
            subjects(res, namespace, subject_mode, unset_only=unset_only)
        apply(res, cfg.namespace, put)


def subjects(res: Resource, namespace: str, mode: str, *, unset_only: bool = False) -> None:
    listed = res.obj.get("subjects")
    if mode == "none" or not isinstance(listed, list):
        return
    for subject in listed:  # defaultOnly: any subject named "default", whatever its kind (Kustomize)
        if not isinstance(subject, dict):
            continue
        if subject.get("kind" if mode == "allServiceAccounts" else "name") == (
                "ServiceAccount" if mode == "allServiceAccounts" else "default"):
            _scalar_setter(namespace, unset_only)(subject, "namespace")


def _skip_rename(res: Resource) -> bool:
    gvk = res.org_id().gvk
    return any((not group or group == gvk.group) and kind == gvk.kind for group, kind in _SKIP_RENAME)


def add_prefix_suffix(resmap: ResMap, prefix: str, suffix: str, specs_prefix: list[FieldSpec],
                      specs_suffix: list[FieldSpec]) -> None:
    for res in resmap:
        if _skip_rename(res):
            continue
        if prefix:
            _rename(res, prefix, "", specs_prefix)
        if suffix:
            _rename(res, "", suffix, specs_suffix)


def _rename(res: Resource, prefix: str, suffix: str, specs: list[FieldSpec]) -> None:
    for spec in specs:
        if not res.org_id().gvk.selected_by(spec.gvk):
            continue
        if spec.path == "metadata/name":
            if prefix:
                res.prefixes.append(prefix)
            if suffix:
                res.suffixes.append(suffix)
            res.store_previous()

        def setter(parent: dict[str, Any], key: str) -> None:
            value = parent.get(key)
            if not isinstance(value, (dict, list)):
                text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
                parent[key] = f"{prefix}{text}{suffix}"
        walk(res.obj, split_path(spec.path), spec.create, setter)


def _map_setter(pairs: dict[str, str]) -> Any:
    def setter(parent: dict[str, Any], key: str) -> None:
        current = parent.get(key)
        if current is None:
            current = {}
            parent[key] = current
        if not isinstance(current, dict):
            raise fail(f"expected a map at '{key}' to set {sorted(pairs)[0]!r}", field=key)
        current.update(pairs)
    return setter


def string_map(raw: Any, where: str, what: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail(f"{what} must be a map", where, what)
    out = {}
    for key, value in raw.items():
        if isinstance(value, (dict, list)):
            raise fail(f"{what} values must be strings (key {key!r})", where, what)
        out[str(key)] = "" if value is None else (
            ("true" if value else "false") if isinstance(value, bool) else str(value))
    return out


def set_map(resmap: ResMap, pairs: dict[str, str], specs: Iterable[FieldSpec]) -> None:
    if not pairs:
        return
    specs = list(specs)
    for res in resmap:
        apply(res, specs, _map_setter(pairs))


def labels_entry_specs(entry: dict[str, Any], cfg: Config, where: str) -> list[FieldSpec]:
    """The field specs of one ``labels`` entry (includeSelectors / includeTemplates / fields)."""
    if entry.get("includeSelectors"):
        specs = list(cfg.common_labels)
    else:
        specs = list(cfg.template_labels) if entry.get("includeTemplates") else []
        specs.append(FieldSpec("metadata/labels", create=True))
    return dedupe([*specs, *cfg.labels, *parse_all(entry.get("fields"), where)])
