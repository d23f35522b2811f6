"""What the source layer needs to know about one repository: :class:`RepoSpec` and its credentials.

Built by callers (engine, workers, the ``gitops source check`` command) from the configuration's
``Repository`` model with :meth:`RepoSpec.from_config`. Key design choice: a spec holds only
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
from typing import Protocol

from gitops.errors import InputError
from gitops.sources.materialise import Limits
from gitops.sources.urls import cache_key, redact, validate_url

DEFAULT_TIMEOUT = 30.0
_SHA = re.compile(r"^[0-9a-f]{40}$")


class CredentialsLike(Protocol):
    """The attributes of the configuration's ``RepositoryCredentials`` that this layer reads."""

    @property
    def ssh_key_file(self) -> str | None: ...
    @property
    def ssh_key_env(self) -> str | None: ...
    @property
    def known_hosts_file(self) -> str | None: ...
    @property
    def insecure_ignore_host_key(self) -> bool: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password_env(self) -> str | None: ...
    @property
    def password_file(self) -> str | None: ...
    @property
    def token_env(self) -> str | None: ...
    @property
    def token_file(self) -> str | None: ...


class RepositoryLike(Protocol):
    """The attributes of the configuration's ``Repository`` model that this layer reads."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def allow_local(self) -> bool: ...
    @property
    def credentials(self) -> CredentialsLike | None: ...


@dataclass(frozen=True)
class CredentialRefs:
    """Where to find a repository's secrets (references only; see :mod:`gitops.sources.auth`)."""

    ssh_key_file: str | None = None
    ssh_key_env: str | None = None
    known_hosts_file: str | None = None
    insecure_ignore_host_key: bool = False
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None

    @classmethod
    def from_config(cls, creds: CredentialsLike | None) -> CredentialRefs | None:
        if creds is None:
            return None
        def text(name: str) -> str | None:
            value = getattr(creds, name, None)
            return str(value) if value else None

        return cls(ssh_key_file=text("ssh_key_file"), ssh_key_env=text("ssh_key_env"),
                   known_hosts_file=text("known_hosts_file"),
                   insecure_ignore_host_key=bool(getattr(creds, "insecure_ignore_host_key", False)),
                   username=text("username"), password_env=text("password_env"),
                   password_file=text("password_file"), token_env=text("token_env"),
                   token_file=text("token_file"))

    @property
    def identity(self) -> str:
        """Which credentials these are, by reference (never the secret): part of the cache key."""
        return "" if self == CredentialRefs() else repr(astuple(self))


def _limits(repo: object) -> Limits | None:
    """The configuration's ``snapshotLimits`` as :class:`Limits` (None: the GitSource's defaults)."""
    conf = getattr(repo, "snapshot_limits", None)
    if conf is None:
        return None
    default = Limits()
    return Limits(max_file_bytes=getattr(conf, "max_file_bytes", None) or default.max_file_bytes,
                  max_total_bytes=getattr(conf, "max_bytes", None) or default.max_total_bytes,
                  max_entries=getattr(conf, "max_entries", None) or default.max_entries)


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
    credentials: CredentialRefs | None = None
    allow_local: bool = False
    timeout: float = DEFAULT_TIMEOUT
    limits: Limits | None = None
    remote_base_hosts: tuple[str, ...] | None = None
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", validate_url(self.url, allow_local=self.allow_local))
        identity = self.credentials.identity if self.credentials is not None else ""
        object.__setattr__(self, "key", cache_key(self.url, identity))
        if not self.ref or self.ref.startswith("-") or any(c in self.ref for c in " ~^:?*[\\\x00\n"):
            raise InputError(f"repository {self.name!r}: invalid ref {self.ref!r}", field="ref")
        if not 0 < self.timeout <= 3600:
            raise InputError(f"repository {self.name!r}: timeout must be in (0, 3600] seconds",
                             field="timeout")

    @classmethod
    def from_config(cls, repo: RepositoryLike, *, timeout: float = DEFAULT_TIMEOUT,
                    base: Path | None = None) -> RepoSpec:
        """Build a spec from the configuration's ``Repository`` (relative local paths use ``base``)."""
        url = repo.url
        if repo.allow_local and base is not None and ":" not in url and not Path(url).is_absolute():
            url = str((base / url).resolve())
        hosts = getattr(repo, "remote_base_hosts", None)
        return cls(name=repo.name, url=url, ref=repo.ref or "main",
                   credentials=CredentialRefs.from_config(repo.credentials),
                   allow_local=bool(repo.allow_local), timeout=timeout, limits=_limits(repo),
                   remote_base_hosts=tuple(hosts) if hosts is not None else None)

    @property
    def display_url(self) -> str:
        """The URL with secrets masked, for messages."""
        return redact(self.url)

    @property
    def pinned(self) -> bool:
        """True when ``ref`` is a full commit id: no remote lookup is needed to resolve it."""
        return bool(_SHA.match(self.ref))
