"""The only module that talks to Git remotes: list refs, resolve a ref, fetch; error translation.

Called by :mod:`gitops.sources.git_source`. Key design choices: remotes are anonymous (nothing about
them is written to the cache repository's config); ``list_heads`` is the cheap poll (one round trip,
no objects); fetches are shallow (``depth=1``) unless history is needed or the transport cannot do
shallow (the local transport), and fetched commits land under ``refs/cache/`` so the bare cache keeps
them. libgit2's socket timeouts are process-wide: :func:`configure_timeouts` sets them from the spec
of each operation (the last value set wins, so keep one timeout per process); each operation's own
deadline is also checked from the progress callbacks, which bounds a server that trickles data.
pygit2 errors are translated here, once, into the :mod:`gitops.errors` tree.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pygit2
from pygit2.enums import Option

from gitops.errors import AuthError, SourceError, SourceUnavailable, UnsafeSource
from gitops.sources.auth import Callbacks
from gitops.sources.spec import RepoSpec
from gitops.sources.urls import is_local, redact_text

UNSHALLOW = 2147483647  # libgit2's GIT_FETCH_DEPTH_UNSHALLOW
CACHE_NS = "refs/cache/"
_AUTH = re.compile(r"authenticat|status code: 40[13]\b|credential|unauthorized|permission denied", re.I)
_MISSING = re.compile(r"status code: 404\b|not found|not exported|does not appear to be a git repository|"
                      r"no such file|could not find repository", re.I)
_CERT = re.compile(r"certificate|hostkey|host key", re.I)
_timeout_lock = threading.Lock()
_timeout_ms = 0


def configure_timeouts(seconds: float) -> None:
    """Set libgit2's connect and socket-read timeouts (process-wide; the last value set wins)."""
    global _timeout_ms
    millis = max(1, int(seconds * 1000))
    with _timeout_lock:
        if millis == _timeout_ms:
            return
        _timeout_ms = millis
        pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, millis)
        pygit2.option(Option.SET_SERVER_TIMEOUT, millis)


def translate(exc: Exception, spec: RepoSpec, action: str) -> SourceError:
    """Map a pygit2/libgit2 failure to our error tree; the message never contains secrets."""
    if isinstance(exc, SourceError):
        return exc
    text = redact_text(str(exc).replace(spec.url, spec.display_url))
    message = f"repository {spec.name!r} ({spec.display_url}): {action} failed: {text}"
    if _CERT.search(text):
        return UnsafeSource(message)
    if _AUTH.search(text):
        return AuthError(message)
    if _MISSING.search(text):
        return SourceError(message)
    return SourceUnavailable(message)


def open_cache(path: Path) -> pygit2.Repository:
    """Open (creating if needed) the bare cache repository at ``path``."""
    if (path / "HEAD").exists():
        return pygit2.Repository(str(path))
    path.mkdir(parents=True, exist_ok=True)
    return pygit2.init_repository(str(path), bare=True)


def _callbacks(spec: RepoSpec) -> Callbacks:
    configure_timeouts(spec.timeout)
    return Callbacks(spec, time.monotonic() + spec.timeout)


def list_refs(repo: pygit2.Repository, spec: RepoSpec) -> dict[str, str]:
    """Ask the remote for its refs (no objects are transferred): ``{ref name: commit id}``.

    Annotated tags are reported peeled (the commit, not the tag object).
    """
    remote = repo.remotes.create_anonymous(spec.url)
    try:
        heads = remote.list_heads(callbacks=_callbacks(spec))
    except (pygit2.GitError, OSError, ValueError) as exc:
        raise translate(exc, spec, "listing refs") from exc
    refs: dict[str, str] = {}
    for head in heads:
        if head.name is None:
            continue
        if head.name.endswith("^{}"):
            refs[head.name[:-3]] = str(head.oid)  # peeled wins over the tag object
        else:
            refs.setdefault(head.name, str(head.oid))
    return refs


def resolve(refs: dict[str, str], spec: RepoSpec) -> str:
    """Resolve ``spec.ref`` in a remote listing: full ref, branch, tag, or ``HEAD``."""
    ref = spec.ref
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        if candidate.startswith(("refs/", "HEAD")) and candidate in refs:
            return refs[candidate]
    raise SourceError(f"repository {spec.name!r} ({spec.display_url}): ref {ref!r} not found on the "
                      "remote (branches, tags and full refs are looked up; short commit ids are not)")


def remote_ref_for(refs: dict[str, str], spec: RepoSpec) -> str | None:
    """The full remote ref name ``spec.ref`` denotes, if the listing has it."""
    for candidate in (spec.ref, f"refs/heads/{spec.ref}", f"refs/tags/{spec.ref}"):
        if candidate.startswith("refs/") and candidate in refs:
            return candidate
    return None


def fetch(repo: pygit2.Repository, spec: RepoSpec, refspecs: Sequence[str], *, deep: bool) -> None:
    """Fetch ``refspecs``: shallow unless ``deep``; falls back to a full fetch where shallow fails."""
    remote = repo.remotes.create_anonymous(spec.url)
    depth = 0 if is_local(spec.url) else (UNSHALLOW if deep and repo.is_shallow else 0 if deep else 1)
    try:
        remote.fetch(list(refspecs), callbacks=_callbacks(spec), depth=depth)
        return
    except (pygit2.GitError, OSError) as exc:
        if depth == 0 or "shallow" not in str(exc).lower():
            raise translate(exc, spec, "fetch") from exc
    try:
        remote.fetch(list(refspecs), callbacks=_callbacks(spec), depth=0)
    except (pygit2.GitError, OSError) as exc:
        raise translate(exc, spec, "fetch") from exc


def has_commit(repo: pygit2.Repository, revision: str) -> bool:
    """True if ``revision`` is a commit whose tree is in the cache."""
    try:
        commit = repo.get(revision)
        return isinstance(commit, pygit2.Commit) and commit.tree is not None
    except (KeyError, ValueError, pygit2.GitError):
        return False
