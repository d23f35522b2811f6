"""Kustomize remote bases (``resources: [https://host/org/repo//path?ref=v1]``) fetched through Git.

Called by the engine's Source port: the Kustomize renderer asks for a remote URL and gets back a
directory inside a read-only snapshot. A remote base URL comes from repository content, so it is
untrusted input. Key design choices:

- it passes the one URL policy (:mod:`gitops.sources.urls`) like a configured repository, with no
  exception for local repositories: no ``ext::``/``fd::``, no ``file://`` or paths, no inline
  secrets, no query beyond Kustomize's own ``ref``/``version``/``timeout``/``submodules``, no
  fragment, plain ``http://``/``git://`` only to loopback;
- its host (and port) must be allow-listed (like Argo CD's ``sourceRepos``): the Repository's
  ``remoteBaseHosts`` if set, else the hosts of every configured Repository; the application's own
  repository's host is always allowed;
- just before fetching, the addresses the host resolves to are checked: link-local and metadata
  addresses are always refused, plain transports must resolve to loopback only;
- a failed fetch is reported by category only (unreachable, credentials, not found, untrusted
  certificate), never with the remote's own words, so error text is no port or banner oracle;
- credentials are reused only for the application's own repository (same repository by normalised
  URL); every other remote base is fetched anonymously, with its own cache (the cache key includes the
  credential references), so credentials never go to another host and no private cache is shared.

URL forms follow Kustomize's repospec: an optional ``git::`` prefix; ``?ref=`` (or ``?version=``);
``//`` separating the repository from the path inside it; without ``//``, the first two path
segments on github.com, gitlab.com and bitbucket.org, or everything up to a ``.git`` segment.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from gitops.domain import Repository
from gitops.errors import AuthError, InputError, SourceError, SourceUnavailable, UnsafeSource
from gitops.sources.git_source import GitSource
from gitops.sources.spec import RepoSpec
from gitops.sources.urls import (
    Resolver,
    check_remote_host,
    check_url,
    endpoint,
    redact,
    redact_text,
    same_repository,
    system_resolver,
)

log = logging.getLogger(__name__)
_KNOWN_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
_KUSTOMIZE_QUERY = frozenset({"ref", "version", "timeout", "submodules"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER = re.compile(r"^[A-Za-z0-9+._-]*::")
_REMOTE_SCHEMES = frozenset({"https", "http", "ssh", "git", "git+ssh", "ssh+git"})
_FAILURES: tuple[tuple[type[SourceError], str], ...] = (
    (AuthError, "the remote did not accept the request without credentials (remote bases outside the "
                "application's own repository are fetched anonymously)"),
    (UnsafeSource, "the remote's TLS certificate or SSH host key is not trusted"),
    (SourceUnavailable, "the remote could not be reached or did not answer in time"),
    (SourceError, "no such repository, ref or commit"),
)


@dataclass(frozen=True)
class RemoteBase:
    """A parsed remote base: the repository, the directory inside it and the ref (None: HEAD)."""

    repo_url: str
    path: str
    ref: str | None


def _shown(url: str) -> str:
    shown = redact(url)
    return repr(shown if len(shown) <= 300 else shown[:300] + "...")


def _refused(url: str, why: str) -> UnsafeSource:
    return UnsafeSource(f"remote base {_shown(url)} refused: {why}")


def _split_query(url: str, raw: str) -> tuple[str, str | None]:
    if "#" in raw:
        raise _refused(url, "a fragment ('#...') has no meaning in a remote base and may carry a token")
    base, _, query = raw.partition("?")
    params = parse_qs(query, keep_blank_values=True)
    if any(key not in _KUSTOMIZE_QUERY for key in params) or any(len(v) > 1 for v in params.values()):
        raise _refused(url, "only the query parameters ref, version, timeout and submodules are allowed, "
                            "each at most once")
    refs = params.get("ref") or params.get("version") or []
    return base, (refs[0] or None) if refs else None


def _split_scheme(url: str, base: str) -> tuple[str, str]:
    """("https://", "host/org/repo//path"), or ("", "git@host:org/repo/path") for scp-like URLs."""
    scheme = _SCHEME.match(base)
    if not scheme:
        return "", base
    name = scheme.group(1).lower()
    if name == "file":
        raise _refused(url, "file:// remote bases are not allowed (they would read the engine's own files)")
    if name not in _REMOTE_SCHEMES:
        raise _refused(url, f"the '{name[:32]}' scheme is not allowed for remote bases; use https:// or ssh://")
    return scheme.group(0), base[scheme.end():]


def _repo_and_path(rest: str) -> tuple[str, str]:
    """Split ``host/org/repo/dir`` (or scp-like ``host:org/repo/dir``) into repository and path."""
    if "//" in rest:
        repo, _, path = rest.partition("//")
        return repo, path
    scp = ":" in rest.split("/", 1)[0]
    host, sep, tail = rest.partition(":" if scp else "/")
    segments = tail.split("/")
    bare_host = host.rpartition("@")[2].lower()
    cut = 2 if bare_host in _KNOWN_HOSTS and len(segments) >= 2 else next(
        (i + 1 for i, segment in enumerate(segments) if segment.endswith(".git")), 0)
    if not cut:
        raise InputError(f"remote base {_shown(rest)}: cannot tell the repository from the path; "
                         "separate them with '//' (https://host/org/repo//dir?ref=v1)", field="resources")
    return f"{host}{sep}{'/'.join(segments[:cut])}", "/".join(segments[cut:])


def parse(url: str) -> RemoteBase:
    """The repository, path and ref of a Kustomize remote base URL, checked against the URL policy."""
    raw = url.removeprefix("git::")
    if _HELPER.match(raw):
        raise _refused(url, "git remote-helper transports (ext::, fd::, ...) are not allowed")
    base, ref = _split_query(url, raw)
    scheme, rest = _split_scheme(url, base)
    repo, path = _repo_and_path(rest)
    path = path.strip("/")
    if any(part == ".." for part in path.split("/")) or os.path.isabs(path):
        raise _refused(url, f"path {path!r} leaves the repository")
    scp = not scheme and ":" in repo.split("/", 1)[0]
    repo_url = f"{scheme}{repo}" if scheme or scp else f"https://{repo}"
    try:
        check_url(repo_url)
    except UnsafeSource as exc:
        raise _refused(url, exc.message) from None
    return RemoteBase(repo_url, path, ref)


def configured_hosts(repositories: Iterable[Repository]) -> tuple[str, ...]:
    """The default allow-list: the host (and explicit port) of every configured repository URL."""
    hosts = (endpoint(repo.url) for repo in repositories)
    return tuple(sorted({host for host in hosts if host}))


class RemoteBaseLoader:
    """Callable handed to the Kustomize renderer: remote URL -> directory in a snapshot.

    ``own`` is the application's repository; ``default_hosts`` the allow-list used when
    ``own.remote_base_hosts`` is not set (normally :func:`configured_hosts` of the configuration);
    ``resolver`` maps (host, port) to the addresses a connection would use.
    """

    def __init__(self, git: GitSource, own: RepoSpec | None = None, *, default_hosts: Iterable[str] = (),
                 resolver: Resolver = system_resolver) -> None:
        self.git = git
        self.own = own
        self.resolver = resolver
        hosts = list(default_hosts)
        if own is not None:
            if own.remote_base_hosts is not None:
                hosts = list(own.remote_base_hosts)
            own_host = endpoint(own.url)
            if own_host:
                hosts.append(own_host)
        self.allowed = tuple(dict.fromkeys(hosts))

    def _spec(self, remote: RemoteBase) -> RepoSpec:
        ref = remote.ref or "HEAD"
        own = self.own
        if own is not None and same_repository(remote.repo_url, own.url):
            return RepoSpec(name=own.name, url=own.url, ref=ref, credentials=own.credentials,
                            timeout=own.timeout, limits=own.limits)
        return RepoSpec(name="remote-base", url=remote.repo_url, ref=ref,
                        timeout=own.timeout if own else 30.0, limits=own.limits if own else None)

    def __call__(self, url: str) -> Path:
        remote = parse(url)
        spec = self._spec(remote)
        try:
            check_remote_host(check_url(remote.repo_url), self.allowed, self.resolver)
        except (UnsafeSource, SourceUnavailable) as exc:
            raise type(exc)(f"remote base {_shown(url)} refused: {exc.message}") from None
        try:
            snapshot = self.git.snapshot(spec, self.git.head(spec))
        except InputError as exc:
            raise InputError(f"remote base {_shown(url)}: {exc.problem.message}", file=exc.problem.file,
                             field="resources") from None
        except SourceError as exc:
            raise _fetch_failed(url, exc) from None
        directory = (snapshot.path / remote.path).resolve()
        if not directory.is_relative_to(snapshot.path.resolve()):
            raise _refused(url, "its path leaves the repository")
        if not directory.is_dir():
            raise InputError(f"remote base {_shown(url)}: no directory {remote.path!r} at "
                             f"{snapshot.revision[:12]}", field="resources")
        return directory


def _fetch_failed(url: str, exc: SourceError) -> SourceError:
    """A fetch failure by category only: the remote's own text (status, banner) is logged, not shown."""
    log.debug("remote base %s: %s", _shown(url), redact_text(exc.message))
    kind, why = next((k, w) for k, w in _FAILURES if isinstance(exc, k))
    return kind(f"remote base {_shown(url)} could not be fetched: {why}", temporary=exc.temporary)
