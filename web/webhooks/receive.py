"""One webhook delivery, start to answer: find the receivers, authenticate, read, match, enqueue, record.

Called by :mod:`web.webhooks.routes` (in a worker thread: Redis and the broker are blocking calls)
with the raw body and headers. Order of the checks, each answered with a status the sender can act
on and recorded in the deliveries log (except an unknown provider): no receiver for the provider
(404), wrong content type (415), no receiver verifies the signature (401), unreadable payload (400),
replayed delivery id (409), then the event: ping (200), another event (202, ignored), a push (202,
listing what was enqueued, or why nothing was). Key design choices: nothing in the body is looked at
before a receiver verified it; the delivery id is remembered only once the delivery is verified and
readable (and forgotten again if nothing could be enqueued, so the sender's retry is not refused as
a replay); nothing is synced here, only refreshes enqueued through :class:`web.context.Actions`,
whose coalescing turns a storm of pushes into one reconcile per target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from prometheus_client import CollectorRegistry, Counter

from gitops.clock import Clock
from gitops.domain import WEBHOOK_PROVIDERS, Fleet, WebhookProvider, WebhookReceiver
from gitops.state.deliveries import Deliveries, Delivery, Verdict, new_key
from gitops.vocabulary import Trigger
from web.context import Actions
from web.webhooks import match as matching
from web.webhooks import payloads, verify
from web.webhooks.payloads import Event, PayloadError

log = logging.getLogger(__name__)
ALIAS = "bitbucket"
PROVIDERS: tuple[str, ...] = (*WEBHOOK_PROVIDERS, ALIAS)
COALESCED = "coalesced"


class WebhookMetrics:
    """``gitops_webhook_deliveries_total{provider,outcome}`` on a registry of its own (the /metrics
    route includes it through ``ctx.extras["collectors"]``); outcome is the verdict."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter("gitops_webhook_deliveries", "Webhook deliveries answered, by provider "
                                  "and outcome (accepted, ignored, rejected)", ["provider", "outcome"],
                                  registry=self.registry)

    def count(self, provider: str, outcome: Verdict) -> None:
        self.deliveries.labels(provider if provider in PROVIDERS else "other", str(outcome)).inc()


