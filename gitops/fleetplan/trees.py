"""The real TreeSource adapters: a commit of the repository, or an uncommitted working tree on disk.

Built by ``gitops plan`` (gitops/cli/plan.py). :class:`CommitTree` resolves a commit, branch or tag through
the engine's Source port (the shared, read-only Git snapshot a sync of that commit would render);
:class:`WorktreeTree` copies a working tree into a private directory first. Key design choice for the
working tree: the files are read from disk without ever following a symbolic link out of the directory (a
link to a file inside it is copied as that file, any other link is left out and named in the plan's notes),
``.git`` is skipped, and the copy is bounded like a snapshot (bytes per file, total bytes, entries, depth:
the repository's ``snapshotLimits``), so renderers see the same kind of tree as from a commit and a
hostile tree cannot make the plan read outside it. When the directory is a Git work tree (and ``git`` is on
the PATH), only what ``git add -A`` would commit is copied (``git ls-files --cached --others
--exclude-standard``: ignored files such as a virtualenv are left out, as they are from a commit);
otherwise every file is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitops import domain
from gitops.engine import Source
from gitops.errors import InputError
from gitops.fleetplan.ports import Tree


class CommitTree:
    """``revision`` of ``repository`` (None: the head of its configured ref) through the Source port."""

    def __init__(self, source: Source, repository: domain.Repository, revision: str | None) -> None:
        self.source, self.repository, self.revision = source, repository, revision

    def tree(self) -> Tree:
        commit = self.source.resolve(self.repository, self.revision)
        root = self.source.checkout(self.repository, commit)
        name = self.revision or self.repository.ref
        label = commit[:12] if name == commit else f"{name} ({commit[:12]})"
        return Tree(root, commit, label)


@dataclass(frozen=True)
class Bounds:
    """What a working tree may hold (the defaults are the Git snapshots')."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024
    max_entries: int = 100_000
    max_depth: int = 100

    @staticmethod
    def of(limits: domain.SnapshotLimits | None) -> Bounds:
        default = Bounds()
        if limits is None:
            return default
        return Bounds(limits.max_file_bytes or default.max_file_bytes,
                      limits.max_bytes or default.max_total_bytes, limits.max_entries or default.max_entries)


@dataclass
class _Copy:
    source: Path
    target: Path
    bounds: Bounds
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    entries: int = 0
    total: int = 0
    skipped: list[str] = field(default_factory=list)
    listed: set[str] | None = None        # what Git would commit (None: everything)
    listed_dirs: set[str] = field(default_factory=set)

    def wanted(self, path: str, directory: bool) -> bool:
        if self.listed is None:
            return True
        return path in self.listed_dirs if directory else path in self.listed


class WorktreeTree:
    """The files of ``directory`` (a working tree of the repository), copied under ``scratch``; call
    :meth:`close` to remove the copy. ``skipped`` names the symbolic links left out."""

    def __init__(self, directory: Path, scratch: Path, bounds: Bounds | None = None) -> None:
        self.directory, self.scratch, self.bounds = Path(directory), Path(scratch), bounds or Bounds()
        self.skipped: list[str] = []
        self._copy: Path | None = None

    def tree(self) -> Tree:
        real = Path(os.path.realpath(self.directory))
        if not real.is_dir():
            raise InputError("the working tree is not a directory", file=str(self.directory))
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._copy = Path(tempfile.mkdtemp(prefix="worktree-", dir=self.scratch))
        state = _Copy(real, self._copy / "tree", self.bounds)
        state.listed = git_listing(real)
        for path in state.listed or ():
            parts = path.split("/")
            state.listed_dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        state.target.mkdir()
        _copy_dir(state, "", 0)
        self.skipped = sorted(state.skipped)
        revision = f"worktree:{state.digest.hexdigest()[:16]}"
        return Tree(state.target, revision, f"working tree {self.directory}")

    def close(self) -> None:
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None


def git_listing(directory: Path) -> set[str] | None:
    """The paths ``git add -A`` would commit in ``directory`` (relative to it), or None when it is not
    the top of a Git work tree or ``git`` is not available."""
    git = shutil.which("git")
    if git is None or not (directory / ".git").exists():
        return None
    try:
        done = subprocess.run([git, "-C", str(directory), "ls-files", "-z", "--cached", "--others",
                               "--exclude-standard"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return {p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p}


def _inside(state: _Copy, path: str) -> Path | None:
    """The real path of the link at ``path`` when it resolves to a regular file inside the tree."""
    real = Path(os.path.realpath(state.source / path))
    try:
        real.relative_to(state.source)
    except ValueError:
        return None
    if any(part == ".git" for part in real.relative_to(state.source).parts):
        return None
    return real if real.is_file() else None


def _copy_dir(state: _Copy, rel: str, depth: int) -> None:
    if depth > state.bounds.max_depth:
        raise InputError(f"the working tree is nested deeper than {state.bounds.max_depth} directories",
                         file=rel)
    with os.scandir(state.source / rel if rel else state.source) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            path = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name == ".git" and not rel:
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if not state.wanted(path, stat.S_ISDIR(mode)):
                continue
            state.entries += 1
            if state.entries > state.bounds.max_entries:
                raise InputError(f"the working tree has more than {state.bounds.max_entries} entries")
            if stat.S_ISLNK(mode):
                real = _inside(state, path)
                if real is None:
                    state.skipped.append(path)
                    continue
                _copy_file(state, path, real)
            elif stat.S_ISDIR(mode):
                (state.target / path).mkdir()
                state.digest.update(f"d {path}\0".encode())
                _copy_dir(state, path, depth + 1)
            elif stat.S_ISREG(mode):
                _copy_file(state, path, state.source / path)
            else:
                state.skipped.append(path)


def _copy_file(state: _Copy, path: str, source: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(source, flags)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(state.bounds.max_file_bytes + 1)
    if len(data) > state.bounds.max_file_bytes:
        raise InputError(f"file is over the limit of {state.bounds.max_file_bytes} bytes", file=path)
    state.total += len(data)
    if state.total > state.bounds.max_total_bytes:
        raise InputError(f"the working tree holds more than {state.bounds.max_total_bytes} bytes")
    (state.target / path).write_bytes(data)
    state.digest.update(f"f {path}\0{len(data)}\0".encode())
    state.digest.update(data)
