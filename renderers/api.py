"""The one entry point for rendering: ``render(RenderRequest(...)) -> list[dict]``.

Called by the engine (``gitops.engine``) and the CLI with a snapshot root, the application directory
inside it, the renderer name, the renderer's options and the per-cluster parameters. It confines the
application path to the snapshot (no ``..``, no absolute path, no symlink escape), dispatches to the
renderer, and checks the common output shape (apiVersion, kind, metadata.name; no duplicate objects).

Key design choices: the renderers are plain functions ``(root, app_dir, options, parameters)`` in a
table; this module owns the boundary checks so each renderer only checks its own options. Every
render runs under one :class:`renderers.budget.Budget` (``RenderRequest.budget``), in a
resource-limited worker process from a warm pool (:mod:`renderers.isolation`): CPU and memory are
bounded by the kernel, objects, output bytes and YAML nodes by in-process counters. The
``*_in_process`` functions are what a worker runs (the counters apply, the kernel limits do not).
Every failure, including an unexpected OS error, leaves as :class:`renderers.errors.RenderError`
naming the file and field (:class:`renderers.budget.BudgetExceeded` naming the budget); nothing is
returned half-rendered.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from renderers import budget as budgets
from renderers import isolation, jinja, plain
from renderers.budget import Budget
from renderers.errors import RenderError
from renderers.manifest import Manifest, check_unique, from_documents

RendererFn = Callable[[Path, Path, Mapping[str, Any], Mapping[str, Any]], list[Manifest]]


class RendererKind(StrEnum):
    """The renderers an application can name in ``source.renderer``."""

    KUSTOMIZE = "kustomize"
    JINJA = "jinja"
    PLAIN = "plain"
    HELM = "helm"


@dataclass(frozen=True)
class RenderRequest:
    """What to render: ``path`` (relative, inside ``root``) with ``renderer``, options and parameters.

    ``root`` is the snapshot root and the load boundary. ``parameters`` are the per-cluster values
    (see :func:`cluster_parameters`); ``options`` are the renderer's own settings.
    """

    root: Path
    path: str
    renderer: str
    options: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # Fetches Kustomize remote bases (URL -> local directory); None rejects them with a clear error.
    # Called in this process (the render's worker asks for each URL it meets).
    remote_loader: Callable[[str], Path] | None = None
    # What the render may use (None: renderers.budget.DEFAULT); see docs/renderers.md.
    budget: Budget | None = None


def cluster_parameters(*, cluster: str, labels: Mapping[str, str] | None = None,
                       application: str | None = None, namespace: str | None = None,
                       parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The standard parameters mapping: application parameters plus the reserved keys ``cluster``
    (``{"name", "labels"}``), ``application`` and ``namespace``, which win over parameters of the
    same name."""
    out: dict[str, Any] = dict(parameters or {})
    out["cluster"] = {"name": cluster, "labels": dict(labels or {})}
    out["application"] = application
    out["namespace"] = namespace
    return out


def _plain(root: Path, app_dir: Path, options: Mapping[str, Any], parameters: Mapping[str, Any]
           ) -> list[Manifest]:
    return plain.render(root, app_dir, options)


def _helm(root: Path, app_dir: Path, options: Mapping[str, Any], parameters: Mapping[str, Any]
          ) -> list[Manifest]:
    from renderers.helm import render as render_chart  # lazy: the helm extra is optional

    return render_chart(root, app_dir, options, parameters)


KUSTOMIZE_OPTIONS = frozenset({"load_restrictor"})


def _kustomize(root: Path, app_dir: Path, options: Mapping[str, Any], parameters: Mapping[str, Any],
               remote_loader: Callable[[str], Path] | None = None) -> list[Manifest]:
    plain.check_keys(options, KUSTOMIZE_OPTIONS, "kustomize")
    restrictor = plain.opt_str(options, "load_restrictor", "RootOnly")
    if restrictor not in ("RootOnly", "None"):
        raise RenderError(f"must be RootOnly or None, got {restrictor!r}", field="options.load_restrictor")
    try:  # looked up at call time: renderers.kustomize is its own package, written separately
        kustomize = importlib.import_module("renderers.kustomize")
        build, kustomize_options = kustomize.build, kustomize.KustomizeOptions
    except (ImportError, AttributeError) as exc:
        raise RenderError(f"the kustomize renderer is not available: {exc}", field="renderer") from exc
    opts = kustomize_options(load_restrictor=restrictor, root=root, remote_loader=remote_loader,
                             locations=True)
    docs = build(app_dir, opts)
    # the build located each object by its own file; a document index here would be the output's
    return from_documents(docs, f"{plain.display(root, app_dir)}/kustomization", located=False)


