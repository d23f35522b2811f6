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

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from gitops import domain
from gitops.errors import InputError, SourceError
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
            self.listings[key] = self._list(self._snapshot(repository, revision).path)
        return self.listings[key]

    @staticmethod
    def _list(root: Path) -> tuple[str, ...]:
        out: list[str] = []
        for directory, dirs, names in os.walk(root, followlinks=False):
            dirs[:] = [d for d in dirs if d != ".git" and not os.path.islink(os.path.join(directory, d))]
            rel = os.path.relpath(directory, root)
            for name in names:
                full = os.path.join(directory, name)
                if stat.S_ISREG(os.lstat(full).st_mode):
                    out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
        return tuple(sorted(out))

    def read(self, repository: str, revision: str | None, path: str, max_bytes: int) -> bytes:
        root = self._snapshot(repository, revision).path
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
            raise InputError("not a repository-relative file path", file=path)
        full = Path(root, *parts)
        try:
            for depth in range(1, len(parts) + 1):  # no symbolic link on the way
                if Path(root, *parts[:depth]).is_symlink():
                    raise InputError("not a regular file of the repository", file=path)
            info = full.lstat()
            if not stat.S_ISREG(info.st_mode):
                raise InputError("not a regular file of the repository", file=path)
            if info.st_size > max_bytes:
                raise InputError(f"file is {info.st_size} bytes, over the limit of {max_bytes}", file=path)
            with full.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise InputError("no such file in the repository", file=path) from None
        if len(data) > max_bytes:
            raise InputError(f"file is over the limit of {max_bytes} bytes", file=path)
        return data
