"""Kustomize remote bases (``resources: [https://host/org/repo//path?ref=v1]``) fetched through Git.

Called by the engine's Source port: the Kustomize renderer asks for a remote URL and gets back a
directory inside a read-only snapshot. Key design choice: a remote base is an ordinary Git source,
so it gets the same URL checks (no ``ext::``, no local paths), caching per commit, timeouts and
credential handling as an application's own repository; credentials are reused only when the remote
is the application's own repository (matched by normalised URL), never sent to another host.

URL forms follow Kustomize's repospec: an optional ``git::`` prefix; ``?ref=`` (or ``?version=``);
``//`` separating the repository from the path inside it; without ``//``, the first two path
segments on github.com, gitlab.com and bitbucket.org, or everything up to a ``.git`` segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from gitops.errors import InputError, UnsafeSource
from gitops.sources.git_source import GitSource
from gitops.sources.spec import RepoSpec
from gitops.sources.urls import url_key

_KNOWN_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")


@dataclass(frozen=True)
class RemoteBase:
    """A parsed remote base: the repository, the directory inside it and the ref (None: HEAD)."""

    repo_url: str
    path: str
    ref: str | None


def _split_query(url: str) -> tuple[str, str | None]:
    base, _, query = url.partition("?")
    params = parse_qs(query)
    refs = params.get("ref") or params.get("version") or []
    return base, refs[0] if refs else None


def _split_scheme(base: str) -> tuple[str, str]:
    """("https://", "host/org/repo//path"), ("git@", "host:org/repo/path") or ("", "host/...")."""
    for scheme in ("https://", "http://", "ssh://", "git@"):
        if base.startswith(scheme):
            return scheme, base[len(scheme):]
    return "", base


def _repo_and_path(rest: str) -> tuple[str, str]:
    """Split ``host/org/repo/dir`` (or scp-like ``host:org/repo/dir``) into repository and path."""
    if "//" in rest:
        repo, _, path = rest.partition("//")
        return repo, path
    scp = ":" in rest.split("/", 1)[0]
    host, sep, tail = rest.partition(":" if scp else "/")
    segments = tail.split("/")
    cut = 2 if host in _KNOWN_HOSTS and len(segments) >= 2 else next(
        (i + 1 for i, segment in enumerate(segments) if segment.endswith(".git")), 0)
    if not cut:
        raise InputError(f"remote base {rest!r}: cannot tell the repository from the path; "
                         "separate them with '//' (https://host/org/repo//dir?ref=v1)", field="resources")
    return f"{host}{sep}{'/'.join(segments[:cut])}", "/".join(segments[cut:])


def parse(url: str) -> RemoteBase:
    """The repository, path and ref of a Kustomize remote base URL."""
    base, ref = _split_query(url.removeprefix("git::"))
    scheme, rest = _split_scheme(base)
    repo, path = _repo_and_path(rest)
    path = path.strip("/")
    if any(part == ".." for part in path.split("/")) or os.path.isabs(path):
        raise UnsafeSource(f"remote base {url!r}: path {path!r} leaves the repository")
    return RemoteBase(f"{scheme or 'https://'}{repo}", path, ref)


class RemoteBaseLoader:
    """Callable handed to the Kustomize renderer: remote URL -> directory in a snapshot."""

    def __init__(self, git: GitSource, own: RepoSpec | None = None) -> None:
        self.git = git
        self.own = own

    def _spec(self, remote: RemoteBase) -> RepoSpec:
        ref = remote.ref or "HEAD"
        spec = RepoSpec(name="remote-base", url=remote.repo_url, ref=ref,
                        timeout=self.own.timeout if self.own else 30.0)
        if self.own is not None and url_key(spec.url) == self.own.key:
            spec = RepoSpec(name=self.own.name, url=self.own.url, ref=ref, credentials=self.own.credentials,
                            timeout=self.own.timeout)
        return spec

    def __call__(self, url: str) -> Path:
        remote = parse(url)
        spec = self._spec(remote)
        snapshot = self.git.snapshot(spec, self.git.head(spec))
        directory = (snapshot.path / remote.path).resolve()
        if not directory.is_relative_to(snapshot.path.resolve()):
            raise UnsafeSource(f"remote base {url!r} leaves its repository")
        if not directory.is_dir():
            raise InputError(f"remote base {url!r}: no directory {remote.path!r} at {snapshot.revision[:12]}",
                             field="resources")
        return directory
