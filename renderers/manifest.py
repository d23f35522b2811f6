"""The manifest value every renderer returns, and the checks that make one.

Called by each renderer (plain, jinja, helm) on the documents it parsed, and by ``renderers.api`` on
the final list. A manifest is a plain ``dict`` (what YAML gives and what the Kubernetes client takes);
the design choice is to validate the few fields the engine relies on (``apiVersion``, ``kind``,
``metadata.name``) once, here, with an error naming the file and document index, rather than let a
malformed object surface later as a confusing apply failure. ``List`` kinds are flattened here too.
Each manifest carries where it came from, as kyaml does: the annotations ``LOCATION_PATH`` (the file,
relative to the snapshot) and ``LOCATION_INDEX`` (its document, from 0), so the engine's own checks
name the file and document too; the engine strips every ``internal.config.kubernetes.io/`` annotation
before it diffs, hashes, applies or prints a manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from renderers.errors import RenderError

Manifest = dict[str, Any]
# kyaml's location annotations (internal: never applied; gitops/render/manifests.py strips them)
INTERNAL_PREFIX = "internal.config.kubernetes.io/"
LOCATION_PATH = f"{INTERNAL_PREFIX}path"
LOCATION_INDEX = f"{INTERNAL_PREFIX}index"


@dataclass(frozen=True, order=True)
class Identity:
    """What makes two manifests the same object: API group, kind, namespace and name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"


def group_of(api_version: str) -> str:
    """The API group of an ``apiVersion`` (``""`` for the core group ``v1``)."""
    return api_version.rpartition("/")[0]


def identity(manifest: Manifest) -> Identity:
    """The identity of a validated manifest."""
    meta = manifest["metadata"]
    return Identity(group_of(manifest["apiVersion"]), manifest["kind"], meta.get("namespace") or "",
                    meta["name"])


def _where(source: str, index: int) -> str:
    return f"{source}#{index}"


def _require_str(value: Any, source: str, index: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        got = "missing" if value is None else f"got {type(value).__name__} {value!r:.60}"
        raise RenderError(f"manifest needs a non-empty string ({got})", path=_where(source, index),
                          field=field)
    return value


def _check_string_map(meta: dict[str, Any], key: str, source: str, index: int) -> None:
    value = meta.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise RenderError(f"must be a mapping, got {type(value).__name__}", path=_where(source, index),
                          field=f"metadata.{key}")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise RenderError(f"keys and values must be strings, got {k!r:.60}: {v!r:.60}",
                              path=_where(source, index), field=f"metadata.{key}")


def validate(doc: Any, source: str, index: int) -> Manifest:
    """``doc`` as a manifest, or a RenderError naming ``source``, the document index and the field."""
    if not isinstance(doc, dict):
        raise RenderError(f"document is a {type(doc).__name__}, not a Kubernetes object (mapping)",
                          path=_where(source, index))
    _require_str(doc.get("apiVersion"), source, index, "apiVersion")
    _require_str(doc.get("kind"), source, index, "kind")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise RenderError("manifest needs a metadata mapping", path=_where(source, index), field="metadata")
    _require_str(meta.get("name"), source, index, "metadata.name")
    namespace = meta.get("namespace")
    if namespace is not None:
        _require_str(namespace, source, index, "metadata.namespace")
    _check_string_map(meta, "labels", source, index)
    _check_string_map(meta, "annotations", source, index)
    return doc


def is_list(doc: Any) -> bool:
    """A ``v1 List`` (or any ``*List`` kind) carrying ``items``, as ``kubectl`` prints them."""
    return (isinstance(doc, dict) and isinstance(doc.get("kind"), str) and doc["kind"].endswith("List")
            and isinstance(doc.get("items"), list) and "name" not in (doc.get("metadata") or {}))


def locate(manifest: Manifest, source: str, index: int | None = None) -> Manifest:
    """``manifest`` annotated with the file (and document) it came from (kyaml's convention)."""
    meta = manifest["metadata"]
    location = {LOCATION_PATH: source}
    if index is not None:
        location[LOCATION_INDEX] = str(index)
    meta["annotations"] = {**(meta.get("annotations") or {}), **location}
    return manifest


def from_documents(docs: Iterable[Any], source: str, *, located: bool = True) -> list[Manifest]:
    """Flatten ``List`` documents and validate each object; indexes count documents from 0. With
    ``located``, each manifest is annotated with ``source`` and its document index (:func:`locate`)."""
    out: list[Manifest] = []
    for index, doc in enumerate(docs):
        if is_list(doc):
            made = [validate(item, source, index) if isinstance(item, dict) else
                    _bad_item(item, source, index, at) for at, item in enumerate(doc["items"])]
        else:
            made = [validate(doc, source, index)]
        out.extend([locate(m, source, index) for m in made] if located else made)
    return out


def _bad_item(item: Any, source: str, index: int, item_index: int) -> Manifest:
    raise RenderError(f"List item is a {type(item).__name__}, not an object", path=_where(source, index),
                      field=f"items[{item_index}]")


class Collector:
    """Gathers manifests file by file and rejects a second object with the same identity, naming
    both files (applying both would be ambiguous: the later one would silently win)."""

    def __init__(self) -> None:
        self.manifests: list[Manifest] = []
        self._first: dict[Identity, str] = {}

    def add(self, manifest: Manifest, source: str) -> None:
        ident = identity(manifest)
        if ident in self._first:
            raise RenderError(f"object {ident} is rendered more than once (first in {self._first[ident]})",
                              path=source, field="metadata.name")
        self._first[ident] = source
        self.manifests.append(manifest)

    def extend(self, manifests: Iterable[Manifest], source: str) -> None:
        for manifest in manifests:
            self.add(manifest, source)


def check_unique(manifests: Iterable[Manifest]) -> None:
    """Reject two manifests with the same identity: applying both would be ambiguous."""
    seen: set[Identity] = set()
    for manifest in manifests:
        ident = identity(manifest)
        if ident in seen:
            raise RenderError(f"object {ident} is rendered more than once", field="metadata.name")
        seen.add(ident)
