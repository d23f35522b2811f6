"""``vars``: ``$(NAME)`` references replaced by a field of another object, resolved last.

Callers: the target builder (collects vars per kustomization, resolves once at the top, after name
references were fixed). Fields searched are the build's ``varReference`` field specs. A reference to
an unknown var is left as it is (Kustomize does the same); ``$$(X)`` escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from renderers.kustomize import fieldpath
from renderers.kustomize.errors import as_map, fail
from renderers.kustomize.fieldspec import FieldSpec, apply
from renderers.kustomize.resource import Gvk, ResMap, Resource

_REF = re.compile(r"\$\$|\$\(([^)$]*)\)")


@dataclass
class Var:
    name: str
    kind: str
    ref_name: str
    api_version: str
    namespace: str
    field_path: str
    target: Resource | None = None


def parse(raw: Any, where: str) -> Var:
    if not isinstance(raw, dict) or not raw.get("name") or not isinstance(raw.get("objref"), dict):
        raise fail("a var needs a name and an objref", where, "vars")
    ref = raw["objref"]
    field = as_map(raw.get("fieldref"), where, "vars.fieldref").get("fieldpath") or "metadata.name"
    api_version = str(ref.get("apiVersion") or "")
    if not api_version and (ref.get("group") or ref.get("version")):
        group, version = str(ref.get("group") or ""), str(ref.get("version") or "")
        api_version = f"{group}/{version}" if group else version
    return Var(str(raw["name"]), str(ref.get("kind") or ""), str(ref.get("name") or ""),
               api_version, str(ref.get("namespace") or ""), str(field))


def _matches(var: Var, res: Resource) -> bool:
    want = Gvk.of(var.api_version, var.kind)
    if res.kind != var.kind or not res.gvk.selected_by(want):
        return False
    ids = res.all_ids()
    if var.namespace:
        return any(i.name == var.ref_name and i.effective_ns() == (var.namespace or "default") for i in ids)
    return any(i.name == var.ref_name for i in ids)


def merge(known: list[Var], incoming: list[Var], resmap: ResMap, where: str) -> None:
    for var in incoming:
        if any(v.name == var.name for v in known):
            raise fail(f"var '{var.name}' already encountered", where, "vars")
        matched = [r for r in resmap if _matches(var, r)]
        if len(matched) > 1:
            raise fail(f"found {len(matched)} resId matches for var {var.name} (unable to disambiguate)",
                       where, "vars")
        var.target = matched[0] if matched else None
        known.append(var)


def _value(var: Var, resmap: ResMap) -> Any:
    if var.target is None or var.target not in resmap.items:
        raise fail(f"var '{var.name}' cannot be mapped to a field in the set of known resources",
                   field="vars")
    found = fieldpath.get(var.target.obj, var.field_path)
    if not found:
        raise fail(f"field specified in var '{var.name}' ({var.field_path}) not found in "
                   f"{var.target.cur_id()}", field="vars")
    value = found[0]
    if isinstance(value, (dict, list)):
        raise fail(f"var '{var.name}' must refer to a scalar field", field="vars")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def expand(text: str, values: dict[str, Any]) -> Any:
    whole = _REF.fullmatch(text)
    if whole and whole.group(1) is not None and whole.group(1) in values:
        return values[whole.group(1)]

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return _text(values[name]) if name in values else m.group(0)
    return _REF.sub(sub, text)


def resolve(resmap: ResMap, known: list[Var], specs: list[FieldSpec]) -> None:
    if not known:
        return
    values = {v.name: _value(v, resmap) for v in known}

    def replace(value: Any) -> Any:
        if isinstance(value, str):
            return expand(value, values)
        if isinstance(value, list):
            return [replace(v) for v in value]
        if isinstance(value, dict):
            return {k: replace(v) for k, v in value.items()}
        return value

    def setter(parent: dict[str, Any], key: str) -> None:
        if key in parent:
            parent[key] = replace(parent[key])
    for res in resmap:
        apply(res, specs, setter)
