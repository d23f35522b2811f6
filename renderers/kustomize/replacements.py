"""``replacements``: copy a field of one object into fields of others (optionally one part of a
delimited string).

Callers: the target builder (last built-in transformer) and ``ReplacementTransformer`` configs.
The source must select exactly one object; a target path that does not exist is an error unless the
target asks to create it.
"""

from __future__ import annotations

import copy
from typing import Any

from renderers import budget
from renderers.kustomize import fieldpath
from renderers.kustomize.errors import as_list, as_map, fail
from renderers.kustomize.loader import Loader
from renderers.kustomize.resource import ResMap, Resource, selector_matches

_SEL_KEYS = ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")


def load(loader: Loader, entries: list[Any], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in entries:
        if isinstance(entry, dict) and "path" in entry and "source" not in entry:
            for doc in loader.load_yaml(str(entry["path"])):
                out.extend(doc if isinstance(doc, list) else [doc])
        else:
            out.append(entry)
    for item in out:
        if not isinstance(item, dict) or not isinstance(item.get("source"), dict):
            raise fail("a replacement needs a source", where, "replacements")
    return out


def _source_value(resmap: ResMap, source: dict[str, Any], where: str) -> Any:
    sel = {k: source[k] for k in _SEL_KEYS if source.get(k)}
    found = [r for r in resmap if selector_matches(r, sel, any_id=True)]
    if len(found) > 1:
        raise fail(f"multiple matches for selector {sel}", where, "replacements.source")
    if not found:
        raise fail(f"nothing selected by {sel}", where, "replacements.source")
    path = str(source.get("fieldPath") or "metadata.name")
    values = fieldpath.get(found[0].obj, path)
    if not values:
        raise fail(f"fieldPath `{path}` is missing for replacement source {found[0].cur_id()}", where,
                   "replacements.source.fieldPath")
    value = values[0]
    opts = as_map(source.get("options"), where, "replacements.source.options")
    if opts.get("delimiter"):
        parts = str(value).split(str(opts["delimiter"]))
        index = int(opts.get("index") or 0)
        if not 0 <= index < len(parts):
            raise fail(f"options.index {index} is out of bounds for value {value}", where, "options.index")
        value = parts[index]
    return value


def _text_size(value: Any) -> int:
    """About how many bytes ``value`` adds to the output (strings by length, 8 per other node)."""
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, dict):
            size += 8 + sum(len(str(k)) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            size += 8
            stack.extend(item)
        else:
            size += 8
    return size


def _set(container: Any, key: Any, value: Any, opts: dict[str, Any], size: int, where: str) -> None:
    budget.charge_output(size, where)  # one large value copied into hundreds of objects adds up
    if opts.get("delimiter"):
        delim = str(opts["delimiter"])
        current = container[key] if not (isinstance(container, dict) and key not in container) else ""
        parts = str(current if current is not None else "").split(delim)
        index = int(opts.get("index") or 0)
        if index < 0:
            parts.insert(0, str(value))
        elif index >= len(parts):
            parts.append(str(value))
        else:
            parts[index] = str(value)
        container[key] = delim.join(parts)
        return
    container[key] = copy.deepcopy(value)


def _selected(res: Resource, target: dict[str, Any]) -> bool:
    if not selector_matches(res, target.get("select") or {}, any_id=True):
        return False
    rejects = [r for r in as_list(target.get("reject"), "replacement", "reject") if isinstance(r, dict)]
    return not any(selector_matches(res, rej, any_id=True) for rej in rejects)


def apply(resmap: ResMap, replacements: list[dict[str, Any]], where: str) -> None:
    for rep in replacements:
        value = _source_value(resmap, rep["source"], where)
        size = _text_size(value)
        for target in as_list(rep.get("targets"), where, "replacements.targets"):
            if not isinstance(target, dict) or not isinstance(target.get("select"), dict):
                raise fail("a replacement target needs a select", where, "replacements.targets")
            opts: dict[str, Any] = as_map(target.get("options"), where, "replacements.targets.options")

            def setter(container: Any, key: Any, value: Any = value, opts: dict[str, Any] = opts,
                       size: int = size) -> None:
                _set(container, key, value, opts, size, where)
            for res in resmap:
                if not _selected(res, target):
                    continue
                for path in as_list(target.get("fieldPaths"), where, "fieldPaths") or ["metadata.name"]:
                    reached = fieldpath.visit(res.obj, fieldpath.split(str(path)), bool(opts.get("create")),
                                              setter)
                    if not reached:
                        raise fail(f"unable to find field \"{path}\" in replacement target {res.cur_id()}",
                                   where, "replacements.targets.fieldPaths")
