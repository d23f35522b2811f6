"""Feature behaviour of renderers.kustomize.build on small trees (expectations checked with kubectl)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from renderers.errors import RenderError
from renderers.kustomize import build
from renderers.kustomize.hasher import suffix
from renderers.kustomize.workload import new_image, split_image

Tree = Callable[[dict[str, str | bytes]], Path]
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.0
        envFrom:
        - configMapRef:
            name: settings
      volumes:
      - name: cfg
        configMap:
          name: settings
"""


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def test_generator_hash_matches_kustomize() -> None:
    assert suffix({"kind": "ConfigMap", "data": {"x": "1"}}) == "hmg6f82fh6"
    assert suffix({"kind": "Secret", "type": "Opaque", "data": {"x": "MQ=="}}) == "bf2648c599"


def test_prefix_hash_and_name_references(tree: Tree) -> None:
    root = tree({"base/kustomization.yaml": "resources:\n- deploy.yaml\nconfigMapGenerator:\n"
                 "- name: settings\n  literals:\n  - x=1\n", "base/deploy.yaml": DEPLOY,
                 "prod/kustomization.yaml": "resources:\n- ../base\nnamePrefix: prod-\nimages:\n"
                 "- name: nginx\n  newTag: '2.0'\nreplicas:\n- name: web\n  count: 3\ncommonLabels:\n"
                 "  app: web\n"})
    docs = build(root / "prod")
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment"]
    cm, dep = docs
    assert cm["metadata"]["name"].startswith("prod-settings-") and len(cm["metadata"]["name"]) == 24
    spec = dep["spec"]["template"]["spec"]
    assert spec["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"]
    assert spec["containers"][0]["envFrom"][0]["configMapRef"]["name"] == cm["metadata"]["name"]
    assert spec["containers"][0]["image"] == "nginx:2.0"
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "web"}
    assert dep["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_patches_with_selectors_and_delete(tree: Tree) -> None:
    root = tree({"kustomization.yaml": """resources:
- deploy.yaml
- cm.yaml
patches:
- target:
    kind: Deploy.*
    name: w.b
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: ignored
    spec:
      template:
        spec:
          containers:
          - name: sidecar
            image: busybox
- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: other
    $patch: delete
""", "deploy.yaml": DEPLOY, "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"})
    [dep] = build(root)
    assert dep["metadata"]["name"] == "web"
    assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["sidecar", "app"]


def test_overlays_cannot_corrupt_each_other(tree: Tree) -> None:
    root = tree({"base/kustomization.yaml": "resources:\n- deploy.yaml\n", "base/deploy.yaml": DEPLOY,
                 **{f"o{i}/kustomization.yaml": f"resources:\n- ../base\nnamePrefix: o{i}-\ncommonLabels:\n"
                    f"  o: '{i}'\n" for i in range(3)}})
    first = build(root / "o0")
    snapshot = copy.deepcopy(first)
    first[0]["spec"]["template"]["spec"]["containers"].append({"name": "tampered"})
    others = [build(root / f"o{i}") for i in range(3)]
    assert others[0] == snapshot
    assert [o[0]["metadata"]["name"] for o in others] == ["o0-web", "o1-web", "o2-web"]
    assert all(len(o[0]["spec"]["template"]["spec"]["containers"]) == 1 for o in others)


def test_components_vars_and_replacements(tree: Tree) -> None:
    root = tree({"kustomization.yaml": """resources:
- deploy.yaml
components:
- comp
vars:
- name: CM_NAME
  objref: {kind: ConfigMap, name: settings, apiVersion: v1}
replacements:
- source: {kind: ConfigMap, name: settings, fieldPath: data.mode}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=app].args.0
""", "deploy.yaml": DEPLOY.replace("image: nginx:1.0", "image: nginx:1.0\n        args: [x, $(CM_NAME)]"),
        "comp/kustomization.yaml": "kind: Component\nconfigMapGenerator:\n- name: settings\n  literals:\n"
                                   "  - mode=fast\n  options:\n    disableNameSuffixHash: true\n"})
    dep = by_kind(build(root))["Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"] == ["fast", "settings"]


def test_image_reference_parsing() -> None:
    assert split_image("registry:5000/app:1.2@sha256:abc") == ("registry:5000/app", "1.2", "sha256:abc")
    assert split_image("app@sha256:abc") == ("app", "", "sha256:abc")
    assert new_image("nginx:1.0", {"name": "nginx", "digest": "sha256:x"}) == "nginx@sha256:x"
    assert new_image("nginx-extra:1", {"name": "nginx", "newTag": "2"}) is None
    assert new_image("nginx", {"name": "nginx", "newName": "r/nginx", "newTag": 3}) == "r/nginx:3"


def test_cache_follows_content_not_paths(tree: Tree) -> None:
    root = tree({"base/kustomization.yaml": "resources:\n- cm.yaml\n",
                 "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  v: aaaa\n",
                 "app/kustomization.yaml": "resources:\n- ../base\nnamePrefix: x-\n"})
    assert build(root / "app")[0]["data"] == {"v": "aaaa"}
    (root / "base/cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  v: bbbb\n")
    assert build(root / "app")[0]["data"] == {"v": "bbbb"}
    (root / "base/Kustomization").write_text("resources: []\n")
    with pytest.raises(RenderError, match="multiple kustomization files"):
        build(root / "app")
    (root / "base/Kustomization").unlink()
    (root / "base/kustomization.yaml").write_text("resources:\n- cm.yaml\ncommonLabels:\n  l: v\n")
    assert build(root / "app")[0]["metadata"]["labels"] == {"l": "v"}


def test_cache_notices_a_retargeted_symlink(tree: Tree) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  v: '{}'\n"
    root = tree({"base/kustomization.yaml": "resources:\n- cm.yaml\n", "base/one.yaml": cm.format(1),
                 "base/two.yaml": cm.format(2), "app/kustomization.yaml": "resources:\n- ../base\n"})
    (root / "base/cm.yaml").symlink_to("one.yaml")
    assert build(root / "app")[0]["data"] == {"v": "1"}
    (root / "base/cm.yaml").unlink()
    (root / "base/cm.yaml").symlink_to("two.yaml")
    assert build(root / "app")[0]["data"] == {"v": "2"}


def test_patch_files_named_like_yaml_keys_are_files(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- deploy.yaml\npatchesStrategicMerge:\n"
                 "- kind-patch.yaml\n", "deploy.yaml": DEPLOY,
                 "kind-patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                                    "spec:\n  replicas: 7\n"})
    assert build(root)[0]["spec"]["replicas"] == 7
