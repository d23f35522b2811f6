"""Resources with identity history, and the ordered resource map a build accumulates.

Callers: every transformer, generator and the target builder. Kustomize identifies an object by
group/version/kind/namespace/name and remembers the ids an object had before a transformer renamed it
(prefix, suffix, hash, patch); name references are repaired from that history. Design choice: the
history lives on a small mutable wrapper around the plain manifest dict, never inside the manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from renderers import budget
from renderers.k8s.schema import resources as catalog
from renderers.kustomize.clone import clone
from renderers.kustomize.errors import fail
from renderers.kustomize.labelsel import matches


@dataclass(frozen=True)
class Gvk:
    group: str = ""
    version: str = ""
    kind: str = ""

    @classmethod
    def of(cls, api_version: str, kind: str) -> Gvk:
        return _gvk_of(api_version, kind)

    def selected_by(self, sel: Gvk) -> bool:
        return ((not sel.group or sel.group == self.group)
                and (not sel.version or sel.version == self.version)
                and (not sel.kind or sel.kind == self.kind))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def sort_key(self) -> str:
        return "_".join((self.group or "~G", self.version or "~V", self.kind or "~K"))


@lru_cache(maxsize=4096)
def _gvk_of(api_version: str, kind: str) -> Gvk:
    group, _, version = api_version.rpartition("/")
    return Gvk(group, version, kind)


@lru_cache(maxsize=1)
def _cluster_scoped() -> frozenset[tuple[str, str]]:
    return frozenset((r.group, r.kind) for r in catalog() if not r.namespaced)


@lru_cache(maxsize=1)
def _known_kinds() -> frozenset[tuple[str, str, str]]:
    return frozenset((r.group, r.version, r.kind) for r in catalog())


def builtin_kind(gvk: Gvk) -> bool:
    """A kind of the built-in catalog (whose scope Kustomize knows without reading any schema)."""
    return (gvk.group, gvk.version, gvk.kind) in _known_kinds()


def cluster_scoped(gvk: Gvk) -> bool:
    return (gvk.group, gvk.kind) in _cluster_scoped()


@dataclass(frozen=True)
class ResId:
    gvk: Gvk
    namespace: str
    name: str

    def effective_ns(self) -> str:
        if cluster_scoped(self.gvk):
            return "_cluster_"
        return self.namespace or "default"

    def key(self) -> tuple[Gvk, str, str]:
        return self.gvk, self.effective_ns(), self.name

    def same(self, other: ResId) -> bool:
        return (self.gvk == other.gvk and self.name == other.name
                and self.effective_ns() == other.effective_ns())

    def __str__(self) -> str:
        ns = self.namespace or "[noNs]"
        return f"{self.gvk.kind}.{self.gvk.version}.{self.gvk.group or '[noGrp]'}/{self.name}.{ns}"


@dataclass(eq=False)
class Resource:
    """One manifest plus what Kustomize tracks about it."""

    obj: dict[str, Any]
    prev: list[ResId] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    suffixes: list[str] = field(default_factory=list)
    behavior: str = ""
    needs_hash: bool = False
    source: str = ""
    origin: dict[str, Any] | None = None
    document: int | None = None  # its document in ``origin["path"]``, from 0 (a List's items share it)
    transformations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
            self.obj["metadata"] = meta
        return meta

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def gvk(self) -> Gvk:
        return Gvk.of(str(self.obj.get("apiVersion") or ""), self.kind)

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or "")

    @name.setter
    def name(self, value: str) -> None:
        self.meta["name"] = value

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace") or "")

    def cur_id(self) -> ResId:
        return ResId(self.gvk, self.namespace, self.name)

    def org_id(self) -> ResId:
        return self.prev[0] if self.prev else self.cur_id()

    def all_ids(self) -> list[ResId]:
        return [*self.prev, self.cur_id()]

    def store_previous(self) -> None:
        self.prev.append(self.cur_id())

    def labels(self) -> dict[str, Any]:
        labels = self.meta.get("labels")
        return labels if isinstance(labels, dict) else {}

    def annotations(self) -> dict[str, Any]:
        annotations = self.meta.get("annotations")
        return annotations if isinstance(annotations, dict) else {}

    def copy(self) -> Resource:
        return Resource(clone(self.obj), list(self.prev), list(self.prefixes), list(self.suffixes),
                        self.behavior, self.needs_hash, self.source, clone(self.origin), self.document,
                        clone(self.transformations))


class ResMap:
    """Resources in insertion order; ids are unique by current id."""

    def __init__(self, items: list[Resource] | None = None) -> None:
        self.items: list[Resource] = list(items or [])

    def __iter__(self) -> Any:
        return iter(list(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def append(self, res: Resource) -> None:
        self.extend(ResMap([res]))

    def extend(self, other: ResMap) -> None:
        """Append every resource of ``other``; an id already present is an error."""
        keys = {r.cur_id().key() for r in self.items}
        for res in other.items:
            cur = res.cur_id()
            if cur.key() in keys:
                raise fail(f"may not add resource with an already registered id: {cur}", res.source)
            keys.add(cur.key())
            self.items.append(res)
        if other.items:  # a diamond of bases multiplies objects long before the output exists
            budget.check_objects(len(self.items), other.items[-1].source)

    def remove(self, res: Resource) -> None:
        self.items = [r for r in self.items if r is not res]

    def replace(self, old: Resource, new: Resource) -> None:
        self.items = [new if r is old else r for r in self.items]

    def by_any_id(self, rid: ResId) -> list[Resource]:
        return [r for r in self.items if any(i.same(rid) for i in r.all_ids())]

    def get_by_id(self, rid: ResId, what: str) -> Resource:
        found = self.by_any_id(rid)
        if len(found) == 1:
            return found[0]
        if not found:
            raise fail(f"no matches for Id {rid}; failed to find unique target for {what}")
        raise fail(f"multiple matches for Id {rid}; failed to find unique target for {what}")

    def select(self, sel: dict[str, Any]) -> list[Resource]:
        return [r for r in self.items if selector_matches(r, sel)]


def _name_match(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return pattern == value


SELECTOR_FIELDS = ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")


def check_selector(sel: Any, where: object, what: str) -> dict[str, Any]:
    """A target selector whose fields are strings, as Kustomize decodes them."""
    if not isinstance(sel, dict):
        raise fail(f"a {what} must be a map", where, what)
    for key in SELECTOR_FIELDS:
        if sel.get(key) is not None and not isinstance(sel[key], str):
            raise fail(f"cannot unmarshal {type(sel[key]).__name__} into field {what}.{key} of type string",
                       where, f"{what}.{key}")
    return sel


def selector_matches(res: Resource, sel: dict[str, Any], *, any_id: bool = False) -> bool:
    """Kustomize's patch/replacement target selector (names and namespaces are anchored regexes).
    Patches look at the original and current ids; replacements (``any_id``) at every id the object had."""
    org, cur = res.org_id(), res.cur_id()
    if any_id:
        return any(selector_matches(Resource(res.obj, prev=[i]), sel) for i in res.all_ids())
    ns = sel.get("namespace")
    if ns and not (_name_match(str(ns), org.effective_ns()) or _name_match(str(ns), cur.effective_ns())
                   or _name_match(str(ns), org.namespace) or _name_match(str(ns), cur.namespace)):
        return False
    name = sel.get("name")
    if name and not (_name_match(str(name), org.name) or _name_match(str(name), cur.name)):
        return False
    want = Gvk(str(sel.get("group") or ""), str(sel.get("version") or ""), str(sel.get("kind") or ""))
    if want.kind and not _name_match(want.kind, res.kind):
        return False
    if not res.gvk.selected_by(Gvk(want.group, want.version, "")):
        return False
    if sel.get("labelSelector") and not matches(str(sel["labelSelector"]), res.labels()):
        return False
    return not (sel.get("annotationSelector")
                and not matches(str(sel["annotationSelector"]), res.annotations()))
