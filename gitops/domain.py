"""The engine's inputs as typed values: applications, repositories, clusters, ignore rules.

Built once from the validated configuration by :func:`from_config` (the one conversion from the
``gitops.config`` models) and used alike by the CLI (``render``, ``diff``, ``sync``, ``source check``)
and the workers: a :class:`Fleet` holds every configured repository, cluster and application, and
:meth:`Fleet.lookup` gives the three values one reconcile needs. The engine's ports
(``gitops.engine.Source``, ``Renderer``, ``ClusterFactory``) take these types, so mypy checks the
wiring end to end. Key design choice: frozen dataclasses that import nothing at runtime beyond the
standard library and the engine's vocabulary (the config models are named in annotations only), so
the engine loads neither pydantic nor pygit2 nor kubernetes; references to secrets stay references
(environment variable names, file paths), as in the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from gitops.errors import ConfigError, Problem
from gitops.keys import DEFAULT_FIELD_MANAGER
from gitops.status import ObjectRef, Target
from renderers.budget import Budget

if TYPE_CHECKING:  # annotations only: the configuration loads pydantic and pygit2, the engine neither
    from gitops import config

RendererName = Literal["kustomize", "jinja", "plain", "helm"]


@dataclass(frozen=True)
class Credentials:
    """Where a repository's secrets are (environment variable names and file paths, never values)."""

    ssh_key_file: str | None = None
    ssh_key_env: str | None = None
    known_hosts_file: str | None = None
    insecure_ignore_host_key: bool = False
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None


@dataclass(frozen=True)
class SnapshotLimits:
    """Caps on one snapshot of a repository (None: the Git source's defaults)."""

    max_bytes: int | None = None
    max_entries: int | None = None
    max_file_bytes: int | None = None


@dataclass(frozen=True)
class Repository:
    """A Git repository. ``remote_base_hosts``: where its Kustomize remote bases may come from
    (None: the host of every configured repository)."""

    name: str
    url: str
    ref: str = "main"
    allow_local: bool = False
    credentials: Credentials | None = None
    remote_base_hosts: tuple[str, ...] | None = None
    snapshot_limits: SnapshotLimits | None = None
    interval_seconds: float = 180.0


@dataclass(frozen=True)
class Cluster:
    """A Kubernetes cluster: a kubeconfig (and context), or a server with CA and token references."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    ca_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    qps: float = 20.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class AppSource:
    """Where an application's manifests come from and how they are rendered (``budget``: what one
    render may use; None: the renderers' default)."""

    repository: str
    path: str = "."
    revision: str | None = None
    renderer: RendererName = "plain"
    options: Mapping[str, object] = field(default_factory=dict, hash=False)
    parameters: Mapping[str, object] = field(default_factory=dict, hash=False)
    budget: Budget | None = None


