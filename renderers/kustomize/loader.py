"""File access for a kustomize build: load restrictor, remote bases, bounded reads, content cache.

Callers: the target builder (kustomization files, resources, bases, components), generators (files,
env files) and patch loading. Design choices:

- ``RootOnly`` (the default) keeps every *file* inside the directory of the kustomization that names
  it, as Kustomize does; directories (bases) may live elsewhere, but never in an ancestor of the
  current kustomization (that is a cycle). ``KustomizeOptions.root`` is a hard fence above that:
  nothing outside it is ever read, whatever the restrictor, and symlinks are resolved before checking.
- Parsed YAML is cached by the SHA-256 of the file's bytes, never by path, and handed out as deep
  copies, so overlays built in the same process cannot corrupt each other.
- Only regular files are read, with a bound (:func:`read_regular`): a FIFO would hang the build and
  ``/dev/zero`` fill memory.
- A remote base is a dependency of the build like a file: its URL and the snapshot directory the
  remote loader resolved it to. A cached base is reused only if the URL still resolves there, so a new
  commit of a remote base is never rendered as the old one, whichever loader object asks.
- Errors quote a remote base as :func:`shown_ref` does: a token pasted into repository content (as
  userinfo, a query value or a fragment) is masked (the engine redacts every render error again).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from renderers import budget, yamlio
from renderers.errors import RenderError
from renderers.kustomize import yaml12
from renderers.kustomize.clone import plain_clone
from renderers.kustomize.errors import fail
from renderers.kustomize.options import NO_RESTRICTION, KustomizeOptions

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_GENERATOR_FILE_BYTES = 1024 * 1024
_CACHE_LIMIT = 4096
_cache: dict[str, tuple[int, bytes | list[Any]]] = {}
_lock = threading.Lock()
REMOTE_PREFIXES = ("http://", "https://", "git@", "ssh://", "git::", "github.com/", "gitlab.com/",
                   "bitbucket.org/")


def is_remote(ref: str) -> bool:
    return ref.startswith(REMOTE_PREFIXES) or "?ref=" in ref or ".git//" in ref


_SCHEME = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*::)?([A-Za-z][A-Za-z0-9+.-]*)://")
_SHOWN_KEYS = frozenset({"ref", "version", "timeout", "submodules"})  # Kustomize's own query keys


def shown_ref(ref: str) -> str:
    """A remote base reference as error messages quote it: userinfo masked (an ssh user name without a
    password kept, as in ``git@host``), query values other than Kustomize's own keys masked, and any
    fragment masked; the host, path and ``ref`` stay, so the message still says which base failed."""
    cut = min([i for i in (ref.find("?"), ref.find("#")) if i >= 0] or [len(ref)])
    head, query, fragment = ref[:cut], ref[cut:], ""
    if "#" in query:
        query, fragment = query.split("#", 1)[0], "#***"
    scheme = _SCHEME.match(head)
    start = scheme.end() if scheme else 0
    authority = head[start:] if scheme else head.split("/", 1)[0]
    if "@" in authority:  # the last '@' of the authority: a token may itself contain '/' or '@'
        userinfo = head[start:].rsplit("@", 1)[0] if scheme else authority.rsplit("@", 1)[0]
        ssh = scheme is None or "ssh" in scheme.group(1).lower()
        keep = ssh and re.fullmatch(r"[A-Za-z0-9._-]+", userinfo) is not None
        if not keep:
            head = head[:start] + "***@" + head[start + len(userinfo) + 1:]
    if query.startswith("?"):
        parts = [p if p.partition("=")[0] in _SHOWN_KEYS else
                 (f"{p.partition('=')[0]}=***" if "=" in p else "***") for p in query[1:].split("&")]
        query = "?" + "&".join(parts)
    return head + query + fragment


def parse_cached(data: bytes, source: str, *, unique_keys: bool = False, yaml11: bool = False) -> list[Any]:
    """Every YAML document of ``data`` (deep copies of a parse cached by content hash);
    ``unique_keys`` rejects a map repeating a key, as ``kubectl kustomize`` does for resources. The
    nodes (aliases expanded) are charged to the render's YAML node budget on every call, cached or
    not: the outcome of a render never depends on what the cache holds."""
    digest = hashlib.sha256(data).hexdigest() + ("/strict" if unique_keys else "")
    digest += "/1.1" if yaml11 else ""
    cached = _cache.get(digest)
    if cached is not None:  # a marshal blob (fast to thaw), or the parse itself when it cannot be one
        nodes, frozen = cached
        budget.charge_nodes(nodes, source)
        thawed: list[Any] = marshal.loads(frozen) if isinstance(frozen, bytes) else plain_clone(frozen)
        return thawed
    docs = yaml12.load_all(data, source, max_bytes=MAX_FILE_BYTES, unique_keys=unique_keys, yaml11=yaml11)
    nodes = yamlio.count_nodes(docs, source, shared=b"&" in data)
    budget.charge_nodes(nodes, source)
    blob: bytes | list[Any]
    try:
        blob = marshal.dumps(docs, 2)
    except ValueError:
        blob = plain_clone(docs)
    with _lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[digest] = (nodes, blob)
    return docs


Dep = tuple[str, str, str]


def read_regular(path: Path, shown: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``: a FIFO, device or socket is
    refused before anything is read (opened non-blocking, so a FIFO cannot hang the open, and checked
    again on the open descriptor), and the read stops one byte past the limit (``/dev/zero`` or a file
    growing while read never fills memory)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise fail("not a regular file (FIFO, device or socket)", shown)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}", shown) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise fail("not a regular file (FIFO, device or socket)", shown)
        if info.st_size > max_bytes:
            raise fail(f"file is {info.st_size} bytes, over the limit of {max_bytes}", shown)
        parts: list[bytes] = []
        total = 0
        while total <= max_bytes:  # sized by the file (no 8 MiB buffer per read); a growing file stops
            chunk = os.read(fd, min(max(info.st_size + 1 - total, 65536), max_bytes + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}", shown) from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise fail(f"file grew over the limit of {max_bytes} bytes while being read", shown)
    return data


def probe_path(path: Path) -> str:
    return "dir" if path.is_dir() else "file" if path.exists() else "missing"


def deps_valid(deps: list[Dep], chain: tuple[Path, ...],
               remote: Callable[[str], Path] | None = None) -> bool:
    """True when every file still has the recorded content (SHA-256), every probe its answer and every
    remote base URL still resolves to the same snapshot directory (``remote`` is asked again: a new
    commit of a remote base is a new snapshot, whatever object the loader is)."""
    chain_text = {str(p) for p in chain}
    for kind, path, value in deps:
        if kind == "remote":
            if remote is None:
                return False
            try:
                if os.path.realpath(remote(path)) != value:
                    return False
            except Exception:  # any failure means "rebuild", and the rebuild reports it
                return False
        elif kind == "file":
            try:
                data = read_regular(Path(path), path, MAX_FILE_BYTES)
            except RenderError:
                return False
            if hashlib.sha256(data).hexdigest() != value:
                return False
        elif kind == "probe":
            if probe_path(Path(path)) != value:
                return False
        elif kind == "link":
            if os.path.realpath(path) != value:
                return False
        elif kind == "dir" and path in chain_text:
            return False
    return True


@dataclass(frozen=True)
class Loader:
    """Reads files relative to one kustomization directory ``cwd``."""

    cwd: Path
    options: KustomizeOptions
    fence: Path
    chain: tuple[Path, ...] = ()
    top_dir: Path | None = None
    deps: list[Dep] = field(default_factory=list, compare=False, hash=False)

    @classmethod
    def top(cls, path: Path, options: KustomizeOptions) -> Loader:
        real = Path(os.path.realpath(path))
        fence = Path(os.path.realpath(options.root)) if options.root is not None else real
        loader = cls(real, options, fence, (real,), real)
        loader.check_fence(real, str(path))
        return loader

    def check_fence(self, real: Path, shown: str) -> None:
        if self.options.root is not None and not _within(real, self.fence):
            raise fail(f"security; path '{shown}' is outside the root '{self.fence}'")

    def file(self, ref: str) -> Path:
        """The real path of a file named by ``ref``, after the restrictor checks."""
        if "\x00" in ref:
            raise fail("NUL byte in a path", ref)
        joined = self.cwd / ref
        real = joined if _plain_entry(ref, joined) else Path(os.path.realpath(joined))
        if real != joined:
            self.deps.append(("link", str(joined), str(real)))
        self.check_fence(real, ref)
        if self.options.load_restrictor != NO_RESTRICTION and not _within(real, self.cwd):
            raise fail(f"security; file '{real}' is not in or below '{self.cwd}'", ref)
        return real

    def read(self, ref: str, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        real = self.file(ref)
        if not real.exists():
            raise fail(f"file '{ref}' does not exist in '{self.cwd}'", ref)
        if real.is_dir():
            raise fail(f"'{ref}' is a directory, expected a file", ref)
        data = read_regular(real, ref, max_bytes)
        self.deps.append(("file", str(real), hashlib.sha256(data).hexdigest()))
        return data

    def probe(self, ref: str | Path) -> str:
        """"dir", "file" or "missing" for ``cwd/ref``, remembered as a dependency of the build."""
        path = self.cwd / ref
        result = probe_path(path)
        self.deps.append(("probe", str(path), result))
        return result

    def load_yaml(self, ref: str, *, unique_keys: bool = False, yaml11: bool = False) -> list[Any]:
        return parse_cached(self.read(ref), str(self.cwd / ref), unique_keys=unique_keys, yaml11=yaml11)

    def directory(self, ref: str) -> Loader:
        """A loader for the base or component directory ``ref`` (remote URLs via the remote loader)."""
        if is_remote(ref):
            remote = self.options.remote_loader
            shown = shown_ref(ref)
            if remote is None:
                raise fail(f"remote resource '{shown}' needs a remote loader (none is configured)", shown)
            try:
                real = Path(os.path.realpath(remote(ref)))
            except RenderError:
                raise
            except Exception as exc:
                said = str(exc).replace(ref, shown)
                raise fail(f"cannot load remote resource '{shown}': {said}", shown) from exc
            self.deps.append(("remote", ref, str(real)))
            return Loader(real, self.options, real, (*self.chain, real), self.top_dir)
        real = Path(os.path.realpath(self.cwd / ref))
        self.deps.append(("link", str(self.cwd / ref), str(real)))
        self.check_fence(real, ref)
        if _within(self.cwd, real):
            raise fail(f"cycle detected: '{real}' is the current kustomization's directory or above it",
                       ref)
        if real in self.chain:
            raise fail(f"cycle detected: '{real}' is already being built", ref)
        return Loader(real, self.options, self.fence, (*self.chain, real), self.top_dir)

    def absolute(self, path: Path | str) -> str:
        """``path`` made absolute (origin annotations relativize it to the top at output time)."""
        return os.path.normpath(self.cwd / path)


def _plain_entry(ref: str, joined: Path) -> bool:
    """A bare file name in the (already real) directory that is not a symlink: its own real path."""
    if "/" in ref or ref in (".", "..", ""):
        return False
    try:
        return not stat.S_ISLNK(os.lstat(joined).st_mode)
    except OSError:
        return False


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def clear_cache() -> None:
    """Forget every cached parse (``renderers.kustomize.clear_caches`` forgets the built bases too)."""
    with _lock:
        _cache.clear()