RENDERERS: dict[str, RendererFn] = {
    RendererKind.KUSTOMIZE: _kustomize,
    RendererKind.JINJA: jinja.render,
    RendererKind.PLAIN: _plain,
    RendererKind.HELM: _helm,
}


def _root(root: Path) -> Path:
    try:
        real = Path(root).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise RenderError(f"snapshot root {str(root)!r} is not readable: {exc}", field="root") from exc
    if not real.is_dir():
        raise RenderError(f"snapshot root {str(root)!r} is not a directory", field="root")
    return real


def render(request: RenderRequest) -> list[Manifest]:
    """The manifests of one application for one cluster, rendered in a pooled worker process under
    ``request.budget``; a RenderError (BudgetExceeded naming the budget) on any failure."""
    limits = request.budget or budgets.DEFAULT
    # the worker has a working directory of its own: relative roots are the caller's
    root = Path(os.path.abspath(request.root))
    job = ("render", dataclasses.replace(request, root=root, remote_loader=None, budget=limits))
    result: list[Manifest] = isolation.run(job, limits, request.remote_loader)
    return result


def warm(count: int = 1) -> None:
    """Start ``count`` render workers now, so the first render does not pay for starting one (about a
    quarter of a second: an interpreter importing the renderers). A long-running engine calls this
    where its process starts (the Celery worker process)."""
    isolation.warm(count)


def build_kustomization(path: Path, load_restrictor: str = "RootOnly", budget: Budget | None = None
                        ) -> list[dict[str, Any]]:
    """``kubectl kustomize DIR``: the documents of the kustomization in ``path`` (no snapshot fence,
    no remote bases), built in a pooled worker process under ``budget``. For ``gitops kustomize``."""
    limits = budget or budgets.DEFAULT
    job = ("kustomize", os.path.abspath(path), load_restrictor, limits)  # relative to the caller's cwd
    result: list[dict[str, Any]] = isolation.run(job, limits)
    return result


def render_in_process(request: RenderRequest, *, remote_loader: Callable[[str], Path] | None = None,
                      check_output: bool = True) -> list[Manifest]:
    """:func:`render` in the calling process: the object, output and YAML-node budgets apply, the CPU
    and memory budgets do not (that is what the worker process is for). ``remote_loader`` overrides
    the request's; ``check_output=False`` leaves the output budget to the caller (the worker checks
    it while serialising the reply)."""
    limits = request.budget or budgets.DEFAULT
    with budgets.metering(limits) as meter:
        manifests = _render(request, remote_loader or request.remote_loader)
        meter.check_objects(len(manifests), request.path)
        if check_output:
            isolation.encode(manifests, limits)
    return manifests


def build_kustomization_in_process(path: Path, load_restrictor: str, budget: Budget | None = None, *,
                                   check_output: bool = True) -> list[dict[str, Any]]:
    """:func:`build_kustomization` in the calling process (see :func:`render_in_process`)."""
    # lazy (no cycle): renders run in the pooled worker, so the engine's own process never loads kustomize
    from renderers.kustomize import KustomizeOptions, build

    limits = budget or budgets.DEFAULT
    with budgets.metering(limits):
        docs = build(path, KustomizeOptions(load_restrictor=load_restrictor))
        if check_output:
            isolation.encode(docs, limits)
    return docs


def _render(request: RenderRequest, remote_loader: Callable[[str], Path] | None) -> list[Manifest]:
    fn = RENDERERS.get(str(request.renderer))
    if fn is None:
        known = ", ".join(sorted(RENDERERS))
        raise RenderError(f"unknown renderer {request.renderer!r} (known: {known})", field="renderer")
    if not isinstance(request.parameters, Mapping):
        raise RenderError("parameters must be a mapping", field="parameters")
    root = _root(request.root)
    app_dir = plain.app_directory(root, request.path or ".")
    try:
        manifests = (_kustomize(root, app_dir, request.options, request.parameters, remote_loader)
                     if fn is _kustomize else fn(root, app_dir, request.options, request.parameters))
    except RenderError:
        raise
    except OSError as exc:
        name = plain.display(root, Path(exc.filename)) if exc.filename else request.path
        raise RenderError(f"cannot read: {exc.strerror or exc}", path=name) from exc
    except Exception as exc:  # a renderer bug must still surface as a located RenderError
        raise RenderError(f"{request.renderer} renderer failed: {type(exc).__name__}: {exc}",
                          path=request.path) from exc
    check_unique(manifests)
    return manifests
