"""The TreeSource port: where BASE and NEW of the changed repository are read from.

Defined here, by the orchestrator it serves (:mod:`gitops.fleetplan.orchestrate`); real adapters in
:mod:`gitops.fleetplan.trees` (a commit through the engine's Source port; an uncommitted working tree
copied from disk), tests may fake it with any directory. Also :class:`DirectoryFiles`, the appset
``GitTree`` port over such a directory, and :class:`SideTree`, which shows the ApplicationSet git
generators the changed repository at one side and every other repository at its ref. Key design choice:
a tree is a read-only directory plus an identity; the renders are cached by the directory, which is
unique per (repository, commit) for snapshots and per run for a working tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gitops.appset import GitTree
from gitops.appset.directory import list_regular_files, read_regular_file


@dataclass(frozen=True)
class Tree:
    """The files of one side: ``root`` (read-only, no symbolic link leading out), ``revision`` (a
    commit id, or ``worktree:<digest>``) and ``label`` (how to name it to a person)."""

    root: Path
    revision: str
    label: str


class TreeSource(Protocol):
    """One side of the plan (raises ``gitops.errors.SourceError`` or ``InputError`` when unreadable)."""

    def tree(self) -> Tree: ...


class DirectoryFiles:
    """The appset GitTree calls (``files``, bounded ``read``) over one directory: regular files only,
    no symbolic link followed, ``.git`` left out (as :class:`gitops.appset.snapshots.SnapshotTree`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listing: tuple[str, ...] | None = None

    def files(self) -> tuple[str, ...]:
        if self._listing is None:
            self._listing = list_regular_files(self.root)
        return self._listing

    def read(self, path: str, max_bytes: int) -> bytes:
        return read_regular_file(self.root, path, max_bytes)


class SideTree:
    """The GitTree the generators see at one side: ``repository`` at its ref is ``files``; a pinned
    revision of it, and every other repository, come from ``others`` (their ref, the same on both sides)."""

    def __init__(self, repository: str, files: DirectoryFiles, others: GitTree) -> None:
        self.repository, self.side, self.others = repository, files, others

    def files(self, repository: str, revision: str | None) -> tuple[str, ...]:
        if repository == self.repository and revision is None:
            return self.side.files()
        return self.others.files(repository, revision)

    def read(self, repository: str, revision: str | None, path: str, max_bytes: int) -> bytes:
        if repository == self.repository and revision is None:
            return self.side.read(path, max_bytes)
        return self.others.read(repository, revision, path, max_bytes)
