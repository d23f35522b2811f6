"""Kustomize under a render budget: objects, output bytes and YAML nodes are counted over the whole
build (every base, every file), whatever the caches hold, and the error names the budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.cli import main
from renderers.api import RenderRequest, render
from renderers.budget import Budget, BudgetExceeded, MiB, metering
from renderers.kustomize import build

Tree = Callable[[dict[str, str | bytes]], Path]
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  a: b\n"


def diamond(tree: Tree, levels: int, width: int = 8) -> Path:
    """Two bases per level, each including both bases of the level below under its own prefix: the
    objects double with every level (``width * 2**levels`` at the top) from a tree of a few KB."""
    files: dict[str, str | bytes] = {f"base/cm{i}.yaml": CM.format(i=i) for i in range(width)}
    files["base/kustomization.yaml"] = "resources:\n" + "".join(f"- cm{i}.yaml\n" for i in range(width))
    for side in "ab":
        files[f"l0{side}/kustomization.yaml"] = f"namePrefix: {side}-\nresources:\n- ../base\n"
    for level in range(1, levels + 1):
        for side in "ab":
            files[f"l{level}{side}/kustomization.yaml"] = (
                f"namePrefix: {side}-\nresources:\n- ../l{level - 1}a\n- ../l{level - 1}b\n")
    files["top/kustomization.yaml"] = f"resources:\n- ../l{levels}a\n"
    return tree(files)


def test_a_diamond_of_bases_hits_the_object_budget(tree: Tree) -> None:
    root = diamond(tree, levels=12)  # 8 * 2**12 = 32768 objects from about 2 KB of YAML
    with pytest.raises(BudgetExceeded, match=r"render exceeded its object budget \(1000 objects\)") as err:
        render(RenderRequest(root=root, path="top", renderer="kustomize", budget=Budget(max_objects=1000)))
    assert err.value.budget == "max_objects"


def test_the_object_budget_is_configurable(tree: Tree) -> None:
    root = diamond(tree, levels=4)  # 128 objects
    assert len(render(RenderRequest(root=root, path="top", renderer="kustomize"))) == 128
    with pytest.raises(BudgetExceeded, match=r"object budget \(100 objects\)"):
        render(RenderRequest(root=root, path="top", renderer="kustomize", budget=Budget(max_objects=100)))


def copies(tree: Tree) -> Path:
    """One 1 MiB value copied by a replacement into 300 objects: 300 MiB of output from 1 MiB."""
    big = "x" * (1024 * 1024)
    targets = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t{i}\ndata:\n  v: ''\n"
                      for i in range(300))
    source = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\ndata:\n  big: {big}\n"
    root = tree({"src.yaml": source,
                 "targets.yaml": targets,
                 "kustomization.yaml": "resources: [src.yaml, targets.yaml]\nreplacements:\n- source:\n"
                 "    kind: ConfigMap\n    name: src\n    fieldPath: data.big\n  targets:\n  - select:\n"
                 "      kind: ConfigMap\n    reject: [{name: src}]\n    fieldPaths: [data.v]\n"})
    return root


def test_a_replacement_copying_one_large_value_into_many_objects_hits_the_output_budget(tree: Tree) -> None:
    root = copies(tree)
    with pytest.raises(BudgetExceeded, match=r"render exceeded its output budget \(64 MiB\)") as err:
        render(RenderRequest(root=root, path=".", renderer="kustomize"))
    assert err.value.budget == "max_output_bytes"


def test_the_cli_has_the_same_bounds(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = copies(tree)
    assert main(["kustomize", str(root)]) == 2
    assert "render exceeded its output budget (64 MiB)" in capsys.readouterr().err


def _aliased(i: int) -> str:
    """A ConfigMap whose aliases expand to about 111 000 nodes (fine alone)."""
    lines = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a{i}\ndata:\n  x: y\nbulk:",
             '  a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"  a{k}: &a{k} [{','.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 5)]
    return "\n".join(lines) + "\n"


def test_yaml_nodes_add_up_across_files_and_cached_parses(tree: Tree) -> None:
    files: dict[str, str | bytes] = {f"base/f{i}.yaml": _aliased(i) for i in range(12)}
    files["base/kustomization.yaml"] = "resources:\n" + "".join(f"- f{i}.yaml\n" for i in range(12))
    files["app/kustomization.yaml"] = "resources: [../base]\n"
    root = tree(files)
    small = Budget(max_yaml_nodes=1_000_000)
    for _ in range(2):  # the second build finds the parses and the base cached: same outcome
        with metering(small), pytest.raises(BudgetExceeded, match=r"YAML node budget \(1000000 nodes\)"):
            build(root / "app")
    with metering(Budget(max_yaml_nodes=2_000_000)):
        assert len(build(root / "app")) == 12
    with metering(small), pytest.raises(BudgetExceeded, match="YAML node budget"):
        build(root / "app")  # the base is now cached whole: its nodes are still charged


def test_defaults_leave_ordinary_builds_alone(tree: Tree) -> None:
    root = diamond(tree, levels=3)
    with metering(Budget(memory_bytes=64 * MiB)):
        assert len(build(root / "top")) == 64
