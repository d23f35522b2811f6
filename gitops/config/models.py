"""The ``Repository`` and ``Cluster`` kinds, the shared ``metadata`` block and Git reference names.

Called by the loader (:mod:`gitops.config.loader`) which validates each document's ``spec`` against
the ``*Spec`` model and then builds the public model (the spec's fields plus ``name`` and, for
clusters, ``labels`` from ``metadata``). ``gitops.config.to_fleet`` converts the public models into
the values the engine, the CLI and the workers read (``Repository`` then feeds
``gitops.sources.RepoSpec.from_config``, ``Cluster`` the Kubernetes client).
Credentials are references only (environment variable names and file paths); inline secrets are
rejected by ``extra="forbid"`` plus a dedicated message in the loader. Cross-field rules that concern
one field (``url`` vs ``allowLocal``, credentials vs transport) are field validators, so their errors
are located at that field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Generic, Self, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from gitops.config.fields import (
    ByteSize,
    EnvVar,
    LabelKey,
    LabelValue,
    LocalPath,
    Model,
    Name,
    PositiveDuration,
    Text,
    _dns_label,
)
from gitops.config.urls import Transport, check_server, classify, host_pattern, local_url
from gitops.keys import SHARD

_BAD_REF = re.compile(r"[\s~^:?*\[\\]|\.\.|@\{")


def _git_ref(value: str) -> str:
    if not value or len(value) > 255 or value.startswith("-") or _BAD_REF.search(value):
        raise ValueError("must be a branch, tag or commit: no whitespace, '..', '~', '^', ':', '?', "
                         "'*', '[', '\\' or leading '-'")
    return value


GitRef = Annotated[str, AfterValidator(_git_ref)]


class Metadata(Model):
    """``metadata`` of every document: a DNS-label name, optional labels and annotations."""

    name: Name
    """The object's name, unique per kind: a DNS label."""
    labels: dict[LabelKey, LabelValue] = {}
    """Kubernetes-style labels; Cluster and Application labels are what selectors match
    (``gitops.dev/shard`` on a Cluster picks its worker queues)."""
    annotations: dict[LabelKey, str] = {}
    """Free-form notes; a Cluster's annotations are exposed to ApplicationSet cluster generators."""

    @field_validator("labels")
    @classmethod
    def _shard(cls, labels: dict[str, str]) -> dict[str, str]:
        """The shard label (``gitops.dev/shard``) names worker queues (``reconcile.<shard>``): a DNS label."""
        if SHARD in labels:
            try:
                _dns_label(labels[SHARD])
            except ValueError as exc:
                raise ValueError(f"{SHARD} {labels[SHARD]!r} {exc}") from None
        return labels


S = TypeVar("S", bound=Model)


class Envelope(Model, Generic[S]):
    """The Kubernetes-style frame around every spec (``apiVersion``, ``kind``, ``metadata``, ``spec``)."""

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: Metadata
    spec: S


class RepositoryCredentials(Model):
    """Where to find a repository's credentials: names of environment variables and file paths."""

    ssh_key_file: LocalPath | None = None
    """Private SSH key, by file path (ssh URLs only; not with ``sshKeyEnv``)."""
    ssh_key_env: EnvVar | None = None
    """Private SSH key, by the name of an environment variable holding it."""
    known_hosts_file: LocalPath | None = None
    """known_hosts file for host key checking (ssh URLs only)."""
    insecure_ignore_host_key: bool = False
    """Disable SSH host key checking (contradicts ``knownHostsFile``)."""
    username: Text | None = None
    """User for basic auth over http(s) (required with a password)."""
    password_env: EnvVar | None = None
    """Password, by environment variable name (http(s) URLs only)."""
    password_file: LocalPath | None = None
    """Password, by file path."""
    token_env: EnvVar | None = None
    """Token, by environment variable name (http(s) URLs only; not with a password)."""
    token_file: LocalPath | None = None
    """Token, by file path."""

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        pairs = (("sshKeyFile", "sshKeyEnv", self.ssh_key_file, self.ssh_key_env),
                 ("passwordEnv", "passwordFile", self.password_env, self.password_file),
                 ("tokenEnv", "tokenFile", self.token_env, self.token_file))
        for left, right, a, b in pairs:
            if a is not None and b is not None:
                raise ValueError(f"set {left} or {right}, not both")
        if self.has_password and self.has_token:
            raise ValueError("use either a password (basic auth) or a token, not both")
        if self.has_password and self.username is None:
            raise ValueError("passwordEnv/passwordFile need a username")
        if self.insecure_ignore_host_key and self.known_hosts_file is not None:
            raise ValueError("knownHostsFile and insecureIgnoreHostKey contradict each other")
        return self

    @property
    def has_ssh(self) -> bool:
        refs = (self.ssh_key_file, self.ssh_key_env, self.known_hosts_file)
        return self.insecure_ignore_host_key or any(ref is not None for ref in refs)

    @property
    def has_password(self) -> bool:
        return self.password_env is not None or self.password_file is not None

    @property
    def has_token(self) -> bool:
        return self.token_env is not None or self.token_file is not None


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


HostPattern = Annotated[str, AfterValidator(host_pattern)]
HostPatterns = Annotated[tuple[HostPattern, ...], BeforeValidator(_tuple)]