@dataclass(frozen=True)
class Destination:
    """The cluster (by name) and the default namespace of namespaced objects without one."""

    cluster: str
    namespace: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of failed syncs: ``backoff * factor**n`` capped at ``max_backoff``, ``limit`` retries."""

    limit: int = 5
    backoff_seconds: float = 5.0
    factor: float = 2.0
    max_backoff_seconds: float = 300.0


@dataclass(frozen=True)
class SyncPolicy:
    """How and when the engine writes (see docs/configuration.md for each switch)."""

    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    detect_only: bool = False
    allow_recreate: bool = False
    prune_max_share: float = 0.5
    allow_empty: bool = False
    field_manager: str = DEFAULT_FIELD_MANAGER
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class IgnoreRule:
    """Differences to ignore on matching objects (empty selectors match everything): JSON pointers
    dropped from the comparison, or fields owned by ``managers`` left to them."""

    group: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()

    def matches(self, ref: ObjectRef) -> bool:
        return all(want in (None, "", have) for want, have in (
            (self.group, ref.group), (self.kind, ref.kind), (self.name, ref.name),
            (self.namespace, ref.namespace)))


@dataclass(frozen=True)
class Application:
    """What to deploy (``source``), where (``destination``) and how (``sync_policy``)."""

    name: str
    source: AppSource
    destination: Destination
    sync_policy: SyncPolicy = SyncPolicy()
    ignore_differences: tuple[IgnoreRule, ...] = ()


class Placement(NamedTuple):
    """The inputs of one target: the application, its repository and the cluster it goes to."""

    application: Application
    repository: Repository
    cluster: Cluster

    @property
    def target(self) -> Target:
        return Target(self.application.name, self.cluster.name)


@dataclass(frozen=True)
class Fleet:
    """Every configured repository, cluster and application, by name."""

    repositories: Mapping[str, Repository] = field(default_factory=dict, hash=False)
    clusters: Mapping[str, Cluster] = field(default_factory=dict, hash=False)
    applications: Mapping[str, Application] = field(default_factory=dict, hash=False)

    def lookup(self, application: str, cluster: str | None = None, *, file: str | None = None) -> Placement:
        """The placement of ``application`` on ``cluster`` (default: its destination); ConfigError
        naming ``file`` when either, or the application's repository, is not configured."""
        app = self.applications.get(application)
        if app is None:
            raise ConfigError([Problem(f"no application named {application!r}", file=file)])
        cluster_name = cluster or app.destination.cluster
        found = self.clusters.get(cluster_name)
        if found is None:
            raise ConfigError([Problem(f"no cluster named {cluster_name!r}", file=file)])
        repository = self.repositories.get(app.source.repository)
        if repository is None:
            raise ConfigError([Problem(f"no repository named {app.source.repository!r}", file=file)])
        return Placement(app, repository, found)


def from_config(loaded: config.Config) -> Fleet:
    """The one conversion from the validated configuration models to the engine's values."""
    return Fleet({name: _repository(r) for name, r in loaded.repositories.items()},
                 {name: _cluster(c) for name, c in loaded.clusters.items()},
                 {name: _application(a) for name, a in loaded.applications.items()})


def _credentials(c: config.RepositoryCredentials | None) -> Credentials | None:
    if c is None:
        return None
    return Credentials(c.ssh_key_file, c.ssh_key_env, c.known_hosts_file, c.insecure_ignore_host_key,
                       c.username, c.password_env, c.password_file, c.token_env, c.token_file)


def _repository(r: config.Repository) -> Repository:
    limits = r.snapshot_limits
    return Repository(r.name, r.url, r.ref, r.allow_local, _credentials(r.credentials),
                      tuple(r.remote_base_hosts) if r.remote_base_hosts is not None else None,
                      None if limits is None else SnapshotLimits(limits.max_bytes, limits.max_entries,
                                                                 limits.max_file_bytes),
                      float(r.interval_seconds))


def _cluster(c: config.Cluster) -> Cluster:
    return Cluster(c.name, dict(c.labels), c.kubeconfig, c.context, c.server, c.ca_file, c.token_env,
                   c.token_file, c.insecure_skip_tls_verify, float(c.qps), float(c.timeout_seconds))


def _application(a: config.Application) -> Application:
    s, p, r = a.source, a.sync_policy, a.sync_policy.retry
    return Application(
        a.name,
        AppSource(s.repository, s.path, s.revision, s.renderer, dict(s.options), dict(s.parameters),
                  s.budget.to_budget()),
        Destination(a.destination.cluster, a.destination.namespace),
        SyncPolicy(p.automated, p.prune, p.self_heal, p.detect_only, p.allow_recreate,
                   float(p.prune_max_share), p.allow_empty, p.field_manager,
                   RetryPolicy(r.limit, float(r.backoff_seconds), float(r.factor),
                               float(r.max_backoff_seconds))),
        tuple(IgnoreRule(i.group, i.kind, i.name, i.namespace, tuple(i.json_pointers), tuple(i.managers))
              for i in a.ignore_differences))