@dataclass(frozen=True)
class Answer:
    """What to send back: a JSON body, or a problem (``title`` and ``detail``) when ``problem``."""

    status: int
    body: dict[str, object] = field(default_factory=dict)
    problem: bool = False
    title: str = ""
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    """The webhook receivers of one web process (built per request from the context: cheap)."""

    fleet: Callable[[], Fleet]
    deliveries: Deliveries
    actions: Actions
    clock: Clock
    replay_seconds: float
    metrics: WebhookMetrics

    def handle(self, provider: str, headers: Mapping[str, str], body: bytes, content_type: str | None,
               remote: str) -> Answer:
        """Answer one delivery to ``/webhooks/<provider>`` (``provider`` one of :data:`PROVIDERS`)."""
        fleet = self.fleet()
        base = Delivery(id=payloads.delivery_id(_header_provider(provider), headers, body), provider=provider,
                        event=payloads.event_name(_header_provider(provider), headers), time=self.clock.now(),
                        remote=remote)
        receivers = _receivers_of(fleet, provider)
        if not receivers:
            return self._reject(base, 404, "No receiver", f"no WebhookReceiver is configured for provider "
                                f"{provider}: add one (docs/webhooks.md)")
        media = payloads.media_type(content_type)
        if not payloads.accepts(provider, media):
            allowed = "application/json" + (" or application/x-www-form-urlencoded"
                                             if provider in payloads.FORM_PROVIDERS else "")
            shown = media[:100] or "none"
            return self._reject(base, 415, "Unsupported content type",
                                f"content type {shown!r} is not accepted: send {allowed}")
        checked = verify.verify(receivers, headers, body)
        if not checked.verified:
            reason = "; ".join(checked.problems)
            return self._reject(base, 401, "Unauthorized", checked.public, reason=reason)
        verified = _one_flavour(checked.verified, headers)
        resolved: WebhookProvider = verified[0].provider
        names = ", ".join(r.name for r in verified)
        base = Delivery(id=payloads.delivery_id(resolved, headers, body), provider=resolved, receiver=names,
                        event=payloads.event_name(resolved, headers), time=base.time, remote=remote)
        try:
            event = payloads.parse(resolved, headers, payloads.decode_body(media, body))
        except PayloadError as exc:
            return self._reject(base, 400, "Unreadable payload", str(exc))
        base = replace(base, event=event.name[:100] or base.event)
        if not self.deliveries.remember(resolved, base.id, self.replay_seconds):
            return self._reject(base, 409, "Replayed delivery", f"replayed delivery: id {base.id} was "
                                f"already received in the last {self.replay_seconds:g}s")
        if event.kind == "ping":
            return self._answer(base, 200, Verdict.ACCEPTED, f"pong: receiver {names} verified this delivery "
                                f"({event.note or event.name})")
        if event.kind == "other":
            note = f" ({event.note})" if event.note else ""
            return self._answer(base, 202, Verdict.IGNORED, f"ignored: event {event.name}{note}")
        return self._push(base, fleet, verified, event)

    # -- a push -------------------------------------------------------------------------------------
    def _push(self, base: Delivery, fleet: Fleet, verified: Sequence[WebhookReceiver],
              event: Event) -> Answer:
        allowed: frozenset[str] | None = frozenset()
        for receiver in verified:
            if receiver.repositories is None:
                allowed = None
                break
            allowed = (allowed or frozenset()) | frozenset(receiver.repositories)
        found = matching.match(fleet, event.pushes, allowed)
        pushes = event.pushes
        counts = [len(p.paths) if p.paths is not None else None for p in pushes]
        base = replace(base, repository=matching.shown(pushes[0].urls, limit=1) if pushes[0].urls else "",
                       ref=", ".join(dict.fromkeys(p.ref for p in pushes)), commit=pushes[0].after,
                       paths=None if any(c is None for c in counts) else sum(c or 0 for c in counts))
        triggered: list[tuple[str, str]] = []
        failed: list[str] = []
        detail = f"{base.provider} delivery {base.id}"
        for hit in found.hits:
            try:
                task = self.actions.request_reconcile(hit.application, hit.cluster, Trigger.WEBHOOK,
                                                      detail=detail)
            except Exception as exc:  # the broker or Redis away: say so, keep going with the others
                log.warning("webhook %s: enqueueing %s failed: %s", detail, hit.key, type(exc).__name__)
                failed.append(f"{hit.key}: {type(exc).__name__}")
                continue
            triggered.append((hit.key, task if task is not None else COALESCED))
        reasons = list(found.reasons)
        if failed:
            reasons.append(f"enqueueing failed for {', '.join(failed[:20])}")
        if failed and not triggered:
            self.deliveries.forget(base.provider, base.id)  # let the sender's retry through
            return self._reject(base, 503, "Could not enqueue", "; ".join(reasons), triggered=triggered,
                                headers={"Retry-After": "30"})
        if not triggered:
            return self._answer(base, 202, Verdict.IGNORED, "nothing to refresh: " + "; ".join(reasons),
                                reasons=reasons)
        queued = sum(1 for _, task in triggered if task != COALESCED)
        message = f"refresh requested for {len(triggered)} target(s)"
        if queued < len(triggered):
            message += f" ({len(triggered) - queued} already queued: coalesced)"
        return self._answer(base, 202, Verdict.ACCEPTED, message, triggered=triggered, reasons=reasons)

    # -- answers ------------------------------------------------------------------------------------
    def _store(self, delivery: Delivery) -> Delivery:
        stored = self.deliveries.record(delivery)
        self.metrics.count(stored.provider, stored.verdict)
        log.info("webhook %s delivery %s: %s %s: %s", stored.provider, stored.id, stored.status,
                 stored.verdict, stored.reason[:300])
        return stored

    def _answer(self, base: Delivery, status: int, verdict: Verdict, message: str, *,
                triggered: Sequence[tuple[str, str]] = (), reasons: Sequence[str] = ()) -> Answer:
        reason = "; ".join([message, *(r for r in reasons if r not in message)])
        stored = self._store(replace(base, verdict=verdict, reason=reason, triggered=tuple(triggered),
                                     status=status, key=new_key(base.time)))
        body: dict[str, object] = {
            "delivery": stored.key, "id": stored.id, "provider": stored.provider, "receiver": stored.receiver,
            "event": stored.event, "verdict": str(verdict), "message": message,
            "triggered": [{"target": t, "task": task} for t, task in stored.triggered],
            "reasons": list(reasons)}
        return Answer(status, body)

    def _reject(self, base: Delivery, status: int, title: str, detail: str, *, reason: str | None = None,
                triggered: Sequence[tuple[str, str]] = (), headers: dict[str, str] | None = None) -> Answer:
        stored = self._store(replace(base, verdict=Verdict.REJECTED, reason=reason or detail,
                                     triggered=tuple(triggered), status=status, key=new_key(base.time)))
        return Answer(status, {"delivery": stored.key, "id": stored.id}, problem=True, title=title,
                      detail=detail, headers=headers or {})


def _header_provider(provider: str) -> str:
    """Whose headers to read before the flavour is known (the alias: either Bitbucket)."""
    return "bitbucket-cloud" if provider == ALIAS else provider


def _receivers_of(fleet: Fleet, provider: str) -> list[WebhookReceiver]:
    found = [r for r in fleet.receivers.values()
             if r.provider == provider or (provider == ALIAS and r.provider.startswith(ALIAS + "-"))]
    return sorted(found, key=lambda r: r.name)


def _one_flavour(verified: Sequence[WebhookReceiver], headers: Mapping[str, str]) -> list[WebhookReceiver]:
    """The verified receivers of one provider: under the ``bitbucket`` alias a secret may verify both
    flavours; Bitbucket Cloud sends ``X-Hook-UUID`` / ``X-Request-UUID``, Server does not."""
    providers = {r.provider for r in verified}
    if len(providers) == 1:
        return list(verified)
    cloud = "x-hook-uuid" in headers or "x-request-uuid" in headers
    wanted: WebhookProvider = "bitbucket-cloud" if cloud else "bitbucket-server"
    return [r for r in verified if r.provider == wanted] or list(verified)