class SnapshotLimits(Model):
    """``spec.snapshotLimits`` of a ``Repository``: caps on one snapshot (unset: the engine's defaults)."""

    max_bytes: ByteSize | None = None
    """Total bytes of all files of one snapshot (engine default 1Gi)."""
    max_entries: int | None = Field(default=None, gt=0, le=10_000_000)
    """Files, directories and links of one snapshot (engine default 100000)."""
    max_file_bytes: ByteSize | None = None
    """Bytes of one file (engine default 64Mi)."""


class RepositorySpec(Model):
    """``spec`` of a ``Repository``. ``allowLocal`` comes first: the ``url`` check reads it."""

    allow_local: bool = False
    """Permit ``file://`` URLs and local paths (made absolute)."""
    url: Text
    """``https://``, ``ssh://`` or scp-like ``user@host:path``; no credentials, query or fragment in it."""
    ref: GitRef = "main"
    """Branch, tag or commit polled."""
    interval_seconds: PositiveDuration = Field(default=180.0, validation_alias="interval")
    """How often the head is checked."""
    credentials: RepositoryCredentials | None = None
    """References to the credentials (never the secrets themselves)."""
    remote_base_hosts: HostPatterns | None = None
    """Hosts Kustomize remote bases in this repository may come from (None: every configured
    Repository's host); the repository's own host is always allowed."""
    snapshot_limits: SnapshotLimits | None = None
    """Caps on one snapshot (one commit's files) of this repository."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str, info: ValidationInfo) -> str:
        if classify(url) is not Transport.LOCAL:
            return url
        if not info.data.get("allow_local", False):
            raise ValueError("local repositories (file:// URLs and paths) are refused unless "
                             "spec.allowLocal is true")
        context = info.context if isinstance(info.context, dict) else {}
        return local_url(url, Path(context.get("base_dir") or Path.cwd()))

    @field_validator("credentials")
    @classmethod
    def _check_credentials(cls, creds: RepositoryCredentials | None,
                           info: ValidationInfo) -> RepositoryCredentials | None:
        url = info.data.get("url")
        if creds is None or not isinstance(url, str):
            return creds
        transport = classify(url)
        if transport is Transport.LOCAL:
            raise ValueError("local repositories take no credentials")
        if creds.has_ssh and transport is not Transport.SSH:
            raise ValueError("sshKeyFile, sshKeyEnv, knownHostsFile and insecureIgnoreHostKey "
                             "only apply to ssh URLs")
        if (creds.has_password or creds.has_token) and transport is Transport.SSH:
            raise ValueError("passwords and tokens only apply to http(s) URLs; use an SSH key")
        return creds


class Repository(RepositorySpec):
    """A Git repository: ``name`` from metadata plus the validated spec."""

    name: Name

    @property
    def transport(self) -> Transport:
        return classify(self.url)


ServerURL = Annotated[str, AfterValidator(check_server)]


class ClusterSpec(Model):
    """``spec`` of a ``Cluster``: a kubeconfig (and context), or a server with CA and token."""

    kubeconfig: LocalPath | None = None
    """Kubeconfig file (not with ``server``)."""
    context: Text | None = None
    """Kubeconfig context (default: its current context); only with ``kubeconfig``."""
    server: ServerURL | None = None
    """API server URL ``http(s)://host[:port][/path]`` (not with ``kubeconfig``)."""
    ca_file: LocalPath | None = None
    """CA bundle for ``server``."""
    token_env: EnvVar | None = None
    """Bearer token for ``server``, by environment variable name."""
    token_file: LocalPath | None = None
    """Bearer token for ``server``, by file path."""
    insecure_skip_tls_verify: bool = False
    """Skip TLS verification of ``server`` (contradicts ``caFile``)."""
    qps: float = Field(default=20.0, gt=0, le=10_000)
    """Client-side request rate to this cluster, per worker process."""
    timeout_seconds: PositiveDuration = Field(default=30.0, validation_alias="timeout")
    """Timeout of one request to the API server."""

    @model_validator(mode="after")
    def _connection(self) -> Self:
        direct = (self.ca_file, self.token_env, self.token_file)
        if (self.kubeconfig is None) == (self.server is None):
            raise ValueError("set either kubeconfig (with an optional context) or server, not both")
        if self.kubeconfig is not None and (any(v is not None for v in direct)
                                            or self.insecure_skip_tls_verify):
            raise ValueError("caFile, tokenEnv, tokenFile and insecureSkipTlsVerify go with server, "
                             "not with kubeconfig")
        if self.server is not None and self.context is not None:
            raise ValueError("context only applies with kubeconfig")
        if self.token_env is not None and self.token_file is not None:
            raise ValueError("set tokenEnv or tokenFile, not both")
        if self.ca_file is not None and self.insecure_skip_tls_verify:
            raise ValueError("caFile and insecureSkipTlsVerify contradict each other")
        return self


class Cluster(ClusterSpec):
    """A Kubernetes cluster: ``name``, ``labels`` and ``annotations`` from metadata plus the validated
    spec (labels and annotations are what ApplicationSet cluster generators select and expose)."""

    name: Name
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
