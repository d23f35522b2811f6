"""Finds and reads the configuration files under a path, safely and in a deterministic order.

Called by :mod:`gitops.config.loader`. A file path is read as is; a directory is walked recursively for
``*.yaml`` and ``*.yml`` files, skipping hidden entries (``.git``), sorted by relative path so the same
tree always loads in the same order. Symlinks are never followed out of the directory: one that
resolves outside it is reported as a problem and ignored; symlinked directories are not descended (no
loops); a symlink to a file already listed is loaded once. Only regular files are opened, non-blocking
(a FIFO would hang the loader), and an oversized file is refused from its size before it is read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitops.errors import Problem

SUFFIXES = (".yaml", ".yml")
MAX_FILES = 10_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class ConfigFile:
    """A file to load: where it is and how problems name it."""

    path: Path
    display: str


def discover(root: Path, display: str) -> tuple[list[ConfigFile], list[Problem]]:
    """The configuration files under ``root`` (a file or a directory) and the problems met on the way."""
    if not root.exists():
        return [], [Problem("no such file or directory", display)]
    if not root.is_dir():
        return [ConfigFile(root, display)], []
    found: list[tuple[tuple[str, ...], ConfigFile]] = []
    problems: list[Problem] = []
    real_root = os.path.realpath(root)
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        directory, rel = stack.pop()
        for entry, what in _entries(directory, real_root, os.path.join(display, *rel), problems):
            parts = (*rel, entry.name)
            if what == "dir" and len(parts) >= MAX_DEPTH:
                problems.append(Problem(f"directories nested deeper than {MAX_DEPTH}; ignored",
                                        os.path.join(display, *parts)))
            elif what == "dir":
                stack.append((Path(entry.path), parts))
            elif what == "file":
                found.append((parts, ConfigFile(Path(entry.path), os.path.join(display, *parts))))
        if len(found) > MAX_FILES:
            return [], [Problem(f"more than {MAX_FILES} configuration files", display)]
    found.sort(key=lambda item: item[0])
    if not found and not problems:
        problems.append(Problem("no *.yaml or *.yml files found", display))
    return _unique([f for _, f in found]), problems


def _entries(directory: Path, real_root: str, shown: str,
             problems: list[Problem]) -> list[tuple[os.DirEntry[str], str]]:
    """The entries of ``directory`` worth a look, each tagged "dir" or "file"; problems appended."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        problems.append(Problem(f"cannot read directory: {exc.strerror or type(exc).__name__}", shown))
        return []
    out = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if os.path.commonpath([real_root, target]) != real_root:
                problems.append(Problem("symlink points outside the configuration directory; "
                                        "ignored, not followed", os.path.join(shown, entry.name)))
                continue
            if os.path.isdir(target):
                continue
        if entry.is_dir(follow_symlinks=False):
            out.append((entry, "dir"))
        elif entry.name.endswith(SUFFIXES):
            out.append((entry, "file"))
    return out


def _unique(files: list[ConfigFile]) -> list[ConfigFile]:
    """Each real file once: a symlink to a file already listed is not loaded a second time."""
    seen: set[str] = set()
    out = []
    for file in files:
        real = os.path.realpath(file.path)
        if real not in seen:
            seen.add(real)
            out.append(file)
    return out


def read(file: ConfigFile, max_bytes: int) -> bytes:
    """The bytes of ``file``; ValueError for a non-regular or oversized file, OSError if unreadable.

    Opened non-blocking so a FIFO is detected by ``fstat`` instead of hanging the loader.
    """
    fd = os.open(file.path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"file is {info.st_size} bytes, over the limit of {max_bytes}")
        return handle.read(max_bytes + 1)
