"""Which targets a push touches: repository URLs, refs and changed paths matched against the fleet.

Pure functions, called by :mod:`web.webhooks.receive` with the pushes a payload carried
(:class:`Push`, built by :mod:`web.webhooks.payloads`) and the configured :class:`gitops.domain.Fleet`.
Key design choices:

- a repository is named by its identity, not its spelling: :func:`identity` reduces ssh
  (``git@host:org/repo.git``, ``ssh://git@host:22/org/repo``), https (with or without ``.git``, a
  trailing slash, a port, a user) and git:// URLs to ``host/path`` in lower case, so the https URL a
  Git host puts in its payload matches the ssh URL in the configuration (Git hosts treat owner and
  repository names case-insensitively; the transport and port are ignored, since the same repository
  is served over several);
- an application follows a push when its revision (``source.revision``, else the repository's ``ref``)
  names the pushed ref: a branch name or ``refs/heads/<name>`` for a branch push, a tag name or
  ``refs/tags/<name>`` for a tag push; ``HEAD`` follows the default branch (any branch when the
  payload does not say which is the default);
- changed paths use the rule of ``workers.service._affected``: a change under an application's path
  hits it; a change outside every application path of that repository and ref (a shared base, a
  component) hits all of them; when the payload does not list complete changed paths (Bitbucket,
  force pushes, new branches, truncated commit lists), every application on the ref is hit.

Every reason for triggering nothing is kept (:attr:`Match.reasons`), so the answer can say why.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gitops.domain import Application, Fleet, Repository
from gitops.sources.urls import redact

ZERO_SHA = re.compile(r"^0+$")
MAX_PATH = 4096
MAX_PATHS = 10_000
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:[^@/:]+@)?(?P<host>\[[^\]/]+\]|[^@/:\[\]]+):(?P<path>.*)$", re.S)
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"


@dataclass(frozen=True)
class Push:
    """One pushed ref. ``urls``: every URL the payload gives for the repository (clone, ssh, web);
    ``ref``: ``refs/heads/<branch>`` or ``refs/tags/<tag>``; ``paths``: changed paths, None when the
    payload does not list them completely; ``default_branch``: when the payload names it."""

    urls: tuple[str, ...]
    ref: str
    after: str = ""
    paths: frozenset[str] | None = None
    deleted: bool = False
    default_branch: str | None = None

    @property
    def kind(self) -> str:
        return "tag" if self.ref.startswith(TAG_PREFIX) else "branch"

    @property
    def short(self) -> str:
        return self.ref.removeprefix(BRANCH_PREFIX).removeprefix(TAG_PREFIX)


@dataclass(frozen=True)
class Hit:
    """A target to refresh, and why: the repository and ref of the push that touched it."""

    application: str
    cluster: str
    repository: str
    ref: str

    @property
    def key(self) -> str:
        return f"{self.application}@{self.cluster}"


@dataclass(frozen=True)
class Match:
    hits: tuple[Hit, ...] = ()
    reasons: tuple[str, ...] = ()
    repositories: tuple[str, ...] = field(default=())


# ---- URLs -----------------------------------------------------------------------------------------


def identity(url: str) -> str | None:
    """``host/path`` of a repository URL, lower case, without scheme, user, port, ``.git`` or slashes at
    either end; ``file://`` URLs and absolute paths keep their case (``file:/abs/path``). None when
    ``url`` is not a URL of a repository."""
    if not isinstance(url, str) or not url or len(url) > 2048 or any(ord(c) < 32 for c in url):
        return None
    scheme = _SCHEME.match(url)
    if scheme:
        name = scheme.group(1).lower()
        if name == "file":
            rest = url[len(scheme.group(0)):]
            rest = rest[len("localhost"):] if rest.startswith("localhost/") else rest
            return _local(rest)
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            return None
        return _join(host, parts.path)
    if url.startswith("/"):
        return _local(url)
    scp = _SCP.match(url)
    if scp is None:
        return None
    return _join(scp.group("host").strip("[]").rstrip("."), scp.group("path"))


def _clean(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path).strip("/")
    path = path.removesuffix(".git").rstrip("/")
    return path


def _join(host: str, path: str) -> str | None:
    path = _clean(path)
    if not host or not path:
        return None
    return f"{host.lower()}/{path.lower()}"


def _local(path: str) -> str | None:
    cleaned = _clean(posixpath.normpath(path)) if path.startswith("/") else ""
    return f"file:/{cleaned}" if cleaned else None


def shown(urls: Iterable[str], limit: int = 3) -> str:
    """URLs for a message: redacted, each cut to 200 characters, at most ``limit``."""
    items = [redact(u)[:200] for u in urls][:limit]
    return ", ".join(items) if items else "(none)"


# ---- refs and paths -------------------------------------------------------------------------------


def revision_of(app: Application, repository: Repository) -> str:
    return app.source.revision or repository.ref


def follows(revision: str, push: Push) -> bool:
    """Whether an application at ``revision`` follows the ref ``push`` moved."""
    if revision == push.ref:
        return True
    if revision == "HEAD":
        return push.kind == "branch" and (push.default_branch is None or push.short == push.default_branch)
    return revision == push.short


def clean_path(value: object) -> str | None:
    """A changed path from a payload, relative and normalised; None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > MAX_PATH or "\x00" in value:
        return None
    normal = posixpath.normpath(value.lstrip("/"))
    if normal in (".", "..") or normal.startswith("../"):
        return None
    return normal


