"""FakeGitTree: the GitTree port (``gitops.appset.ports``) over in-memory files, for tests.

Raises what the real adapter (:class:`gitops.appset.snapshots.SnapshotTree`) raises for the same
cases (``tests/gitops/appset/test_gittree_contract.py`` runs both): SourceError for an unknown
repository or revision, or when told to fail (``fail``: the remote is away), and InputError for a read
of a missing file, a path that is not a plain relative path, or content over ``max_bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitops.errors import InputError, SourceError, SourceUnavailable


class FakeGitTree:
    """``repositories``: name -> revision (None: the default ref) -> path -> content."""

    def __init__(self, repositories: Mapping[str, Mapping[str | None, Mapping[str, bytes | str]]],
                 *, fail: bool = False) -> None:
        self.repositories = repositories
        self.fail = fail
        self.calls: list[tuple[str, str | None]] = []

    def _tree(self, repository: str, revision: str | None) -> Mapping[str, bytes | str]:
        self.calls.append((repository, revision))
        if self.fail:
            raise SourceUnavailable(f"repository {repository!r}: remote unavailable")
        revisions = self.repositories.get(repository)
        if revisions is None:
            raise SourceError(f"no repository named {repository!r} is configured")
        tree = revisions.get(revision)
        if tree is None:
            raise SourceError(f"repository {repository!r}: no revision {revision!r}")
        return tree

    def files(self, repository: str, revision: str | None) -> tuple[str, ...]:
        return tuple(sorted(self._tree(repository, revision)))

    def read(self, repository: str, revision: str | None, path: str, max_bytes: int) -> bytes:
        tree = self._tree(repository, revision)
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
            raise InputError("not a repository-relative file path", file=path)
        if path not in tree:
            raise InputError("no such file in the repository", file=path)
        content = tree[path]
        data = content.encode() if isinstance(content, str) else content
        if len(data) > max_bytes:
            raise InputError(f"file is {len(data)} bytes, over the limit of {max_bytes}", file=path)
        return data
