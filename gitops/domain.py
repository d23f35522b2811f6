"""The engine's inputs as typed values: applications, repositories, clusters, ignore rules, webhook
receivers.

Built once from the validated configuration by ``gitops.config.to_fleet`` (the one conversion from the
``gitops.config`` models, which depend on these values, never the reverse) and used alike by the CLI
(``render``, ``diff``, ``sync``, ``source check``) and the workers: a :class:`Fleet` holds every configured
repository, cluster and application, and :meth:`Fleet.lookup` gives the three values one reconcile needs.
The engine's ports (``gitops.engine.Source``, ``gitops.render.Renderer``, ``gitops.cluster.ClusterFactory``)
take these types, so mypy checks the wiring end to end. Key design choice: frozen dataclasses that import
nothing beyond the standard library and the engine's vocabulary, so the engine loads neither pydantic nor
pygit2 nor kubernetes; references to secrets stay references (environment variable names, file paths), as in
the configuration.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from gitops.errors import ConfigError, Problem
from gitops.keys import DEFAULT_FIELD_MANAGER
from gitops.vocabulary import ObjectRef, Target
from renderers.budget import Budget

RendererName = Literal["kustomize", "jinja", "plain", "helm"]
WebhookProvider = Literal["github", "gitlab", "bitbucket-server", "bitbucket-cloud", "gitea", "generic"]
WEBHOOK_PROVIDERS: tuple[WebhookProvider, ...] = ("github", "gitlab", "bitbucket-server", "bitbucket-cloud",
                                                  "gitea", "generic")


@dataclass(frozen=True)
class Credentials:
    """Where a repository's secrets are (environment variable names and file paths, never values); the
    sources' ``RepoSpec`` holds this value and :mod:`gitops.sources.auth` reads the secrets it names."""

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
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)


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
class Dependency:
    """An application this one waits for: ``application`` on ``cluster`` (None: the dependant's own
    cluster) must be Synced and Healthy at its current revision before this one syncs automatically."""

    application: str
    cluster: str | None = None


@dataclass(frozen=True)
class HealthCheck:
    """Health of one kind from CEL expressions (Flux's ``healthCheckExprs``): the object is Healthy when
    ``current`` is true, Degraded when ``failed`` is, Progressing when ``in_progress`` is (or when none
    is true). ``api_version`` is ``group/version`` (or ``v1``); ``kind`` the object's kind."""

    api_version: str
    kind: str
    current: str | None = None
    in_progress: str | None = None
    failed: str | None = None


@dataclass(frozen=True)
class Application:
    """What to deploy (``source``), where (``destination``) and how (``sync_policy``); what it waits for
    (``depends_on``) and how health is judged for custom kinds (``health_checks``)."""

    name: str
    source: AppSource
    destination: Destination
    sync_policy: SyncPolicy = SyncPolicy()
    ignore_differences: tuple[IgnoreRule, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    depends_on: tuple[Dependency, ...] = ()
    health_checks: tuple[HealthCheck, ...] = ()


@dataclass(frozen=True)
class SecretRef:
    """Where a secret is: the name of an environment variable or a file path (exactly one), never the
    value; read by the code that needs the secret, when it needs it."""

    env: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        return f"environment variable {self.env}" if self.env is not None else f"file {self.file}"


@dataclass(frozen=True)
class WebhookReceiver:
    """A webhook receiver: deliveries of ``provider`` verified with the secret at ``secret``, allowed
    to trigger the applications of ``repositories`` (None: of every repository)."""

    name: str
    provider: WebhookProvider
    secret: SecretRef
    repositories: tuple[str, ...] | None = None

    def may_trigger(self, repository: str) -> bool:
        return self.repositories is None or repository in self.repositories


@dataclass(frozen=True)
class Selector:
    """Which applications or clusters something applies to: names (globs, ``*`` and ``?``) and labels
    (every ``match_labels`` pair present). Empty: everything."""

    names: tuple[str, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        named = not self.names or any(fnmatch.fnmatchcase(name, pattern) for pattern in self.names)
        return named and all(labels.get(k) == v for k, v in self.match_labels.items())


SyncWindowKind = Literal["allow", "deny"]


@dataclass(frozen=True)
class SyncWindow:
    """When automated syncs may run (Argo CD's sync windows): ``schedule`` (cron, in ``time_zone``)
    opens the window for ``duration_seconds``; a deny window blocks the applications and clusters it
    selects while open (a manual sync too unless ``manual_sync``); where allow windows select a
    target, it syncs automatically only while one is open."""

    name: str
    kind: SyncWindowKind
    schedule: str
    duration_seconds: float
    time_zone: str = "UTC"
    manual_sync: bool = False
    applications: Selector = Selector()
    clusters: Selector = Selector()


@dataclass(frozen=True)
class Notification:
    """Where events of the selected targets are delivered (docs/notifications.md): the ``events`` raised
    (empty: every one of ``NOTIFICATION_EVENTS``) for the applications and clusters selected go to the
    one ``destination``, at most ``per_minute`` deliveries a minute to it."""

    name: str
    events: tuple[str, ...] = ()
    applications: Selector = Selector()
    clusters: Selector = Selector()
    destination: NotificationDestination | None = None
    per_minute: int = 30

    def wants(self, event: str) -> bool:
        return event in (self.events or NOTIFICATION_EVENTS)

    def selects(self, application: str, app_labels: Mapping[str, str], cluster: str,
                cluster_labels: Mapping[str, str]) -> bool:
        return (self.applications.matches(application, app_labels)
                and self.clusters.matches(cluster, cluster_labels))


NOTIFICATION_EVENTS: tuple[str, ...] = ("SyncSucceeded", "SyncFailed", "HealthDegraded", "DriftDetected",
                                        "VerificationFailed", "RolloutHalted")
CommitStatusProvider = Literal["github", "gitlab"]


@dataclass(frozen=True)
class AppriseDestination:
    """An Apprise URL (``slack://...``, ``mailto://...``): read from ``url`` when delivering (it embeds
    tokens, so it is a secret reference)."""

    url: SecretRef


@dataclass(frozen=True)
class WebhookDestination:
    """A JSON POST to ``url`` signed with HMAC-SHA256 under the secret at ``secret``; ``headers`` are
    sent as they are (no secret belongs there)."""

    url: str
    secret: SecretRef
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class CommitStatusDestination:
    """A commit status on the application's repository (GitHub or GitLab API at ``api_url``; None: the
    public service's), authenticated with the token at ``token``, named ``context``."""

    provider: CommitStatusProvider
    token: SecretRef
    api_url: str | None = None
    context: str = "gitops"


NotificationDestination = AppriseDestination | WebhookDestination | CommitStatusDestination


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
    """Every configured repository, cluster, application and webhook receiver, by name."""

    repositories: Mapping[str, Repository] = field(default_factory=dict, hash=False)
    clusters: Mapping[str, Cluster] = field(default_factory=dict, hash=False)
    applications: Mapping[str, Application] = field(default_factory=dict, hash=False)
    receivers: Mapping[str, WebhookReceiver] = field(default_factory=dict, hash=False)
    sync_windows: Mapping[str, SyncWindow] = field(default_factory=dict, hash=False)
    notifications: Mapping[str, Notification] = field(default_factory=dict, hash=False)

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
