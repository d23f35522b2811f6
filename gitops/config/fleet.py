"""The one conversion from the validated configuration to the engine's typed values (gitops.domain).

``to_fleet(load_config(path))`` is what the CLI and the workers do: the pydantic models of this
package become the frozen dataclasses of :mod:`gitops.domain` (a :class:`~gitops.domain.Fleet`), once.
It lives here, at the trust boundary, so the engine's values depend on nothing of the configuration.
"""

from __future__ import annotations

from gitops import domain
from gitops.config.application import Application
from gitops.config.config import Config
from gitops.config.models import Cluster, Repository, RepositoryCredentials
from gitops.config.notifications import Notification
from gitops.config.receivers import SecretRef, WebhookReceiver
from gitops.config.windows import Selection, SyncWindow


def to_fleet(loaded: Config) -> domain.Fleet:
    """The one conversion from the validated configuration models to the engine's values."""
    return domain.Fleet({name: _repository(r) for name, r in loaded.repositories.items()},
                        {name: _cluster(c) for name, c in loaded.clusters.items()},
                        {name: _application(a) for name, a in loaded.applications.items()},
                        {name: _receiver(r) for name, r in loaded.webhook_receivers.items()},
                        {name: _window(w) for name, w in loaded.sync_windows.items()},
                        {name: _notification(n) for name, n in loaded.notifications.items()})


def _window(w: SyncWindow) -> domain.SyncWindow:
    return domain.SyncWindow(w.name, w.kind, w.schedule, float(w.duration_seconds), w.time_zone,
                             w.manual_sync, _selector(w.applications), _selector(w.clusters))


def _selector(s: Selection) -> domain.Selector:
    return domain.Selector(tuple(s.names), dict(s.match_labels))


def _notification(n: Notification) -> domain.Notification:
    def ref(r: SecretRef) -> domain.SecretRef:
        return domain.SecretRef(r.env, r.file)

    destination: domain.NotificationDestination
    if n.apprise is not None:
        destination = domain.AppriseDestination(ref(n.apprise.url_ref))
    elif n.webhook is not None:
        w = n.webhook
        destination = domain.WebhookDestination(w.url, ref(w.secret_ref), dict(w.headers))
    else:
        assert n.commit_status is not None  # the model requires exactly one destination
        c = n.commit_status
        destination = domain.CommitStatusDestination(c.provider, ref(c.token_ref), c.api_url, c.context)
    return domain.Notification(n.name, tuple(n.events), _selector(n.applications), _selector(n.clusters),
                               destination, n.rate_limit.per_minute)


def _receiver(r: WebhookReceiver) -> domain.WebhookReceiver:
    return domain.WebhookReceiver(r.name, r.provider, domain.SecretRef(r.secret_ref.env, r.secret_ref.file),
                                  tuple(r.repositories) if r.repositories is not None else None)


def _credentials(c: RepositoryCredentials | None) -> domain.Credentials | None:
    if c is None:
        return None
    return domain.Credentials(c.ssh_key_file, c.ssh_key_env, c.known_hosts_file, c.insecure_ignore_host_key,
                              c.username, c.password_env, c.password_file, c.token_env, c.token_file)


def _repository(r: Repository) -> domain.Repository:
    limits = r.snapshot_limits
    snapshot_limits = None if limits is None else domain.SnapshotLimits(limits.max_bytes, limits.max_entries,
                                                                        limits.max_file_bytes)
    return domain.Repository(r.name, r.url, r.ref, r.allow_local, _credentials(r.credentials),
                             tuple(r.remote_base_hosts) if r.remote_base_hosts is not None else None,
                             snapshot_limits, float(r.interval_seconds))


def _cluster(c: Cluster) -> domain.Cluster:
    return domain.Cluster(c.name, dict(c.labels), c.kubeconfig, c.context, c.server, c.ca_file, c.token_env,
                          c.token_file, c.insecure_skip_tls_verify, float(c.qps), float(c.timeout_seconds),
                          dict(c.annotations))


def to_application(a: Application) -> domain.Application:
    """One validated Application as the engine's value (also what an ApplicationSet generates)."""
    return _application(a)


def _application(a: Application) -> domain.Application:
    s, p, r = a.source, a.sync_policy, a.sync_policy.retry
    return domain.Application(
        a.name,
        domain.AppSource(s.repository, s.path, s.revision, s.renderer, dict(s.options), dict(s.parameters),
                         s.budget.to_budget()),
        domain.Destination(a.destination.cluster, a.destination.namespace),
        domain.SyncPolicy(p.automated, p.prune, p.self_heal, p.detect_only, p.allow_recreate,
                          float(p.prune_max_share), p.allow_empty, p.field_manager,
                          domain.RetryPolicy(r.limit, float(r.backoff_seconds), float(r.factor),
                                             float(r.max_backoff_seconds))),
        tuple(domain.IgnoreRule(i.group, i.kind, i.name, i.namespace, tuple(i.json_pointers),
                                tuple(i.managers))
              for i in a.ignore_differences),
        dict(a.labels),
        tuple(domain.Dependency(d.name, d.cluster) for d in a.depends_on),
        tuple(domain.HealthCheck(h.api_version, h.kind, h.current, h.in_progress, h.failed)
              for h in a.health_check_exprs))
