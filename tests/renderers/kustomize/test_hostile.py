"""Hostile and malformed input: every case fails with a located RenderError, nothing else."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from renderers.errors import RenderError
from renderers.kustomize import KustomizeOptions, build

Tree = Callable[[dict[str, str | bytes]], Path]
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n"
NONE = KustomizeOptions(load_restrictor="None")


def test_parent_file_is_refused_under_root_only(tree: Tree) -> None:
    root = tree({"cm.yaml": CM, "app/kustomization.yaml": "resources:\n- ../cm.yaml\n"})
    with pytest.raises(RenderError, match=r"security; file .* is not in or below"):
        build(root / "app")
    assert build(root / "app", NONE)[0]["metadata"]["name"] == "cm"


def test_absolute_file_is_refused(tree: Tree) -> None:
    root = tree({"outside/cm.yaml": CM})
    app = tree({"app/kustomization.yaml": f"resources:\n- {root / 'outside/cm.yaml'}\n"}) / "app"
    with pytest.raises(RenderError, match="security"):
        build(app)


def test_symlink_escaping_the_directory_is_refused(tree: Tree) -> None:
    root = tree({"secret.yaml": CM, "app/kustomization.yaml": "resources:\n- link.yaml\n"})
    os.symlink(root / "secret.yaml", root / "app/link.yaml")
    with pytest.raises(RenderError, match="security"):
        build(root / "app")


def test_fence_holds_even_without_restrictor(tree: Tree) -> None:
    root = tree({"base/kustomization.yaml": "resources:\n- cm.yaml\n", "base/cm.yaml": CM,
                 "repo/app/kustomization.yaml": "resources:\n- ../../base\n"})
    with pytest.raises(RenderError, match="outside the root"):
        build(root / "repo/app", KustomizeOptions(load_restrictor="None", root=root / "repo"))
    assert len(build(root / "repo/app", KustomizeOptions(root=root))) == 1


def test_kustomization_cycle_is_detected(tree: Tree) -> None:
    root = tree({"a/kustomization.yaml": "resources:\n- ../b\n",
                 "b/kustomization.yaml": "resources:\n- ../a\n"})
    with pytest.raises(RenderError, match="cycle"):
        build(root / "a")
    own = tree({"c/kustomization.yaml": "resources:\n- .\n"})
    with pytest.raises(RenderError, match="cycle"):
        build(own / "c")


def test_alias_bomb_is_rejected(tree: Tree) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True))
    root = tree({"kustomization.yaml": "resources:\n- bomb.yaml\n",
                 "bomb.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" +
                 "".join("  " + line + "\n" for line in bomb.splitlines())})
    with pytest.raises(RenderError, match="alias"):
        build(root)


def test_huge_and_deep_documents_are_rejected(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- big.yaml\n",
                 "big.yaml": CM + "  pad: " + "x" * (9 * 1024 * 1024) + "\n"})
    with pytest.raises(RenderError, match="over the limit"):
        build(root)
    deep = tree({"d/kustomization.yaml": "resources:\n- deep.yaml\n",
                 "d/deep.yaml": CM + "  deep: " + "[" * 500 + "]" * 500 + "\n"})
    with pytest.raises(RenderError, match="nested deeper"):
        build(deep / "d")


def test_generator_file_over_the_limit(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "configMapGenerator:\n- name: g\n  files:\n  - big.txt\n",
                 "big.txt": "x" * (1024 * 1024 + 1)})
    with pytest.raises(RenderError, match="over the limit"):
        build(root)


def test_json_patch_on_missing_path_names_the_patch(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- cm.yaml\npatches:\n- path: p.yaml\n  target:\n"
                 "    kind: ConfigMap\n", "cm.yaml": CM,
                 "p.yaml": "- op: replace\n  path: /spec/missing\n  value: 1\n"})
    with pytest.raises(RenderError, match=r"p\.yaml.*missing"):
        build(root)


def test_binary_resource_file_is_rejected_but_binary_generator_file_is_data(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- bin.yaml\n", "bin.yaml": b"\x00\xff\xfe binary"})
    with pytest.raises(RenderError, match=r"binary|UTF-8"):
        build(root)
    gen = tree({"g/kustomization.yaml": "configMapGenerator:\n- name: g\n  files:\n  - blob.bin\n",
                "g/blob.bin": b"\xff\x00\x01"})
    [cm] = build(gen / "g")
    assert cm["binaryData"] == {"blob.bin": "/wAB"}


def test_malformed_yaml_and_unknown_fields_are_located(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- cm.yaml\n", "cm.yaml": "kind: [unclosed\n"})
    with pytest.raises(RenderError, match=r"cm\.yaml:\d+"):
        build(root)
    typo = tree({"t/kustomization.yaml": "resorces:\n- cm.yaml\n"})
    with pytest.raises(RenderError, match="resorces"):
        build(typo / "t")


def test_duplicate_keys_are_rejected(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- cm.yaml\n", "cm.yaml": CM + "  a: c\n"})
    with pytest.raises(RenderError, match='mapping key "a" already defined'):
        build(root)


def test_remote_bases_need_a_loader(tree: Tree) -> None:
    url = "https://github.com/example/repo//base?ref=v1"
    root = tree({"app/kustomization.yaml": f"resources:\n- {url}\n",
                 "remote/kustomization.yaml": "resources:\n- cm.yaml\n", "remote/cm.yaml": CM})
    with pytest.raises(RenderError, match="remote loader"):
        build(root / "app")
    seen: list[str] = []

    def loader(ref: str) -> Path:
        seen.append(ref)
        return root / "remote"
    assert build(root / "app", KustomizeOptions(remote_loader=loader))[0]["kind"] == "ConfigMap"
    assert seen == [url]


def test_missing_kustomization_and_unknown_kind(tree: Tree) -> None:
    root = tree({"empty/readme.txt": "x", "k/kustomization.yaml": "kind: Banana\n"})
    with pytest.raises(RenderError, match="unable to find one of"):
        build(root / "empty")
    with pytest.raises(RenderError, match="Banana"):
        build(root / "k")


def test_injection_in_names_stays_data(tree: Tree) -> None:
    root = tree({"kustomization.yaml": "resources:\n- cm.yaml\nnamePrefix: \"$(rm -rf /)-\"\n",
                 "cm.yaml": CM})
    assert build(root)[0]["metadata"]["name"] == "$(rm -rf /)-cm"


@pytest.mark.parametrize("field", ["namespace: on", "namePrefix: 5", "commonLabels:\n  a: yes",
                                   "images:\n- name: nginx\n  newTag: 1.10"])
def test_kustomization_string_fields_are_typed_like_kubectl(tree: Tree, field: str) -> None:
    root = tree({"kustomization.yaml": f"resources:\n- cm.yaml\n{field}\n", "cm.yaml": CM})
    with pytest.raises(RenderError, match="quote the value"):
        build(root)
