"""The files of a directory as the ApplicationSet git generators may see them: regular files only, no
symbolic link followed, ``.git`` left out, and reads bounded before a file is opened.

Used by both directory-backed GitTree adapters: :class:`gitops.appset.snapshots.SnapshotTree` (a Git
snapshot) and :class:`gitops.fleetplan.ports.DirectoryFiles` (a side of ``gitops plan``, a commit or an
uncommitted working tree). Key design choice: one implementation of the rules that keep repository
content from reaching outside its tree (a link anywhere on the path refuses the read), so both adapters
refuse exactly the same paths with the same InputError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gitops.errors import InputError


def list_regular_files(root: Path) -> tuple[str, ...]:
    """Every regular file under ``root`` as a sorted repository-relative POSIX path."""
    out: list[str] = []
    for directory, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if d != ".git" and not os.path.islink(os.path.join(directory, d))]
        rel = os.path.relpath(directory, root)
        for name in names:
            if stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode):
                out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return tuple(sorted(out))


def read_regular_file(root: Path, path: str, max_bytes: int) -> bytes:
    """The content of the regular file at the relative ``path`` (InputError: not a plain relative path,
    a link on the way, not a regular file, missing, or over ``max_bytes``)."""
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
