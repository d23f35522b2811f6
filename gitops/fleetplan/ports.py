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

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gitops.appset import GitTree
from gitops.errors import InputError


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
            out: list[str] = []
            for directory, dirs, names in os.walk(self.root, followlinks=False):
                dirs[:] = [d for d in dirs if d != ".git" and not os.path.islink(os.path.join(directory, d))]
                rel = os.path.relpath(directory, self.root)
                for name in names:
                    if stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode):
                        out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
            self._listing = tuple(sorted(out))
        return self._listing

    def read(self, path: str, max_bytes: int) -> bytes:
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
            raise InputError("not a repository-relative file path", file=path)
        try:
            for depth in range(1, len(parts) + 1):
                if Path(self.root, *parts[:depth]).is_symlink():
                    raise InputError("not a regular file of the repository", file=path)
            full = Path(self.root, *parts)
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
