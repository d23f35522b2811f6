"""SnapshotTree: the GitTree port over the Git source's read-only snapshots (the real adapter).

Built by ``gitops appset preview`` (and later the ApplicationSet controller) with the configured
repositories and a :class:`gitops.sources.GitSource`. Key design choice: it reads the same shared,
read-only snapshot a reconcile renders from (built once per commit, with the repository's snapshot
limits), resolving a branch or tag remotely first, so a generator sees exactly the files a sync of that
commit would; symbolic links and anything that is not a regular file are not listed, and a read is
bounded before the file is opened. This module imports ``gitops.sources`` (so pygit2): import it only
where Git is really read; the pure generation code never does.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitops import domain
from gitops.appset.directory import list_regular_files, read_regular_file
from gitops.errors import SourceError
from gitops.sources import GitSource, RepoSpec, Snapshot


class SnapshotTree:
    """Files of the ``repositories`` at a revision, from ``git``'s snapshots (cached per commit)."""

    def __init__(self, git: GitSource, repositories: Iterable[domain.Repository]) -> None:
        self.git = git
        self.repositories = {r.name: r for r in repositories}
        self.snapshots: dict[tuple[str, str | None], Snapshot] = {}
        self.listings: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def _snapshot(self, repository: str, revision: str | None) -> Snapshot:
        key = (repository, revision)
        if key not in self.snapshots:
            repo = self.repositories.get(repository)
            if repo is None:
                raise SourceError(f"no repository named {repository!r} is configured")
            spec = RepoSpec.from_config(repo)
            self.snapshots[key] = self.git.snapshot(spec, revision or spec.ref)
        return self.snapshots[key]

    def files(self, repository: str, revision: str | None) -> tuple[str, ...]:
        """Listed once per (repository, revision) and instance: a matrix asks once per combination."""
        key = (repository, revision)
        if key not in self.listings:
            self.listings[key] = list_regular_files(self._snapshot(repository, revision).path)
        return self.listings[key]

    def read(self, repository: str, revision: str | None, path: str, max_bytes: int) -> bytes:
        return read_regular_file(self._snapshot(repository, revision).path, path, max_bytes)
