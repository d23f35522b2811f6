"""The GitTree port: the files of a repository at a revision, as the git generators need them.

Defined here, by the code it serves (:mod:`gitops.appset.generate`); implemented by
:class:`gitops.appset.snapshots.SnapshotTree` over the Git source's read-only snapshots and faked by
:class:`gitops.testing.gittree.FakeGitTree`; ``tests/gitops/appset/test_gittree_contract.py`` runs the
same cases on both. Key design choice: two calls only, both over repository-relative POSIX paths
(directories are derived from the file list, as Git has no empty directories), and a read is bounded by
the caller's ``max_bytes``, so a generator never loads an unbounded file.
"""

from __future__ import annotations

from typing import Protocol


class GitTree(Protocol):
    """Files of configured repositories. Both calls raise ``gitops.errors.SourceError`` when Git
    fails (unknown repository or revision, remote away) and ``InputError`` for a read over
    ``max_bytes`` or a path that is not a regular file of the tree."""

    def files(self, repository: str, revision: str | None) -> tuple[str, ...]:
        """Every regular file's path, sorted (``revision`` None: the repository's ref)."""
        ...

    def read(self, repository: str, revision: str | None, path: str, max_bytes: int) -> bytes:
        """The content of the file at ``path``."""
        ...
