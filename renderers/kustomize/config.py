"""The transformer configuration of a build: built-in field specs plus ``configurations`` files.

Callers: the target builder (one config per build, extended by every kustomization's
``configurations`` and ``crds``) and the transformers that read it. Merging appends and de-duplicates,
as Kustomize merges its TransformerConfig.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from renderers.kustomize import builtins as b
from renderers.kustomize.errors import as_list, fail
from renderers.kustomize.fieldspec import FieldSpec, dedupe, parse_all
from renderers.kustomize.resource import Gvk

LIST_KEYS = {"namePrefix": "name_prefix", "nameSuffix": "name_suffix", "namespace": "namespace",
             "commonLabels": "common_labels", "templateLabels": "template_labels",
             "commonAnnotations": "common_annotations", "varReference": "var_reference",
             "images": "images", "replicas": "replicas", "labels": "labels", "nameReference": ""}


@dataclass
class Config:
    name_prefix: list[FieldSpec] = field(default_factory=lambda: b.specs(b.NAME_PREFIX))
    name_suffix: list[FieldSpec] = field(default_factory=lambda: b.specs(b.NAME_PREFIX))
    namespace: list[FieldSpec] = field(default_factory=lambda: b.specs(b.NAMESPACE))
    common_labels: list[FieldSpec] = field(default_factory=lambda: b.specs(b.COMMON_LABELS))
    template_labels: list[FieldSpec] = field(default_factory=lambda: b.specs(b.TEMPLATE_LABELS))
    common_annotations: list[FieldSpec] = field(default_factory=lambda: b.specs(b.COMMON_ANNOTATIONS))
    var_reference: list[FieldSpec] = field(default_factory=lambda: b.specs(b.VAR_REFERENCES))
    images: list[FieldSpec] = field(default_factory=list)
    replicas: list[FieldSpec] = field(default_factory=lambda: b.specs(b.REPLICAS))
    name_reference: list[tuple[Gvk, list[FieldSpec]]] = field(default_factory=lambda: [
        (b.parse_gvk(t), b.specs(refs)) for t, refs in b.NAME_REFERENCES.items()])
    labels: list[FieldSpec] = field(default_factory=list)
    # What was merged in ("default", or a configuration file's content digest): merging the same
    # source twice changes nothing, so it is skipped (builds merge the defaults once per directory).
    sources: frozenset[str] = frozenset({"default"})

    def copy(self) -> Config:
        return Config(list(self.name_prefix), list(self.name_suffix), list(self.namespace),
                      list(self.common_labels), list(self.template_labels), list(self.common_annotations),
                      list(self.var_reference), list(self.images), list(self.replicas),
                      [(g, list(s)) for g, s in self.name_reference], list(self.labels), self.sources)

    def merge(self, other: Config) -> None:
        if other.sources <= self.sources:
            return
        if not self.sources:
            merged = other.copy()
            self.__dict__.update(merged.__dict__)
            return
        self.sources = self.sources | other.sources
        for attr in LIST_KEYS.values():
            if attr:
                setattr(self, attr, merge_specs(getattr(self, attr), getattr(other, attr)))
        for gvk, refs in other.name_reference:
            self.add_name_reference(gvk, refs)

    def add_name_reference(self, gvk: Gvk, refs: list[FieldSpec]) -> None:
        for i, (known, have) in enumerate(self.name_reference):
            if known == gvk:
                self.name_reference[i] = (known, dedupe([*have, *refs]))
                return
        self.name_reference.append((gvk, list(refs)))


def merge_specs(have: list[FieldSpec], incoming: list[FieldSpec]) -> list[FieldSpec]:
    """Append new specs; a more specific spec for the same path replaces a kind-less one (as Kustomize
    does: a custom ``namePrefix`` spec for one kind stops the prefix applying to every kind)."""
    out = list(have)
    for spec in incoming:
        same = [i for i, s in enumerate(out) if s.path == spec.path and (s.gvk == spec.gvk or not s.gvk.kind)]
        if same:
            out[same[0]] = spec
        else:
            out.append(spec)
    return dedupe(out)


def empty(source: str = "") -> Config:
    return Config([], [], [], [], [], [], [], [], [], [], [], frozenset({source}) if source else frozenset())


@lru_cache(maxsize=1)
def _default() -> Config:
    return Config()


def defaults() -> Config:
    """The built-in configuration (parsed once, copied per use)."""
    return _default().copy()


def parse(data: Any, source: object) -> Config:
    """A ``configurations`` file."""
    if data is None:
        return empty()
    if not isinstance(data, dict):
        raise fail("a transformer configuration must be a map", source)
    cfg = empty(hashlib.sha256(repr(data).encode()).hexdigest())
    for key, value in data.items():
        if key not in LIST_KEYS:
            raise fail(f"unknown transformer configuration field '{key}'", source, str(key))
        if key == "nameReference":
            for entry in as_list(value, source, key):
                if not isinstance(entry, dict):
                    raise fail("a nameReference entry must be a map", source, key)
                gvk = Gvk(str(entry.get("group") or ""), str(entry.get("version") or ""),
                          str(entry.get("kind") or ""))
                cfg.add_name_reference(gvk, parse_all(entry.get("fieldSpecs"), source))
            continue
        setattr(cfg, LIST_KEYS[key], parse_all(value, source))
    return cfg