def under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it (the repository root holds everything)."""
    root = root.strip("/")
    return root in ("", ".") or path == root or path.startswith(root + "/")


def affected(apps: Sequence[Application], paths: frozenset[str] | None) -> list[Application]:
    """The rule of ``workers.service._affected``: apps whose path holds a changed file; a change outside
    every app path (a shared base) hits all; unknown (None) or no paths hit all."""
    if not paths:
        return list(apps)
    hit = [a for a in apps if any(under(p, a.source.path) for p in paths)]
    shared = any(not any(under(p, a.source.path) for a in apps) for p in paths)
    return list(apps) if shared else hit


# ---- the match ------------------------------------------------------------------------------------


def match(fleet: Fleet, pushes: Sequence[Push], allowed: frozenset[str] | None = None) -> Match:
    """The targets ``pushes`` touch, among the repositories ``allowed`` (None: all), and the reasons
    for everything that matched nothing."""
    hits: dict[str, Hit] = {}
    reasons: list[str] = []
    names: list[str] = []
    by_identity: dict[str, list[Repository]] = {}
    for repository in fleet.repositories.values():
        found = identity(repository.url)
        if found is not None:
            by_identity.setdefault(found, []).append(repository)
    for push in pushes:
        what = f"{push.kind} {push.short[:200]}"
        if push.deleted:
            reasons.append(f"{what} was deleted: nothing to refresh")
            continue
        ids = {i for i in (identity(u) for u in push.urls) if i is not None}
        repositories = [r for i in sorted(ids) for r in by_identity.get(i, [])]
        if not repositories:
            reasons.append(f"no repository matched the URL {shown(push.urls)}" if push.urls
                           else "the payload names no repository URL")
            continue
        for repository in repositories:
            if allowed is not None and repository.name not in allowed:
                reasons.append(f"repository {repository.name} matched, but this receiver may not trigger "
                               f"it (spec.repositories)")
                continue
            names.append(repository.name)
            apps = sorted((a for a in fleet.applications.values() if a.source.repository == repository.name),
                          key=lambda a: a.name)
            if not apps:
                reasons.append(f"repository {repository.name} has no applications")
                continue
            on_ref = [a for a in apps if follows(revision_of(a, repository), push)]
            if not on_ref:
                followed = sorted({revision_of(a, repository) for a in apps})
                reasons.append(f"{what} of repository {repository.name} is not followed by any application "
                               f"(they follow {', '.join(r[:100] for r in followed[:10])})")
                continue
            touched = affected(on_ref, push.paths)
            for app in touched:
                hit = Hit(app.name, app.destination.cluster, repository.name, push.ref)
                hits.setdefault(hit.key, hit)
            names_hit = {a.name for a in touched}
            spared = [a.name for a in on_ref if a.name not in names_hit]
            if spared:
                reasons.append(f"{len(spared)} application(s) of repository {repository.name} on {what} hold "
                               f"none of the changed paths: {', '.join(spared[:10])}")
    return Match(tuple(hits.values()), tuple(dict.fromkeys(reasons)), tuple(dict.fromkeys(names)))
