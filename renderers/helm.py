"""The Helm renderer: a chart in the repository rendered in-process with ``helm-python-sdk``.

Called by ``renderers.api.render`` as ``render(root, app_dir, options, parameters)``. The chart is
``options.chart`` (default: the application directory itself); values are layered, later wins:
chart ``values.yaml`` < ``values_files`` (in order) < inline ``values`` < the per-cluster
``parameters``. The release name defaults to ``parameters["application"]`` (else the chart name) and
the namespace to ``parameters["namespace"]`` (else ``default``). Rendering is offline (``lookup``
returns nothing); ``NOTES.txt`` is dropped, CRDs from ``crds/`` come first unless ``include_crds:
false``, and test hooks are dropped unless ``skip_tests: false``.

Key design choice: Helm's loader follows symlinks and reads whatever is under the chart directory,
so before handing the directory to Helm we walk it ourselves: every entry must be a regular file or
directory resolving inside the snapshot, within the file-count and byte budgets. Helm's errors are
translated once into RenderError with the template file and line parsed from Helm's message. The
``helm`` extra is optional: without it, a clear RenderError says how to install it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from renderers import plain, yamlio
from renderers.errors import RenderError
from renderers.manifest import Manifest, from_documents

OPTIONS = frozenset({"chart", "values_files", "values", "release_name", "namespace", "include_crds",
                     "skip_tests"})
HOOK_ANNOTATION = "helm.sh/hook"
_HELM_LOCATION = re.compile(r"template: ([^\s:]+):(\d+)(?::\d+)?:")


def _helm() -> Any:
    try:
        import helm_python
    except (ImportError, OSError) as exc:
        raise RenderError("the helm renderer needs the 'helm' extra: pip install 'gitops-engine-py[helm]' "
                          f"({exc})", field="renderer") from exc
    return helm_python


def check_chart_tree(root: Path, chart_dir: Path) -> None:
    """Refuse a chart directory holding symlink escapes, special files or too much data."""
    count = 0
    total = 0
    for current, dirs, files in os.walk(chart_dir, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(current) / name
            source = plain.display(root, path)
            real = plain.inside(root, path, source=source)
            info = real.stat()
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise RenderError("not a regular file (FIFO, device or socket) in the chart", path=source)
            count += 1
            total += info.st_size
            if count > plain.MAX_FILES or total > plain.MAX_TOTAL_BYTES:
                raise RenderError(f"chart holds more than {plain.MAX_FILES} files or "
                                  f"{plain.MAX_TOTAL_BYTES} bytes", path=plain.display(root, chart_dir))


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def user_values(root: Path, app_dir: Path, options: Mapping[str, Any],
                parameters: Mapping[str, Any]) -> dict[str, Any]:
    """values files < inline values < parameters, deep-merged (chart defaults are merged by Helm)."""
    merged: dict[str, Any] = {}
    for i, rel in enumerate(plain.opt_paths(options, "values_files", allow_parent=True)):
        path = plain.confine(root, app_dir, rel, f"options.values_files[{i}]", allow_parent=True)
        source = plain.display(root, path)
        data = yamlio.load(plain.read_bytes(root, path), source)
        if data is not None and not isinstance(data, dict):
            raise RenderError(f"values file must hold a mapping, got {type(data).__name__}", path=source)
        merged = _merge(merged, data or {})
    inline = options.get("values", {})
    if not isinstance(inline, Mapping):
        raise RenderError(f"must be a mapping, got {type(inline).__name__}", field="options.values")
    return _merge(_merge(merged, inline), parameters)


def _translate(exc: Exception, root: Path, chart_dir: Path, chart_name: str) -> RenderError:
    detail = getattr(exc, "detail", None) or str(exc)
    match = _HELM_LOCATION.search(detail)
    if match:
        return RenderError(f"helm: {detail}", path=_source(root, chart_dir, chart_name, match[1]),
                           line=int(match[2]))
    return RenderError(f"helm: {detail}", path=plain.display(root, chart_dir))


def _source(root: Path, chart_dir: Path, chart_name: str, key: str) -> str:
    """A Helm template key (``<chart>/templates/x.yaml``) as a path relative to the snapshot."""
    base = plain.display(root, chart_dir)
    prefix = f"{chart_name}/"
    return f"{base}/{key[len(prefix):]}" if key.startswith(prefix) else f"{base}/{key}"


def _is_test_hook(manifest: Manifest) -> bool:
    hooks = (manifest["metadata"].get("annotations") or {}).get(HOOK_ANNOTATION, "")
    return any(h.strip().startswith("test") for h in hooks.split(","))


def _release(options: Mapping[str, Any], parameters: Mapping[str, Any], chart_name: str) -> tuple[str, str]:
    app = parameters.get("application")
    name = plain.opt_str(options, "release_name", app if isinstance(app, str) and app else chart_name)
    ns = parameters.get("namespace")
    namespace = plain.opt_str(options, "namespace", ns if isinstance(ns, str) and ns else "default")
    return str(name), str(namespace)


def _render_chart(helm: Any, chart: Any, values: dict[str, Any], name: str, namespace: str,
                  include_crds: bool) -> list[tuple[str, str]]:
    """(template key, rendered text) pairs: CRDs first, then templates sorted by key."""
    helm.validate_release_name(name)
    chart.validate_schema(values)
    rendered = chart.render(values, name=name, namespace=namespace, is_install=True)
    out = [(c.get("filename") or c["name"], c["data"]) for c in chart.crds] if include_crds else []
    out.extend((key, text) for key, text in sorted(rendered.items()) if not key.endswith("NOTES.txt"))
    return out


def render(root: Path, app_dir: Path, options: Mapping[str, Any],
           parameters: Mapping[str, Any]) -> list[Manifest]:
    """Every manifest the chart renders for this cluster."""
    plain.check_keys(options, OPTIONS, "helm")
    chart_dir = plain.confine(root, app_dir, plain.opt_str(options, "chart", ".") or ".", "options.chart",
                              allow_parent=True)
    include_crds = plain.opt_bool(options, "include_crds", True)
    skip_tests = plain.opt_bool(options, "skip_tests", True)
    values = user_values(root, app_dir, options, parameters)
    if not (chart_dir / "Chart.yaml").is_file():
        raise RenderError("no Chart.yaml in the chart directory", path=plain.display(root, chart_dir),
                          field="options.chart")
    check_chart_tree(root, chart_dir)
    helm = _helm()
    chart_name = chart_dir.name
    try:
        json.dumps(values)
        with helm.Chart.load(str(chart_dir)) as chart:
            chart_name = chart.name or chart_name
            name, namespace = _release(options, parameters, chart_name)
            pieces = _render_chart(helm, chart, values, name, namespace, include_crds)
    except RenderError:
        raise
    except (TypeError, ValueError) as exc:
        if isinstance(exc, helm.HelmError):
            raise _translate(exc, root, chart_dir, chart_name) from exc
        raise RenderError(f"values are not JSON-serialisable: {exc}", field="values") from exc
    except helm.HelmError as exc:
        raise _translate(exc, root, chart_dir, chart_name) from exc
    return _to_manifests(root, chart_dir, chart_name, pieces, skip_tests)


def _to_manifests(root: Path, chart_dir: Path, chart_name: str, pieces: list[tuple[str, str]],
                  skip_tests: bool) -> list[Manifest]:
    budget = plain.Budget()
    manifests: list[Manifest] = []
    for key, text in pieces:
        source = _source(root, chart_dir, chart_name, key)
        budget.take(len(text), source)
        for manifest in from_documents(yamlio.load_all(text, source), source):
            if not (skip_tests and _is_test_hook(manifest)):
                manifests.append(manifest)
    return manifests
