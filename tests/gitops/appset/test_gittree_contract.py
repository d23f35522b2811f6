"""The GitTree port's contract, run on the fake and on the real adapter over a real Git repository.

The same cases on both: the files listed (sorted, regular files only, directories implied), a
revision other than the default ref, reads bounded by ``max_bytes``, paths that leave the tree or name
nothing refused with InputError, and an unknown repository or revision a SourceError.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import domain
from gitops.appset.ports import GitTree
from gitops.appset.snapshots import SnapshotTree
from gitops.errors import InputError, SourceError
from gitops.testing.gittree import FakeGitTree

FILES = {"apps/web/k.yaml": "kind: X\n", "apps/api/config.json": '{"a": 1}', "README.md": "hello\n"}
LATER = {**FILES, "apps/new/k.yaml": "kind: Y\n"}


@pytest.fixture(params=["fake", "real"])
def tree(request: pytest.FixtureRequest, git_repo: Callable[..., domain.Repository],
         snapshot_tree: Callable[..., SnapshotTree], tmp_path: Path) -> GitTree:
    if request.param == "fake":
        return FakeGitTree({"infra": {None: FILES, "v2": LATER}})
    repo = git_repo("infra", FILES)
    work = Path(repo.url.removeprefix("file://"))
    subprocess.run(["git", "checkout", "-q", "-b", "v2"], cwd=work, check=True)
    (work / "apps/new").mkdir()
    (work / "apps/new/k.yaml").write_text("kind: Y\n")
    os.symlink("../../README.md", work / "apps/web/link.yaml")  # not a regular file: never listed
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@e.invalid", "commit", "-q", "-m", "v2"],
                   cwd=work, check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=work, check=True)
    return snapshot_tree(repo)


def test_files_are_listed_sorted(tree: GitTree) -> None:
    assert tree.files("infra", None) == tuple(sorted(FILES))
    assert tree.files("infra", "v2") == tuple(sorted(LATER))


def test_read(tree: GitTree) -> None:
    assert tree.read("infra", None, "apps/api/config.json", 100) == b'{"a": 1}'
    assert tree.read("infra", "v2", "apps/new/k.yaml", 100) == b"kind: Y\n"


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "apps/../README.md", "apps//web/k.yaml",
                                  "", "apps/missing.yaml", "apps/web", "apps/web/link.yaml"])
def test_bad_paths_are_refused(tree: GitTree, path: str) -> None:
    with pytest.raises(InputError):
        tree.read("infra", "v2", path, 100)


def test_reads_are_bounded(tree: GitTree) -> None:
    with pytest.raises(InputError, match="over the limit"):
        tree.read("infra", None, "README.md", 3)


def test_unknown_repository_or_revision(tree: GitTree) -> None:
    with pytest.raises(SourceError):
        tree.files("nope", None)
    with pytest.raises(SourceError):
        tree.files("infra", "no-such-branch")
