"""Differential test: random overlays rendered by us and by ``kubectl kustomize`` must be byte-identical.

Skipped when kubectl is not on PATH. A fixed seed keeps it reproducible; the generator mixes bases,
prefixes/suffixes, namespaces, generators with merge/replace, labels, images, replicas, JSON and
strategic patches, replacements and components.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from renderers.kustomize import build
from renderers.kustomize.output import dump_all

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(obj) if isinstance(obj, list) else yaml.safe_dump(obj))


def _base(rng: random.Random) -> list[dict[str, Any]]:
    pod = {"serviceAccountName": "sa", "containers": [
        {"name": "c", "image": rng.choice(["nginx", "nginx:1", "reg.io/nginx:2"]),
         "envFrom": [{"configMapRef": {"name": "cfg"}}],
         "ports": [{"containerPort": 80, **({"protocol": "TCP"} if rng.random() < .5 else {})}]}],
        "volumes": [{"name": "v", "configMap": {"name": "cfg"}}]}
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}]


def _overlay(rng: random.Random) -> dict[str, Any]:
    k: dict[str, Any] = {"resources": ["../base"]}
    choices: dict[str, Any] = {
        "namePrefix": "p-", "nameSuffix": "-s", "namespace": "prod",
        "configMapGenerator": [{"name": "cfg", "behavior": rng.choice(["merge", "replace"]),
                                "literals": ["B=yes", "C=1"]}],
        "labels": [{"pairs": {"env": "prod"}, "includeSelectors": rng.random() < .5}],
        "commonAnnotations": {"note": "true"},
        "images": [{"name": "nginx", "newTag": "9"}], "replicas": [{"name": "web", "count": 3}],
        "patches": [{"target": {"kind": "Deployment"}, "patch": yaml.safe_dump(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
             "spec": {"template": {"spec": {"containers": [
                 {"name": "side", "image": "envoy"},
                 {"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]}}}})}],
        "replacements": [{"source": {"kind": "Service", "name": "web"}, "targets": [
            {"select": {"kind": "Deployment"}, "fieldPaths": ["metadata.annotations.svc"],
             "options": {"create": True}}]}]}
    for key, value in choices.items():
        if rng.random() < .5:
            k[key] = value
    return k


@pytest.mark.parametrize("seed", range(6))
def test_random_overlay_is_byte_identical(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    _write(tmp_path / "base/r.yaml", _base(rng))
    labels = {"commonLabels": {"b": "base"}} if rng.random() < .5 else {}
    _write(tmp_path / "base/kustomization.yaml", {"resources": ["r.yaml"], "configMapGenerator": [
        {"name": "cfg", "literals": ["A=1", "B=x"]}], **labels})
    _write(tmp_path / "overlay/kustomization.yaml", _overlay(rng))
    expected = subprocess.run(["kubectl", "kustomize", str(tmp_path / "overlay")], capture_output=True,
                              text=True, timeout=60)
    assert expected.returncode == 0, expected.stderr
    assert dump_all(build(tmp_path / "overlay")) == expected.stdout
