"""A Kustomize-compatible renderer in pure Python: ``build(path) -> list[dict]``.

Callers: ``renderers.api`` (renderer "kustomize"), the ``gitops kustomize`` CLI, the benchmark. The
output matches ``kubectl kustomize`` (Kustomize v5.5): the same documents in the same order. Steps:
accumulate the kustomization tree (:mod:`.target`), add name hashes to generated objects, repair name
references, resolve vars, drop local-config objects, sort. Every failure is a ``RenderError`` naming
the file and field.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from renderers import budget
from renderers.errors import RenderError
from renderers.kustomize import hasher, nameref, order, target, vars
from renderers.kustomize.errors import fail
from renderers.kustomize.loader import Dep, Loader, shown_ref
from renderers.kustomize.loader import clear_cache as _clear_parses
from renderers.kustomize.options import NO_RESTRICTION, ROOT_ONLY, KustomizeOptions
from renderers.kustomize.resource import ResMap, Resource
from renderers.manifest import locate

__all__ = ["KustomizeOptions", "build", "clear_caches", "ROOT_ONLY", "NO_RESTRICTION"]

LOCAL_CONFIG = "config.kubernetes.io/local-config"
ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
MANAGED_BY = "app.kubernetes.io/managed-by"
BUILD_METADATA = ("originAnnotations", "transformerAnnotations", "managedByLabel")


def build(path: Path | str, options: KustomizeOptions | None = None) -> list[dict[str, Any]]:
    """The manifests of the kustomization in ``path``, in ``kubectl kustomize`` order. Counted
    against the render's budget (:mod:`renderers.budget`; the default budget when called alone)."""
    if budget.active() is None:
        with budget.metering():
            return build(path, options)
    options = options or KustomizeOptions()
    if options.load_restrictor not in (ROOT_ONLY, NO_RESTRICTION):
        raise fail(f"unknown load restrictor {options.load_restrictor!r}")
    if options.remote_loader is not None:
        options = dataclasses.replace(options, remote_loader=_once_per_build(options.remote_loader))
    try:
        loader = Loader.top(Path(path), options)
        acc, k = target.accumulate(loader, top=True)
        _add_hashes(acc.resmap)
        nameref.fix_references(acc.resmap, acc.cfg)
        vars.resolve(acc.resmap, acc.vars, acc.cfg.var_reference)
        kept = [r for r in acc.resmap if str(r.annotations().get(LOCAL_CONFIG, "")) != "true"]
        for res in kept:  # Kustomize rewrites every object's annotations as a string map
            if "annotations" in res.meta and not isinstance(res.meta["annotations"], dict):
                del res.meta["annotations"]
            if isinstance(res.meta.get("annotations"), dict):
                res.meta["annotations"] = {str(k): target.go_text(v) for k, v in res.annotations().items()}
                if not res.meta["annotations"]:
                    del res.meta["annotations"]
        ordered = order.apply_sort_options(kept, k.data.get("sortOptions"), str(k.path))
        _build_metadata(ordered, k.list("buildMetadata"), str(k.path), loader.cwd)
        if options.locations:
            _locate(ordered, (options.root or loader.cwd).resolve(), loader.deps)
        budget.check_objects(len(ordered), str(k.path))
        return [r.obj for r in ordered]
    except RenderError:
        raise
    except RecursionError as exc:
        raise fail("kustomization nested too deeply") from exc
    except Exception as exc:  # a bug of ours must still reach the engine as a render failure
        raise fail(f"internal error: {type(exc).__name__}: {exc}", path) from exc


def clear_caches() -> None:
    """Forget every cached parse and built base (benchmarks and tests start cold with this)."""
    _clear_parses()
    target.clear_cache()


def _once_per_build(remote: Callable[[str], Path]) -> Callable[[str], Path]:
    """Each remote URL resolved once per build: one snapshot of a remote base for the whole build,
    and one Git round trip however many bases (or cache checks) name it."""
    seen: dict[str, Path] = {}

    def resolve(url: str) -> Path:
        if url not in seen:
            seen[url] = remote(url)
        return seen[url]
    return resolve


def _relative(entry: dict[str, Any], top: Path) -> dict[str, Any]:
    out = dict(entry)
    for key in ("path", "configuredIn"):
        if key in out:
            out[key] = os.path.relpath(out[key], top)
    return out


def _build_metadata(items: list[Resource], wanted: list[Any], where: str, top: Path) -> None:
    unknown = [w for w in wanted if w not in BUILD_METADATA]
    if unknown:
        raise fail(f"invalid buildMetadata option: {unknown[0]}", where, "buildMetadata")
    for res in items:
        if "originAnnotations" in wanted and res.origin:
            res.meta.setdefault("annotations", {})[ORIGIN] = _yaml(_relative(res.origin, top))
        if "transformerAnnotations" in wanted and res.transformations:
            res.meta.setdefault("annotations", {})[TRANSFORMATIONS] = _yaml(
                [_relative(t, top) for t in res.transformations])
        if "managedByLabel" in wanted:
            # kubectl's embedded Kustomize has no release version of its own (kubernetes/kubectl#1495)
            res.meta.setdefault("labels", {})[MANAGED_BY] = "kustomize-(devel)"


def _locate(items: list[Resource], root: Path, deps: list[Dep]) -> None:
    """Each object's file and document (kyaml's path and index annotations). A file of the snapshot is
    named relative to ``root``; a file of a remote base by the base's reference as errors quote it
    (:func:`shown_ref`) with the file inserted into its path (``cm.yaml`` of ``https://h/r.git//web?ref=v1``
    is ``https://h/r.git//web/cm.yaml?ref=v1``). A generated object is named by the kustomization that
    generated it, without a document; an object without an origin is not located. The innermost
    directory holding the file names it (so a remote base's own remote bases name theirs)."""
    homes = [(root, None)] + [(Path(real), ref) for kind, ref, real in deps if kind == "remote"]
    homes.sort(key=lambda home: len(home[0].parts), reverse=True)  # stable: the first URL of a directory
    for res in items:
        origin = res.origin or {}
        file = origin.get("path") or origin.get("configuredIn")
        if not isinstance(file, str):
            continue
        home = next(((d, ref) for d, ref in homes if Path(file).is_relative_to(d)), None)
        if home is None:
            continue
        inside = Path(file).relative_to(home[0]).as_posix()
        where = inside if home[1] is None else _in_remote(home[1], inside)
        locate(res.obj, where, res.document if "path" in origin else None)


def _in_remote(ref: str, file: str) -> str:
    """``file`` of the remote base ``ref``, named as its redacted reference with the file in its path."""
    shown = shown_ref(ref)
    cut = min([i for i in (shown.find("?"), shown.find("#")) if i >= 0] or [len(shown)])
    return f"{shown[:cut].rstrip('/')}/{file}{shown[cut:]}"


def _yaml(value: Any) -> str:
    return str(yaml.safe_dump(value, sort_keys=False, default_flow_style=False, width=10**6))


def _add_hashes(resmap: ResMap) -> None:
    for res in resmap:
        if res.needs_hash:
            suffix = hasher.suffix(res.obj)
            res.store_previous()
            res.name = f"{res.name}-{suffix}"
