"""Workload transformers: ``images`` (name, tag, digest) and ``replicas``.

Callers: the target builder and builtin plugin configs. Images are updated in every ``containers`` and
``initContainers`` list at any depth of any kind (as Kustomize does), plus custom image field specs.
"""

from __future__ import annotations

import re
from typing import Any

from renderers.kustomize.errors import fail
from renderers.kustomize.fieldspec import FieldSpec, apply
from renderers.kustomize.resource import ResMap

_TAG = r"(@sha256)?(:[a-zA-Z0-9_.{}-]*)?"


def split_image(image: str) -> tuple[str, str, str]:
    """``(name, tag, digest)`` of an image reference (a registry port is not a tag)."""
    slash = image.find("/")
    offset = slash if slash > 0 else 0
    search = image[offset:]
    at, colon = search.find("@"), search.find(":")
    if at < 0 and colon < 0:
        return image, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return image[:offset + at], "", image[offset + at + 1:]
    if at >= 0:
        return image[:offset + colon], image[offset + colon + 1:offset + at], image[offset + at + 1:]
    return image[:offset + colon], image[offset + colon + 1:], ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _matches(image: str, name: str, wanted: str) -> bool:
    """Kustomize's test: the reference is the wanted name plus an optional tag/digest (the wanted name
    is used as a regular expression, as Kustomize does), or its name part equals the wanted name."""
    if name == wanted:
        return True
    try:
        return re.fullmatch(wanted + _TAG, image) is not None
    except re.error:
        return re.fullmatch(re.escape(wanted) + _TAG, image) is not None


def new_image(image: str, entry: dict[str, Any]) -> str | None:
    """The updated reference, or ``None`` when the entry does not match ``image``."""
    name, tag, digest = split_image(image)
    if not _matches(image, name, _text(entry.get("name"))):
        return None
    new_tag, new_digest = _text(entry.get("newTag")), _text(entry.get("digest"))
    if entry.get("newName"):
        name = _text(entry["newName"])
    if new_tag and new_digest:
        tag, digest = new_tag, new_digest
    elif new_tag:
        tag, digest = new_tag, ""
    elif new_digest:
        tag, digest = "", new_digest
    if entry.get("tagSuffix"):
        tag += _text(entry["tagSuffix"])
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _containers(node: Any, entry: dict[str, Any]) -> None:
    if isinstance(node, list):
        for elem in node:
            _containers(elem, entry)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("containers", "initContainers") and isinstance(value, list):
            for container in value:
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    updated = new_image(container["image"], entry)
                    if updated is not None:
                        container["image"] = updated
        _containers(value, entry)


def set_images(resmap: ResMap, entries: list[Any], specs: list[FieldSpec], where: str) -> None:
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise fail("an images entry needs a name", where, "images")

        def setter(parent: dict[str, Any], key: str, entry: dict[str, Any] = entry) -> None:
            value = parent.get(key)
            if isinstance(value, str):
                updated = new_image(value, entry)
                if updated is not None:
                    parent[key] = updated
        for res in resmap:
            _containers(res.obj, entry)
            apply(res, specs, setter)


def set_replicas(resmap: ResMap, entries: list[Any], specs: list[FieldSpec], where: str) -> None:
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise fail("a replicas entry needs a name", where, "replicas")
        count = entry.get("count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise fail(f"replicas count must be an integer, not {count!r}", where, "replicas")
        name = str(entry["name"])

        def setter(parent: dict[str, Any], key: str, count: Any = count) -> None:
            parent[key] = count
        found = False
        for res in resmap:
            if not any(i.name == name for i in res.all_ids()):
                continue
            for spec in specs:
                if spec.applies_to(res):
                    found = True
                    apply(res, [spec], setter)
        if not found:
            gvks = " ".join(".".join((s.gvk.kind or "[noKind]", s.gvk.version or "[noVer]",
                                      s.gvk.group or "[noGrp]")) for s in specs)
            raise fail(f"resource with name {name} does not match a config with the following GVK [{gvks}]",
                       where, "replicas")
