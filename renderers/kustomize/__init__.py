"""A Kustomize-compatible renderer in pure Python: ``build(path) -> list[dict]``.

Callers: ``renderers.api`` (renderer "kustomize"), the ``gitops kustomize`` CLI, the benchmark. The
output matches ``kubectl kustomize`` (Kustomize v5.5): the same documents in the same order. Steps:
accumulate the kustomization tree (:mod:`.target`), add name hashes to generated objects, repair name
references, resolve vars, drop local-config objects, sort. Every failure is a ``RenderError`` naming
the file and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from renderers.errors import RenderError
from renderers.kustomize import hasher, nameref, order, target, vars
from renderers.kustomize.errors import fail
from renderers.kustomize.loader import Loader
from renderers.kustomize.options import NO_RESTRICTION, ROOT_ONLY, KustomizeOptions
from renderers.kustomize.resource import ResMap

__all__ = ["KustomizeOptions", "build", "ROOT_ONLY", "NO_RESTRICTION"]

LOCAL_CONFIG = "config.kubernetes.io/local-config"


def build(path: Path | str, options: KustomizeOptions | None = None) -> list[dict[str, Any]]:
    """The manifests of the kustomization in ``path``, in ``kubectl kustomize`` order."""
    options = options or KustomizeOptions()
    if options.load_restrictor not in (ROOT_ONLY, NO_RESTRICTION):
        raise fail(f"unknown load restrictor {options.load_restrictor!r}")
    try:
        loader = Loader.top(Path(path), options)
        acc, k = target.accumulate(loader, top=True)
        _add_hashes(acc.resmap)
        nameref.fix_references(acc.resmap, acc.cfg)
        vars.resolve(acc.resmap, acc.vars, acc.cfg.var_reference)
        kept = [r for r in acc.resmap if str(r.annotations().get(LOCAL_CONFIG, "")) != "true"]
        ordered = order.apply_sort_options(kept, k.map("sortOptions"), str(k.path))
        return [r.obj for r in ordered]
    except RenderError:
        raise
    except RecursionError as exc:
        raise fail("kustomization nested too deeply") from exc


def _add_hashes(resmap: ResMap) -> None:
    for res in resmap:
        if res.needs_hash:
            suffix = hasher.suffix(res.obj)
            res.store_previous()
            res.name = f"{res.name}-{suffix}"
