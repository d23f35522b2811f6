"""Name references: after renames (prefix, suffix, hash, patches) repair every field that names
another object (a Deployment's ConfigMap volume, a RoleBinding's roleRef and subjects, ...).

Callers: the target builder, once, after hashes were added to generated names. The field table comes
from the build's transformer configuration. Candidate selection follows Kustomize: a referral target
must have had the referenced name, be of the target kind, be reachable from the referrer's namespace,
and ties are broken by identical prefix/suffix history; a remaining tie is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renderers.kustomize.config import Config
from renderers.kustomize.errors import fail
from renderers.kustomize.fieldspec import FieldSpec, split_path, walk
from renderers.kustomize.resource import Gvk, ResId, ResMap, Resource, cluster_scoped

Sieve = Callable[[Resource], bool]


def fix_references(resmap: ResMap, cfg: Config) -> None:
    ids = [(r, rid, rid.effective_ns()) for r in resmap for rid in (r.cur_id(),)]
    by_prev_name: dict[str, set[int]] = {}
    for res in resmap:
        for prev in res.prev:
            by_prev_name.setdefault(prev.name, set()).add(id(res))
    by_kind: dict[str, list[tuple[Gvk, FieldSpec]]] = {}
    for referrer in resmap:
        org = referrer.org_id().gvk
        if org.kind not in by_kind:
            by_kind[org.kind] = [(target, spec) for target, specs in cfg.name_reference for spec in specs
                                 if not spec.gvk.kind or spec.gvk.kind == org.kind]
        filters = [(t, s) for t, s in by_kind[org.kind] if org.selected_by(s.gvk)]
        if not filters:
            continue
        candidates = _reachable(ids, referrer)
        for target, spec in filters:
            _Fixer(referrer, target, spec, candidates, by_prev_name).run()


def _subject_namespaces(referrer: Resource) -> set[str]:
    if referrer.kind not in ("RoleBinding", "ClusterRoleBinding"):
        return set()
    subjects = referrer.obj.get("subjects")
    if not isinstance(subjects, list):
        return set()
    return {str(s.get("namespace")) for s in subjects if isinstance(s, dict)
            and s.get("kind") == "ServiceAccount" and s.get("namespace")}


def _reachable(ids: list[tuple[Resource, ResId, str]], referrer: Resource) -> list[Resource]:
    """Objects the referrer may name: cluster-scoped ones, its namespace's, its subjects' namespaces'."""
    ref_id = referrer.cur_id()
    if cluster_scoped(ref_id.gvk):
        return [r for r, _, _ in ids]
    namespaces = _subject_namespaces(referrer)
    own = ref_id.effective_ns()
    return [res for res, _, ns in ids if ns in ("_cluster_", own) or res.namespace in namespaces]


def _affixes_match(res: Resource, other: Resource, *, allow_empty: bool) -> bool:
    """Kustomize's ``PrefixesSuffixesEquals``."""
    return all((allow_empty and (not mine or not theirs)) or _same_ending(mine, theirs)
               for mine, theirs in ((res.prefixes, other.prefixes), (res.suffixes, other.suffixes)))


def _same_ending(a: list[str], b: list[str]) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if not short:
        return not long
    return long[len(long) - len(short):] == short


class _Fixer:
    def __init__(self, referrer: Resource, target: Gvk, spec: FieldSpec, candidates: list[Resource],
                 by_prev_name: dict[str, set[int]]) -> None:
        self.referrer, self.target, self.spec, self.candidates = referrer, target, spec, candidates
        self.by_prev_name = by_prev_name

    def run(self) -> None:
        parts = split_path(self.spec.path)
        if parts and parts[0].removesuffix("[]") in self.referrer.obj:
            walk(self.referrer.obj, parts, False, self.set)

    def set(self, parent: dict[str, Any], key: str) -> None:
        value = parent.get(key)
        if isinstance(value, str):
            parent[key] = self.scalar(value)
        elif isinstance(value, dict):
            self.mapping(value)
        elif isinstance(value, list):
            for i, elem in enumerate(value):
                if isinstance(elem, str):
                    value[i] = self.scalar(elem)
                elif isinstance(elem, dict):
                    self.mapping(elem)

    def scalar(self, old: str) -> str:
        referral = self.select(old, self.candidates, with_ns=False)
        return referral.name if referral is not None else old

    def mapping(self, node: dict[str, Any]) -> None:
        if "name" not in node:
            raise fail("path config error; no 'name' field in node", field=self.spec.path)
        candidates = self.candidates
        if "namespace" in node and not node["namespace"]:
            raise fail(f"Invalid Input: namespace is blank for resource {self.referrer.cur_id()}",
                       self.referrer.source, self.spec.path)
        if "namespace" in node:
            ns = str(node["namespace"] or "") or "default"
            candidates = [r for r in self.candidates if r.org_id().effective_ns() == ns]
            if not candidates:
                candidates = [r for r in self.candidates if r.cur_id().effective_ns() == ns]
        old = str(node["name"])
        referral = self.select(old, candidates, with_ns=True)
        if referral is None or (referral.name == old and not referral.namespace):
            return
        node["name"] = referral.name
        if referral.namespace:
            node["namespace"] = referral.namespace

    def _role_ref(self) -> Gvk | None:
        if not self.spec.path.endswith("roleRef/name"):
            return None
        ref = self.referrer.obj.get("roleRef")
        if not isinstance(ref, dict) or "apiGroup" not in ref or "kind" not in ref:
            return None
        return Gvk(str(ref["apiGroup"] or ""), "", str(ref["kind"]))

    def _same_ns(self, res: Resource) -> bool:
        if (cluster_scoped(self.referrer.cur_id().gvk) or cluster_scoped(res.gvk)
                or res.kind == "ServiceAccount"):
            return True
        return res.cur_id().effective_ns() == self.referrer.cur_id().effective_ns()

    def select(self, old: str, candidates: list[Resource], *, with_ns: bool) -> Resource | None:
        named = self.by_prev_name.get(old)
        if not named:
            return None
        role = self._role_ref()
        found = [r for r in candidates if id(r) in named
                 and any(i.gvk.selected_by(self.target) for i in r.prev)
                 and (role is None or any(i.gvk.selected_by(role) for i in r.prev)) and self._same_ns(r)]
        if len(found) == 1:
            return found[0]
        # Kustomize sieves twice: first an empty prefix (suffix) history matches any, then exactly
        found = [r for r in found if _affixes_match(r, self.referrer, allow_empty=True)]
        if len(found) > 1:
            found = [r for r in found if _affixes_match(r, self.referrer, allow_empty=False)]
        if len(found) == 1:
            return found[0]
        if not found:
            return None
        if all(r.name == found[0].name and (not with_ns or r.namespace == found[0].namespace) for r in found):
            return found[0]
        ids = ", ".join(str(r.cur_id()) for r in found)
        raise fail(f"found multiple possible referrals: {ids}", self.referrer.source, self.spec.path)
