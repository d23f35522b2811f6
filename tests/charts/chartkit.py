"""Rendering and linting charts/gitops for the chart tests, with the Helm library the helm renderer uses.

Called by tests/charts/test_*.py. ``helm-python-sdk`` runs Helm's Go code in the process that loads it,
so, as renderers/helm.py does, every call runs in a child process (``python -c`` with the job as JSON on
stdin and the reply as JSON on stdout): a Go panic or a hung template cannot take pytest down with it.
``render`` validates the values against values.schema.json first (as ``helm install`` does) and
returns the objects; ``HelmFailed`` carries Helm's own message. ``check_openapi`` validates an object
against the Kubernetes 1.36 schema the project ships (renderers/k8s/schema.json): unknown fields and
scalar types, recursively.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from renderers.k8s.schema import TypeNode, definition_for, resolve, root_for

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gitops"
RELEASE = "gitops"
NAMESPACE = "gitops"

_CHILD = r"""
import json, os, sys
job = json.loads(sys.stdin.read())
reply = os.dup(1)
os.dup2(2, 1)  # whatever the library prints must not corrupt the reply
import helm_python as helm
try:
    if job["op"] == "lint":
        out = {"lint": helm.chart.lint(job["chart"], job["values"], strict=True, namespace=job["namespace"],
                                       kube_version="v1.36.0")}
    else:
        with helm.Chart.load(job["chart"]) as chart:
            chart.validate_schema(job["values"])
            out = {"pieces": chart.render(job["values"], name=job["name"], namespace=job["namespace"],
                                          is_install=True)}
except helm.HelmError as exc:
    out = {"error": exc.detail or str(exc)}
with os.fdopen(reply, "w") as f:
    json.dump(out, f)
"""


class HelmFailed(Exception):
    """Helm refused the chart or the values; ``str()`` is Helm's message."""


def _child(job: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(job), capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"the helm child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    reply: dict[str, Any] = json.loads(proc.stdout)
    if "error" in reply:
        raise HelmFailed(reply["error"])
    return reply


def render_pieces(values: dict[str, Any] | None = None, *, chart: Path = CHART, name: str = RELEASE,
                  namespace: str = NAMESPACE) -> dict[str, str]:
    """Template file -> rendered text (NOTES.txt included)."""
    job = {"op": "render", "chart": str(chart), "values": values or {}, "name": name, "namespace": namespace}
    pieces: dict[str, str] = _child(job)["pieces"]
    return pieces


def render(values: dict[str, Any] | None = None, *, chart: Path = CHART, name: str = RELEASE,
           namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """The chart's objects for these values, in template-file order (NOTES.txt left out)."""
    objects: list[dict[str, Any]] = []
    for key, text in sorted(render_pieces(values, chart=chart, name=name, namespace=namespace).items()):
        if key.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = _child({"op": "lint", "chart": str(CHART), "values": values or {},
                                     "namespace": NAMESPACE})["lint"]
    return report


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = find(objects, kind, name)
    return found


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every Deployment and StatefulSet."""
    return [(o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objects
            if o["kind"] in ("Deployment", "StatefulSet")]


# --- the Kubernetes OpenAPI schema ---------------------------------------------------------------

_SCALARS: dict[str, tuple[type, ...]] = {"string": (str,), "numeric": (int, float), "boolean": (bool,)}


def check_openapi(obj: dict[str, Any]) -> list[str]:
    """What in ``obj`` the Kubernetes 1.36 schema of its kind does not accept: an unknown kind, an
    unknown field, a scalar of the wrong type, a list or map where the schema wants another shape."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    if definition_for(api_version, kind) is None:
        return [f"{api_version}/{kind}: not a Kubernetes 1.36 kind"]
    problems: list[str] = []
    _walk(obj, root_for(api_version, kind), kind, problems, 0)
    return problems


def _walk(value: Any, node: TypeNode, path: str, problems: list[str], depth: int) -> None:
    node = resolve(node)
    if depth > 64 or "any" in node or value is None:
        return
    if "scalar" in node:
        want = node["scalar"]
        ok = want == "untyped" or (isinstance(value, _SCALARS[want]) and
                                   not (want == "numeric" and isinstance(value, bool)))
        if not ok:
            problems.append(f"{path}: {type(value).__name__} where the schema wants {want}")
    elif "list" in node:
        if not isinstance(value, list):
            problems.append(f"{path}: {type(value).__name__} where the schema wants a list")
            return
        for i, item in enumerate(value):
            _walk(item, node["list"], f"{path}[{i}]", problems, depth + 1)
    elif "map" in node or "fields" in node:
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__} where the schema wants an object")
            return
        fields = node.get("fields")
        for key, sub in value.items():
            if fields is not None and key in fields:
                _walk(sub, fields[key], f"{path}.{key}", problems, depth + 1)
            elif "map" in node:
                _walk(sub, node["map"], f"{path}.{key}", problems, depth + 1)
            elif key not in ("apiVersion", "kind"):
                problems.append(f"{path}.{key}: unknown field")
