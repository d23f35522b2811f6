"""The working-tree adapter (bounded copy, no link followed out, Git's ignores) and the render cache key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops import domain
from gitops.errors import InputError
from gitops.fleetplan.orchestrate import render_key
from gitops.fleetplan.ports import DirectoryFiles
from gitops.fleetplan.trees import Bounds, WorktreeTree
from tests.gitops.fleetplan.conftest import _git, commit


def test_worktree_copy_is_bounded_and_follows_no_link_out(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "x.yaml").write_text("x: 1\n")
    (tmp_path / "secret").write_text("outside")
    os.symlink(tmp_path / "secret", tree / "a" / "out")
    os.symlink("x.yaml", tree / "a" / "in")
    os.symlink("../../", tree / "up")
    worktree = WorktreeTree(tree, tmp_path / "scratch")
    copy = worktree.tree()
    assert sorted(DirectoryFiles(copy.root).files()) == ["a/in", "a/x.yaml"]
    assert (copy.root / "a" / "in").read_text() == "x: 1\n" and not (copy.root / "a" / "in").is_symlink()
    assert worktree.skipped == ["a/out", "up"]
    again = WorktreeTree(tree, tmp_path / "s2").tree()
    assert copy.revision.startswith("worktree:") and copy.revision == again.revision  # a content digest
    with pytest.raises(InputError, match="over the limit of 3 bytes"):
        WorktreeTree(tree, tmp_path / "s3", Bounds(max_file_bytes=3)).tree()
    with pytest.raises(InputError, match="more than 2 entries"):
        WorktreeTree(tree, tmp_path / "s4", Bounds(max_entries=2)).tree()
    with pytest.raises(InputError, match="not a directory"):
        WorktreeTree(tree / "a" / "x.yaml", tmp_path / "s5").tree()
    worktree.close()
    assert not copy.root.exists()


def test_worktree_of_a_git_work_tree_leaves_ignored_files_out(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    commit(repo, {".gitignore": "junk/\n", "app/cm.yaml": "a: 1\n"})
    (repo / "junk").mkdir()
    (repo / "junk" / "big.bin").write_bytes(b"x" * 100)
    (repo / "app" / "new.yaml").write_text("b: 2\n")  # untracked but not ignored: planned
    copy = WorktreeTree(repo, tmp_path / "scratch", Bounds(max_file_bytes=50)).tree()
    assert DirectoryFiles(copy.root).files() == (".gitignore", "app/cm.yaml", "app/new.yaml")


def test_directory_files_refuse_traversal_and_links(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.yaml").write_text("k: v\n")
    os.symlink(tmp_path / "d" / "f.yaml", tmp_path / "link.yaml")
    files = DirectoryFiles(tmp_path)
    assert files.read("d/f.yaml", 100) == b"k: v\n"
    for bad in ("../etc/passwd", "/etc/passwd", "d/../d/f.yaml", "link.yaml", "missing.yaml"):
        with pytest.raises(InputError):
            files.read(bad, 100)
    with pytest.raises(InputError, match="over the limit"):
        files.read("d/f.yaml", 2)


def test_render_key_leaves_parameters_out_only_where_the_renderer_ignores_them(tmp_path: Path) -> None:
    kustomize = domain.AppSource("infra", "apps/a", renderer="kustomize")
    jinja = domain.AppSource("infra", "apps/a", renderer="jinja")
    dev, prod = {"cluster": {"name": "dev"}}, {"cluster": {"name": "prod"}}
    assert render_key(tmp_path, kustomize, dev) == render_key(tmp_path, kustomize, prod)
    assert render_key(tmp_path, jinja, dev) != render_key(tmp_path, jinja, prod)
    assert render_key(tmp_path, kustomize, dev) != render_key(tmp_path / "other", kustomize, dev)
    with_options = domain.AppSource("infra", "apps/a", renderer="kustomize",
                                    options={"load_restrictor": "None"})
    assert render_key(tmp_path, kustomize, dev) != render_key(tmp_path, with_options, dev)
