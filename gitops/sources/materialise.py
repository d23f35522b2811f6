"""Write one commit's tree into a fresh directory, safely: the body of every snapshot.

Called by :mod:`gitops.sources.git_source` while it holds the snapshot lock, into a temporary
directory that is renamed into place only when this returns. Key design choices: tree entries are
hostile input. Names must be plain (no ``..``, ``/``, NUL or ``.git``); files are created with
``O_EXCL|O_NOFOLLOW`` and symlinks are created last, so nothing is ever written through a link; a
symlink whose target is absolute or resolves outside the snapshot makes the whole snapshot fail with
:class:`UnsafeSource` (nothing half-materialised, nothing silently missing); submodules are ignored;
files are written read-only (0444, or 0555 when executable: never setuid) and directories are made
read-only at the end. Sizes are checked from the object header before a blob is read, and the caps of
:class:`Limits` count every file as if it were copied.

With a ``store`` (a per-repository directory of the cache), file contents are written once per blob
and hard-linked into each snapshot, so a new commit costs only the files it changed plus its
directories, not a full copy of the tree. Store entries are read-only and named by blob id and mode;
garbage collection removes the ones no snapshot links to any more (:func:`prune_store`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitops.errors import InputError, UnsafeSource

DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 1024 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_DEPTH = 100


@dataclass(frozen=True)
class Limits:
    """Bounds on what one snapshot may contain (a Repository's ``snapshotLimits`` in the configuration)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_depth: int = DEFAULT_MAX_DEPTH


@dataclass
class _Walk:
    repo: pygit2.Repository
    root: Path
    limits: Limits
    revision: str
    store: Path | None = None
    entries: int = 0
    total: int = 0


def _check_name(name: str, where: str, revision: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name \
            or name.lower() == ".git":
        raise UnsafeSource(f"tree entry {where!r} has an unsafe name", revision=revision)


def _write_blob(walk: _Walk, oid: pygit2.Oid, rel: str, executable: bool) -> None:
    _, size = walk.repo.odb.read_header(oid)
    if size > walk.limits.max_file_bytes:
        raise InputError(f"file is {size} bytes, larger than the limit of {walk.limits.max_file_bytes} "
                         "bytes (snapshotLimits.maxFileBytes)", file=rel)
    walk.total += size
    if walk.total > walk.limits.max_total_bytes:
        raise InputError(f"snapshot larger than the limit of {walk.limits.max_total_bytes} bytes "
                         "(snapshotLimits.maxBytes)", file=rel)
    if walk.store is not None and _link_from_store(walk, oid, rel, executable):
        return
    _write_file(walk.root / rel, walk.repo[oid].read_raw(), executable)


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _write_file(path: Path, data: bytes, executable: bool) -> None:
    fd = os.open(path, _FLAGS, 0o600)
    try:
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.write(fd, view[written:written + (1 << 24)])
        os.fchmod(fd, 0o555 if executable else 0o444)
    finally:
        os.close(fd)


def _link_from_store(walk: _Walk, oid: pygit2.Oid, rel: str, executable: bool) -> bool:
    """Hard-link the blob from the store into the snapshot (writing it there first if needed).

    False when linking is impossible (too many links, another file system): the caller copies.
    """
    assert walk.store is not None
    shared = walk.store / f"{oid}{'-x' if executable else ''}"
    for _ in range(3):  # garbage collection may remove an unlinked store entry between our steps
        try:
            os.link(shared, walk.root / rel, follow_symlinks=False)
            return True
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno in (errno.EMLINK, errno.EXDEV, errno.EPERM):
                return False
            raise
        fd, tmp = tempfile.mkstemp(dir=walk.store, prefix=".tmp-")
        os.close(fd)
        os.unlink(tmp)
        try:
            _write_file(Path(tmp), walk.repo[oid].read_raw(), executable)
            with contextlib.suppress(FileExistsError):  # another builder stored it meanwhile
                os.link(tmp, shared)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return False


def prune_store(store: Path, min_age_seconds: float) -> int:
    """Remove store entries no snapshot links to (older than ``min_age_seconds``); returns the count."""
    removed, now = 0, time.time()
    if not store.is_dir():
        return 0
    for entry in store.iterdir():
        with contextlib.suppress(OSError):
            info = entry.lstat()
            if info.st_nlink <= 1 and now - info.st_ctime >= min_age_seconds:
                entry.unlink()
                removed += 1
    return removed


def forget_stored(root: Path, store: Path) -> int:
    """Unlink the store entries the files under ``root`` (a snapshot) are hard-linked to, so the next
    snapshot that needs those blobs writes them afresh from the Git objects; snapshots already linked
    keep their own links. Returns the count. Used by a hard refresh (``GitSource.drop_snapshot``)."""
    inodes: set[tuple[int, int]] = set()
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(directory, name))
                if stat.S_ISREG(info.st_mode):
                    inodes.add((info.st_dev, info.st_ino))
    removed = 0
    if not inodes or not store.is_dir():
        return 0
    for entry in store.iterdir():
        with contextlib.suppress(OSError):
            info = entry.lstat()
            if (info.st_dev, info.st_ino) in inodes and not entry.name.startswith(".tmp-"):
                entry.unlink()
                removed += 1
    return removed


def _walk_tree(walk: _Walk, tree: pygit2.Tree, prefix: str, links: list[tuple[str, str]]) -> None:
    if prefix.count("/") >= walk.limits.max_depth:
        raise InputError(f"directories nested deeper than {walk.limits.max_depth} levels", file=prefix)
    for entry in tree:
        name = os.fsdecode(entry.raw_name or b"")
        rel = f"{prefix}{name}"
        _check_name(name, rel, walk.revision)
        walk.entries += 1
        if walk.entries > walk.limits.max_entries:
            raise InputError(f"snapshot has more than {walk.limits.max_entries} entries (files, directories "
                             "and links; snapshotLimits.maxEntries)", file=rel)
        mode = entry.filemode
        if mode == FileMode.TREE:
            (walk.root / rel).mkdir(mode=0o700)
            _walk_tree(walk, walk.repo[entry.id].peel(pygit2.Tree), rel + "/", links)
        elif mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            _write_blob(walk, entry.id, rel, mode == FileMode.BLOB_EXECUTABLE)
        elif mode == FileMode.LINK:
            _, size = walk.repo.odb.read_header(entry.id)
            if size > 4096:
                raise UnsafeSource(f"symlink {rel!r} has a target longer than 4096 bytes",
                                   revision=walk.revision)
            links.append((rel, os.fsdecode(walk.repo[entry.id].read_raw())))
        # FileMode.COMMIT (a submodule) is ignored on purpose.


def _check_link(rel: str, target: str, revision: str) -> None:
    if not target or "\x00" in target or target.startswith("/") or posixpath.isabs(target):
        raise UnsafeSource(f"symlink {rel!r} points to an absolute path", revision=revision)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if joined == ".." or joined.startswith("../"):
        raise UnsafeSource(f"symlink {rel!r} points outside the repository", revision=revision)


def _make_links(root: Path, links: list[tuple[str, str]], revision: str) -> None:
    for rel, target in links:
        _check_link(rel, target, revision)
        try:
            os.symlink(target, root / rel)
        except FileExistsError as exc:
            raise UnsafeSource(f"tree entry {rel!r} appears twice", revision=revision) from exc
    real_root = os.path.realpath(root)
    for rel, _ in links:
        resolved = os.path.realpath(root / rel)
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            raise UnsafeSource(f"symlink {rel!r} resolves outside the repository", revision=revision)


def _freeze_dirs(root: Path) -> None:
    for dirpath, _, _ in os.walk(root, topdown=False):
        os.chmod(dirpath, 0o555)


def materialise(repo: pygit2.Repository, revision: str, dest: Path, limits: Limits,
                store: Path | None = None) -> None:
    """Write the tree of commit ``revision`` into the empty directory ``dest`` and make it read-only
    (file contents hard-linked from ``store`` when given)."""
    commit = repo[revision]
    if not isinstance(commit, pygit2.Commit):
        raise UnsafeSource(f"{revision} is not a commit", revision=revision)
    links: list[tuple[str, str]] = []
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    walk = _Walk(repo, dest, limits, revision, store)
    try:
        _walk_tree(walk, commit.tree, "", links)
        _make_links(dest, links, revision)
    except FileExistsError as exc:
        raise UnsafeSource(f"tree has a duplicate entry {exc.filename!r}", revision=revision) from exc
    except OSError as exc:  # e.g. a path longer than the file system allows
        raise InputError(f"cannot write snapshot file: {exc.strerror}", file=str(exc.filename)) from exc
    _freeze_dirs(dest)


def make_writable(root: Path) -> None:
    """Undo the read-only bits below ``root`` so it can be deleted (garbage collection)."""
    if not root.exists():
        return
    for dirpath, dirnames, _ in os.walk(root):
        os.chmod(dirpath, stat.S_IRWXU)
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, stat.S_IRWXU)
