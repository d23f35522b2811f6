"""The Helm renderer: a chart in the repository rendered with ``helm-python-sdk`` in a child process.

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
translated once into RenderError with the template file and line parsed from Helm's message; the
child runs under the render's budget (:mod:`renderers.budget`) and a kill names the budget it hit. The
``helm`` extra is optional: without it, a clear RenderError says how to install it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from renderers import budget, plain
from renderers.errors import RenderError
from renderers.manifest import Collector, Manifest, from_documents

OPTIONS = frozenset({"chart", "values_files", "values", "release_name", "namespace", "include_crds",
                     "skip_tests"})
# Address space on top of the memory budget: the Go runtime reserves ~2 GiB it never touches. The
# memory budget itself is enforced on the data segment (RLIMIT_DATA), which counts what is used.
ADDRESS_SPACE_RESERVE = 3 * 1024**3
HOOK_ANNOTATION = "helm.sh/hook"
_RELEASE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# What the Go runtime prints when the memory limits stop it. Under RLIMIT_DATA/RLIMIT_AS a new OS
# thread's stack can be refused before any allocation is (EAGAIN from clone: "failed to create new OS
# thread", then "fatal error: newosproc"), depending on how many threads the busy runtime wanted.
_OUT_OF_MEMORY = ("out of memory", "cannot allocate memory", "failed to create new OS thread", "newosproc")


def _require_helm() -> None:
    try:
        found = importlib.util.find_spec("helm_python") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise RenderError("the helm renderer needs the 'helm' extra: pip install 'gitops-engine-py[helm]'",
                          field="renderer")


def check_chart_tree(root: Path, chart_dir: Path) -> None:
    """Refuse a chart directory holding symlink escapes, special files or too much data."""
    count = 0
    total = 0
    for current, dirs, files in plain.walk(root, chart_dir):
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


def user_values(root: Path, app_dir: Path, options: Mapping[str, Any],
                parameters: Mapping[str, Any]) -> dict[str, Any]:
    """values files < inline values < parameters, deep-merged (chart defaults are merged by Helm)."""
    merged: dict[str, Any] = {}
    for i, rel in enumerate(plain.opt_paths(options, "values_files", allow_parent=True)):
        path = plain.confine(root, app_dir, rel, f"options.values_files[{i}]", allow_parent=True)
        source = plain.display(root, path)
        data = plain.load_yaml(plain.read_bytes(root, path), source)
        if data is not None and not isinstance(data, dict):
            raise RenderError(f"values file must hold a mapping, got {type(data).__name__}", path=source)
        merged = plain.deep_merge(merged, data or {})
    inline = options.get("values", {})
    if not isinstance(inline, Mapping):
        raise RenderError(f"must be a mapping, got {type(inline).__name__}", field="options.values")
    # a top-level None parameter (no destination namespace, say) means "unset", not Helm's "delete
    # the chart's default": drop it rather than erase a chart value of the same name
    cluster = {k: v for k, v in parameters.items() if v is not None}
    return plain.deep_merge(plain.deep_merge(merged, inline), cluster)


def _location(chart_name: str) -> re.Pattern[str]:
    """Helm names a template ``<chart>/templates/x.yaml:LINE[:COL]``, after ``template: `` or inside
    ``parse error at (...)``: the key starts with the chart name, at a word boundary."""
    return re.compile(rf'(?<![\w./-])({re.escape(chart_name)}/[^\s:"<>()]+):(\d+)(?::\d+)?')


def _translate(detail: str, root: Path, chart_dir: Path, chart_name: str) -> RenderError:
    match = _location(chart_name).search(detail)
    if match:
        return RenderError(f"helm: {detail}", path=_source(root, chart_dir, chart_name, match[1]),
                           line=int(match[2]))
    return RenderError(f"helm: {detail}", path=plain.display(root, chart_dir))


def _source(root: Path, chart_dir: Path, chart_name: str, key: str) -> str:
    """A Helm template key (``<chart>/templates/x.yaml``) as a path relative to the snapshot."""
    base = plain.display(root, chart_dir)
    rest = key.removeprefix(f"{chart_name}/")
    return rest if base in ("", ".") else f"{base}/{rest}"


def _is_test_hook(manifest: Manifest) -> bool:
    hooks = (manifest["metadata"].get("annotations") or {}).get(HOOK_ANNOTATION, "")
    return any(h.strip().startswith("test") for h in hooks.split(","))


def _chart_name(root: Path, chart_dir: Path) -> str:
    source = plain.display(root, chart_dir / "Chart.yaml")
    if not (chart_dir / "Chart.yaml").is_file():
        raise RenderError("no Chart.yaml in the chart directory", path=plain.display(root, chart_dir),
                          field="options.chart")
    meta = plain.load_yaml(plain.read_bytes(root, chart_dir / "Chart.yaml"), source)
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise RenderError("Chart.yaml needs a name", path=source, field="name")
    return name


def _release(options: Mapping[str, Any], parameters: Mapping[str, Any], chart_name: str) -> tuple[str, str]:
    app = parameters.get("application")
    name = str(plain.opt_str(options, "release_name", app if isinstance(app, str) and app else chart_name))
    if len(name) > 53 or not _RELEASE_NAME.fullmatch(name):
        raise RenderError(f"invalid Helm release name {name!r:.80} (a lowercase DNS name of at most 53 "
                          "characters)", field="options.release_name")
    ns = parameters.get("namespace")
    namespace = plain.opt_str(options, "namespace", ns if isinstance(ns, str) and ns else "default")
    return name, str(namespace)


def render(root: Path, app_dir: Path, options: Mapping[str, Any],
           parameters: Mapping[str, Any]) -> list[Manifest]:
    """Every manifest the chart renders for this cluster."""
    plain.check_keys(options, OPTIONS, "helm")
    chart_dir = plain.confine(root, app_dir, plain.opt_str(options, "chart", ".") or ".", "options.chart",
                              allow_parent=True)
    include_crds = plain.opt_bool(options, "include_crds", True)
    skip_tests = plain.opt_bool(options, "skip_tests", True)
    values = user_values(root, app_dir, options, parameters)
    chart_name = _chart_name(root, chart_dir)
    name, namespace = _release(options, parameters, chart_name)
    check_chart_tree(root, chart_dir)
    _require_helm()
    limits = budget.current()
    try:
        job = json.dumps({"chart": str(chart_dir), "values": values, "name": name, "namespace": namespace,
                          "include_crds": include_crds, "max_memory": limits.memory_bytes,
                          "cpu_seconds": limits.cpu_seconds,
                          "max_output": min(plain.MAX_TOTAL_BYTES, limits.max_output_bytes)})
    except (TypeError, ValueError) as exc:
        raise RenderError(f"values are not JSON-serialisable: {exc}", field="values") from exc
    pieces = _run_child(job, root, chart_dir, chart_name, limits)
    return _to_manifests(root, chart_dir, chart_name, pieces, skip_tests)


def _to_manifests(root: Path, chart_dir: Path, chart_name: str, pieces: list[tuple[str, str]],
                  skip_tests: bool) -> list[Manifest]:
    budget = plain.Budget()
    manifests = Collector()
    for key, text in pieces:
        source = _source(root, chart_dir, chart_name, key)
        budget.take(len(text), source)
        for manifest in from_documents(plain.load_yaml_all(text, source), source):
            if not (skip_tests and _is_test_hook(manifest)):
                manifests.add(manifest, source)
    return manifests.manifests


# --- the child process -----------------------------------------------------------------------------
# Helm's Go templates have no time or memory bound (``until 2000000000`` never returns), and a native
# call cannot be interrupted from Python, so charts render in a child process (``python -m
# renderers.helm``) under the render's budget: CPU (RLIMIT_CPU: SIGXCPU at the budget, SIGKILL a
# second later), memory (RLIMIT_DATA, with an address-space backstop) and a wall-clock timeout.

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _failure(proc: subprocess.CompletedProcess[str], limits: budget.Budget, where: str) -> RenderError:
    """Why the child died, naming the budget it ran out of when it did."""
    fatal = [line for line in proc.stderr.splitlines() if line.startswith(("fatal error:", "runtime:"))]
    if any(m in line for line in fatal for m in _OUT_OF_MEMORY) or "MemoryError" in proc.stderr[-2000:]:
        return limits.exceeded("memory_bytes", path=where, detail="helm: " + "; ".join(fatal[:1]))
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not fatal:
        return limits.exceeded("cpu_seconds", path=where, detail="helm rendering was stopped")
    if fatal:
        why = "; ".join(fatal[:2])
    elif proc.returncode < 0:
        why = f"killed by {signal.Signals(-proc.returncode).name}"
    else:
        why = (proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"])[0][:300]
    return RenderError(f"helm rendering process failed: {why}", path=where)


def _run_child(job: str, root: Path, chart_dir: Path, chart_name: str,
               limits: budget.Budget) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(_PACKAGE_PARENT),
                                                                     os.environ.get("PYTHONPATH")) if p)}
    where = plain.display(root, chart_dir)
    try:
        proc = subprocess.run([sys.executable, "-P", "-m", "renderers.helm"], input=job, capture_output=True,
                              encoding="utf-8", timeout=limits.wall_seconds, env=env, cwd=_PACKAGE_PARENT,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise limits.exceeded("wall", path=where, detail="helm rendering (blocked?)") from exc
    try:
        reply = json.loads(proc.stdout) if proc.returncode == 0 else None
    except json.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict):
        raise _failure(proc, limits, where)
    if "error" in reply:
        raise _translate(str(reply["error"]), root, chart_dir, chart_name)
    return [(str(key), str(text)) for key, text in reply["pieces"]]


def _child_render(job: dict[str, Any]) -> dict[str, Any]:
    try:
        import helm_python as helm
    except (ImportError, OSError) as exc:
        return {"error": f"cannot load the helm library: {exc}"}
    try:
        with helm.Chart.load(job["chart"]) as chart:
            chart.validate_schema(job["values"])
            rendered = chart.render(job["values"], name=job["name"], namespace=job["namespace"],
                                    is_install=True)
            crds = chart.crds if job["include_crds"] else []
    except helm.HelmError as exc:
        return {"error": exc.detail or str(exc)}
    pieces = [(c.get("filename") or c["name"], c["data"]) for c in crds]
    pieces += [(k, v) for k, v in sorted(rendered.items()) if not k.endswith("NOTES.txt")]
    if sum(len(text) for _, text in pieces) > job["max_output"]:
        return {"error": f"rendered output is over the limit of {job['max_output']} bytes"}
    return {"pieces": pieces}


def _child_main() -> int:
    """Entry point of the child: job JSON on stdin, reply JSON on the original stdout."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # whatever the library prints must not corrupt the reply
    job = json.loads(sys.stdin.read())
    limit = int(job["max_memory"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    resource.setrlimit(resource.RLIMIT_AS, (limit + ADDRESS_SPACE_RESERVE, limit + ADDRESS_SPACE_RESERVE))
    cpu = int(job["cpu_seconds"])  # SIGXCPU (fatal: Go leaves it alone) at the budget, SIGKILL after
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    with os.fdopen(reply_fd, "w", encoding="utf-8") as out:
        json.dump(_child_render(job), out)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
