"""What the source layer needs to know about one repository: :class:`RepoSpec` and its credentials.

Built by callers (engine, workers, the ``gitops source check`` command) from the engine's
:class:`gitops.domain.Repository` with :meth:`RepoSpec.from_config`; its credentials are the engine's
:class:`gitops.domain.Credentials`. Key design choice: a spec holds only
*references* to secrets (environment variable names, file paths), never the secrets themselves, so a
spec can be logged, hashed and passed between processes; :mod:`gitops.sources.auth` reads the secrets
at the moment a remote asks for them. The URL is checked against the URL policy
(:mod:`gitops.sources.urls`) at construction, so an unsafe spec cannot exist. The cache ``key`` is
derived from the URL *and* the credential references, so two Repository entries with the same URL but
different credentials (or none) never share a cache, a snapshot or a remote listing.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, field
from pathlib import Path

from gitops.domain import Credentials, Repository, SnapshotLimits
from gitops.errors import InputError
from gitops.sources.materialise import Limits
from gitops.sources.urls import cache_key, redact, validate_url

DEFAULT_TIMEOUT = 30.0
_SHA = re.compile(r"^[0-9a-f]{40}$")


def identity(creds: Credentials | None) -> str:
    """Which credentials these are, by reference (never the secret): part of the cache key."""
    return "" if creds is None or creds == Credentials() else repr(astuple(creds))


def _limits(conf: SnapshotLimits | None) -> Limits | None:
    """A Repository's ``snapshotLimits`` as :class:`Limits` (None: the GitSource's defaults)."""
    if conf is None:
        return None
    default = Limits()
    return Limits(max_file_bytes=conf.max_file_bytes or default.max_file_bytes,
                  max_total_bytes=conf.max_bytes or default.max_total_bytes,
                  max_entries=conf.max_entries or default.max_entries)


@dataclass(frozen=True)
class RepoSpec:
    """One Git repository as the source layer sees it. ``url`` is validated and normalised.

    ``limits`` caps its snapshots (None: the GitSource's limits); ``remote_base_hosts`` is the
    allow-list for Kustomize remote bases named by its content (None: the hosts of the configured
    repositories; see :mod:`gitops.sources.remote_bases`).
    """

    name: str
    url: str
    ref: str = "main"
    credentials: Credentials | None = None
    allow_local: bool = False
    timeout: float = DEFAULT_TIMEOUT
    limits: Limits | None = None
    remote_base_hosts: tuple[str, ...] | None = None
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", validate_url(self.url, allow_local=self.allow_local))
        object.__setattr__(self, "key", cache_key(self.url, identity(self.credentials)))
        if not self.ref or self.ref.startswith("-") or any(c in self.ref for c in " ~^:?*[\\\x00\n"):
            raise InputError(f"repository {self.name!r}: invalid ref {self.ref!r}", field="ref")
        if not 0 < self.timeout <= 3600:
            raise InputError(f"repository {self.name!r}: timeout must be in (0, 3600] seconds",
                             field="timeout")

    @classmethod
    def from_config(cls, repo: Repository, *, timeout: float = DEFAULT_TIMEOUT,
                    base: Path | None = None) -> RepoSpec:
        """Build a spec from a configured repository (relative local paths use ``base``)."""
        url = repo.url
        if repo.allow_local and base is not None and ":" not in url and not Path(url).is_absolute():
            url = str((base / url).resolve())
        return cls(name=repo.name, url=url, ref=repo.ref or "main", credentials=repo.credentials,
                   allow_local=repo.allow_local, timeout=timeout, limits=_limits(repo.snapshot_limits),
                   remote_base_hosts=repo.remote_base_hosts)

    @property
    def display_url(self) -> str:
        """The URL with secrets masked, for messages."""
        return redact(self.url)

    @property
    def pinned(self) -> bool:
        """True when ``ref`` is a full commit id: no remote lookup is needed to resolve it."""
        return bool(_SHA.match(self.ref))
