"""The plain renderer, and the confined file access every directory-based renderer shares.

``render(root, app_dir, options)`` reads a directory of YAML/JSON manifests. It is called by
``renderers.api.render``; the Jinja and Helm renderers reuse the helpers here (``confine``, ``collect``,
``read_bytes``, the option readers) so there is one implementation of "stay inside the snapshot".

Key design choice: every path is resolved (symlinks followed) and checked against the resolved
snapshot root *before* it is opened, and only regular files of bounded size are read; a symlink that
leaves the root, a FIFO or a device is an error naming the file, never silently skipped. Directory
walks never follow symlinked directories (no loops) and skip dot-files. Files are processed in sorted
order so the output is deterministic.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from renderers import yamlio
from renderers.errors import RenderError
from renderers.manifest import Collector, Manifest, from_documents

MAX_FILES = 5_000
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


# --- confinement -----------------------------------------------------------------------------------

def display(root: Path, path: Path) -> str:
    """``path`` relative to the snapshot root, for messages (never an absolute host path)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return path.name


def check_relative(rel: str, field: str, source: str | None = None) -> PurePosixPath:
    """A relative, ``..``-free path string, or a RenderError naming the field."""
    if not isinstance(rel, str):
        raise RenderError(f"must be a string, got {type(rel).__name__}", path=source, field=field)
    if "\x00" in rel or "\\" in rel:
        raise RenderError(f"path {rel!r:.80} contains a NUL byte or backslash", path=source, field=field)
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~"):
        raise RenderError(f"path {rel!r:.80} must be relative to the repository", path=source, field=field)
    if ".." in pure.parts:
        raise RenderError(f"path {rel!r:.80} must not contain '..'", path=source, field=field)
    return pure


def inside(root: Path, path: Path, field: str | None = None, source: str | None = None) -> Path:
    """``path`` resolved; a RenderError when it (or a symlink on the way) leaves ``root``."""
    real_root = root.resolve()
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError as exc:
        raise RenderError(f"{display(root, path)!r} does not exist", path=source, field=field) from exc
    except (OSError, RuntimeError) as exc:  # symlink loop, permission
        raise RenderError(f"cannot resolve {display(root, path)!r}: {exc}", path=source, field=field) from exc
    if real != real_root and not real.is_relative_to(real_root):
        raise RenderError(f"{display(root, path)!r} resolves outside the repository (symlink escape)",
                          path=source, field=field)
    return real


def confine(root: Path, base: Path, rel: str, field: str, source: str | None = None, *,
            allow_parent: bool = False) -> Path:
    """``base / rel`` resolved and checked to stay inside ``root``.

    With ``allow_parent``, ``..`` may climb out of ``base`` as long as the path, read lexically and
    then resolved, stays inside ``root`` (a shared values file or chart elsewhere in the repository).
    """
    if allow_parent and isinstance(rel, str) and ".." in PurePosixPath(rel).parts:
        check_relative(rel.replace("..", "_"), field, source)
        lexical = Path(os.path.normpath(base / rel))
        if lexical != root and not lexical.is_relative_to(root):
            raise RenderError(f"path {rel!r:.80} climbs out of the repository", path=source, field=field)
        return inside(root, lexical, field, source)
    pure = check_relative(rel, field, source)
    return inside(root, base / pure, field, source)


def read_bytes(root: Path, path: Path, *, max_bytes: int = yamlio.MAX_BYTES) -> bytes:
    """The content of a regular file inside ``root``, at most ``max_bytes`` long."""
    name = display(root, path)
    real = inside(root, path, source=name)
    info = real.stat()
    if not stat.S_ISREG(info.st_mode):
        raise RenderError("not a regular file (FIFO, device or directory)", path=name)
    if info.st_size > max_bytes:
        raise RenderError(f"file is {info.st_size} bytes, over the limit of {max_bytes}", path=name)
    with real.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RenderError(f"file grew over the limit of {max_bytes} bytes while reading", path=name)
    return data


# --- option readers --------------------------------------------------------------------------------

def check_keys(options: Mapping[str, Any], allowed: Iterable[str], renderer: str) -> None:
    """Reject option keys the renderer does not know, naming the first unknown one."""
    if not isinstance(options, Mapping):
        raise RenderError(f"options must be a mapping, got {type(options).__name__}", field="options")
    known = sorted(allowed)
    for key in sorted(map(str, options)):
        if key not in known:
            raise RenderError(f"unknown {renderer} option {key!r} (known: {', '.join(known)})",
                              field=f"options.{key}")


