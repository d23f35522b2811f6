"""Argo CD's notification subscriptions (``notifications.argoproj.io/subscribe.<trigger>.<service>``
annotations of Applications) -> ``Notification`` documents.

Part of :class:`gitops.importers.argocd.Converter`: the Application conversion hands each subscription
annotation here, and the collected subscriptions are emitted at the end. Key design choice: one
Notification per (service, recipient, events), selecting the subscribed applications by name, with
an Apprise URL *reference* to provide (Argo CD's service configuration and tokens live in
argocd-notifications-cm and its Secret, which are not converted). Argo CD's message templates have no
equivalent (our messages name the event, application, cluster and revision), so every converted
subscription is also reported as approximated; triggers with no counterpart are reported as lost.
"""

from __future__ import annotations

from gitops.importers.argocd.base import Registry, dns_label, env_name

PREFIX = "notifications.argoproj.io/subscribe."
# Argo CD's default triggers -> our events (on-deployed also waits for Healthy: close, not the same)
TRIGGERS = {"on-sync-succeeded": "SyncSucceeded", "on-sync-failed": "SyncFailed",
            "on-health-degraded": "HealthDegraded", "on-deployed": "SyncSucceeded"}
_ALL = ("on-sync-succeeded", "on-sync-failed", "on-health-degraded")


class Notifications(Registry):
    """Subscription annotations -> Notifications, one per service, recipient and events."""

    def _subscribe(self, ident: str, app: str, key: str, value: str) -> None:
        """One subscription annotation of the application ``app``."""
        path = f"metadata.annotations.{key}"
        rest = key[len(PREFIX):]
        trigger, _, service = rest.rpartition(".")
        triggers = (trigger,) if trigger else _ALL
        events = set()
        for name in triggers:
            if name not in TRIGGERS:
                self.loss(ident, path, f"the trigger {name[:60]!r} has no equivalent event; not converted")
            else:
                events.add(TRIGGERS[name])
        if "on-deployed" in triggers:
            self.loss(ident, path, "on-deployed (synced and healthy) is SyncSucceeded here (synced)")
        recipients = [r.strip() for r in value.replace(",", ";").split(";") if r.strip()]
        if not events or not recipients or not service:
            if not recipients or not service:
                self.loss(ident, path, "names no service or recipient; not converted")
            return
        for recipient in recipients:
            group = (service, recipient, frozenset(events))
            self.subscriptions.setdefault(group, []).append(app)
        self.loss(ident, path, "converted into a Notification; Argo CD's message templates are not (our "
                               "messages name the event, application, cluster and revision)")

    def _emit_notifications(self) -> None:
        taken: set[str] = set()
        for (service, recipient, events), apps in sorted(self.subscriptions.items(),
                                                         key=lambda item: (item[0][0], item[0][1],
                                                                           sorted(item[0][2]))):
            base = dns_label(f"{service}-{recipient}")[:55].strip("-") or "notification"
            name, n = base, 2
            while name in taken:
                name = f"{base}-{n}"
                n += 1
            taken.add(name)
            variable = env_name("NOTIFY", name, "URL")
            spec = {"events": sorted(events), "applications": {"names": sorted(set(apps))},
                    "apprise": {"urlRef": {"env": variable}}}
            comment = (f"set {variable} to an Apprise URL for {service} recipient {recipient} "
                       f"(e.g. slack://TOKEN/{recipient}); Argo CD's service configuration was not copied")
            self._emit("Notification", name, spec, {}, f"Notification/{name}", "", [comment])