def opt_bool(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise RenderError(f"must be true or false, got {value!r:.60}", field=f"options.{key}")
    return value


def opt_str(options: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = options.get(key, default)
    if value is not None and not isinstance(value, str):
        raise RenderError(f"must be a string, got {type(value).__name__}", field=f"options.{key}")
    return value


def opt_paths(options: Mapping[str, Any], key: str, *, allow_parent: bool = False) -> tuple[str, ...]:
    """A list of relative path strings or globs (``..``-free unless ``allow_parent``)."""
    value = options.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RenderError(f"must be a list of strings, got {type(value).__name__}", field=f"options.{key}")
    for i, item in enumerate(value):
        check_relative(item.replace("..", "_") if allow_parent and isinstance(item, str) else item,
                       f"options.{key}[{i}]")
    return tuple(value)


# --- directory walking -----------------------------------------------------------------------------

def matches(rel: str, patterns: Iterable[str]) -> bool:
    """A pattern with ``/`` matches the whole relative path (``*`` crosses ``/``), else the name."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in patterns)


@dataclass(frozen=True)
class Selection:
    """Which files of a directory a renderer reads."""

    suffixes: tuple[str, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    recursive: bool = False

    def wants(self, rel: str) -> bool:
        if not rel.endswith(self.suffixes) or matches(rel, self.exclude):
            return False
        return not self.include or matches(rel, self.include)


def walk(root: Path, directory: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` that never follows symlinked directories and fails loudly on unreadable ones:
    a silently skipped directory would mean missing manifests, and a prune of live objects."""

    def fail(exc: OSError) -> None:
        name = display(root, Path(exc.filename)) if exc.filename else display(root, directory)
        raise RenderError(f"cannot list directory: {exc.strerror or exc}", path=name) from exc

    return os.walk(directory, followlinks=False, onerror=fail)


def collect(root: Path, directory: Path, selection: Selection) -> list[Path]:
    """The selected files under ``directory``, sorted by relative path; symlinks must stay inside."""
    found: list[tuple[str, Path]] = []
    for current, dirs, files in walk(root, directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if selection.recursive else []
        for name in files:
            path = Path(current) / name
            rel = path.relative_to(directory).as_posix()
            if name.startswith(".") or not selection.wants(rel):
                continue
            inside(root, path, source=display(root, path))
            found.append((rel, path))
            if len(found) > MAX_FILES:
                raise RenderError(f"more than {MAX_FILES} files selected", path=display(root, directory))
    return [path for _, path in sorted(found)]


def app_directory(root: Path, rel: str) -> Path:
    """The application directory ``rel`` inside ``root``; must exist and stay inside."""
    real = confine(root, root, rel, "path")
    if not real.is_dir():
        raise RenderError(f"{rel!r} is not a directory", field="path")
    return real


class Budget:
    """Counts bytes read across files so a directory cannot add up to an unbounded render."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_TOTAL_BYTES if limit is None else limit
        self.used = 0

    def take(self, size: int, source: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise RenderError(f"input adds up to more than {self.limit} bytes", path=source)


# --- the plain renderer ----------------------------------------------------------------------------

OPTIONS = frozenset({"recursive", "include", "exclude"})


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` merged over ``base``: maps merge key by key, anything else from ``top`` wins."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml_all(data: bytes | str, source: str) -> list[Any]:
    """Every document of a YAML stream through ``yamlio`` (size, depth and alias guards)."""
    return yamlio.load_all(data, source)


def load_yaml(data: bytes | str, source: str) -> Any:
    """Exactly one YAML document (``None`` when empty), as :func:`load_yaml_all`."""
    docs = load_yaml_all(data, source)
    if len(docs) > 1:
        raise RenderError(f"expected one YAML document, found {len(docs)}", path=source)
    return docs[0] if docs else None


def load_documents(data: bytes | str, source: str) -> list[Any]:
    """YAML (multi-document) or, for ``*.json``, one JSON value, with the bounded loaders."""
    if not source.endswith(".json"):
        return load_yaml_all(data, source)
    text = yamlio.decode(data, source)
    try:
        return [json.loads(text)]
    except json.JSONDecodeError as exc:
        raise RenderError(f"invalid JSON: {exc.msg} at column {exc.colno}", path=source,
                          line=exc.lineno) from exc
    except RecursionError as exc:
        raise RenderError("JSON nested too deeply", path=source) from exc


def render(root: Path, app_dir: Path, options: Mapping[str, Any]) -> list[Manifest]:
    """Every manifest of the YAML/JSON files in ``app_dir``, in file order then document order."""
    check_keys(options, OPTIONS, "plain")
    selection = Selection(MANIFEST_SUFFIXES, opt_paths(options, "include"), opt_paths(options, "exclude"),
                          opt_bool(options, "recursive", False))
    budget = Budget()
    manifests = Collector()
    for path in collect(root, app_dir, selection):
        source = display(root, path)
        data = read_bytes(root, path)
        budget.take(len(data), source)
        manifests.extend(from_documents(load_documents(data, source), source), source)
    return manifests.manifests
