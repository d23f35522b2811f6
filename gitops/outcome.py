"""What one reconcile reports, derived by pure functions from what the stages returned
(gitops.plan, gitops.apply, gitops.prune, gitops.health).

Called by gitops/engine.py once the write (or compare-only) path is done: the health of each desired
object judged from the objects already held, the results with their health, the target's health
(``HealthStatus.worst``), its sync status and its failure, a typed :class:`gitops.errors.Failure`
that keeps whether a retry can help and the cluster's retry hint. No I/O here: waiting for health is
the engine's (bounded) port call.

Also what the engine records beside the outcome: the :class:`Trace` (one
:class:`gitops.results.Span` per stage, timed on the injected clock: wall time for the start,
monotonic time for the duration) and the :class:`Rendered` manifests (a sha256 of their canonical JSON,
and their YAML with Secret values masked by the plan's own masking, cut to :data:`MAX_RENDERED` bytes at
a document boundary). The digest covers the unmasked content, so it changes when a Secret does; it
exposes no more than the applied-hash annotation every object already carries.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from gitops.clock import Clock
from gitops.errors import Failure, GitOpsError, SyncFailed
from gitops.health import Health, Rules, assess
from gitops.plan import Plan, RefKey, ref_key
from gitops.plan.normalize import mask_secret
from gitops.results import FieldDrift, ObjectResult, Span
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus
from renderers.manifest import Manifest
from renderers.yamlio import iter_dump

MAX_RENDERED = 2 * 1024 * 1024  # bytes of rendered YAML kept per reconcile


def desired_refs(results: Iterable[ObjectResult], plan: Plan) -> list[ObjectRef]:
    """The objects of ``results`` Git renders (pruned and skipped candidates have no health)."""
    desired = {ref_key(p.ref) for p in plan.objects}
    return [r.ref for r in results if ref_key(r.ref) in desired]


def held_health(refs: Iterable[ObjectRef], objects: Mapping[RefKey, dict[str, Any]],
                rules: Rules | None = None) -> dict[ObjectRef, Health]:
    """Each object's health judged from the live objects already held (no request), by the
    application's ``rules`` (``gitops.health.rules_for``; the library's alone when None)."""
    return {ref: assess(objects.get(ref_key(ref)), rules) for ref in refs}


def with_health(results: Iterable[ObjectResult], healths: Mapping[ObjectRef, Health]) -> list[ObjectResult]:
    """The results with each object's health; an object that is not Healthy also gets the health's
    message after its own (what decided: ``cel: failed: status.phase == 'Failed'``, a library rule's
    name, "no health rule for example.com/Widget and no status"), so status and the API say why."""
    return [_with_health(r, healths[r.ref]) if r.ref in healths else r for r in results]


def _with_health(result: ObjectResult, health: Health) -> ObjectResult:
    message = result.message
    if health.status is not HealthStatus.HEALTHY and health.message and health.message not in message:
        message = f"{message}; {health.message}" if message else health.message
    return dataclasses.replace(result, health=health.status, message=message)


WRITTEN: Final = frozenset({Action.CREATED, Action.CONFIGURED, Action.RECREATED})


def split_drift(drift: Sequence[FieldDrift], results: Iterable[ObjectResult], *, wrote: bool
                ) -> tuple[list[FieldDrift], list[FieldDrift]]:
    """The drift found before the write split into what remains and what this reconcile corrected:
    a field of an object applied without error holds Git's value again (the apply set it; a field it
    could not take would have failed the object). Without a write, everything remains."""
    if not wrote:
        return list(drift), []
    applied = {r.ref for r in results if r.action in WRITTEN and r.error is None}
    return [d for d in drift if d.ref not in applied], [d for d in drift if d.ref in applied]


def target_health(healths: Mapping[ObjectRef, Health]) -> HealthStatus:
    """The worst health of the target's objects (Healthy when it has none)."""
    return HealthStatus.worst(h.status for h in healths.values())


def sync_status(results: Iterable[ObjectResult], *, wrote: bool, stopped: str | None, plan_in_sync: bool,
                prune_pending: bool) -> SyncStatus:
    """Synced when nothing failed or stopped, the cluster matches (written, or found equal) and no
    object waits for a prune that did not run; else OutOfSync."""
    failed = any(r.action is Action.FAILED for r in results)
    in_sync = not failed and not stopped and (wrote or plan_in_sync) and not prune_pending
    return SyncStatus.SYNCED if in_sync else SyncStatus.OUT_OF_SYNC


def failure(results: Iterable[ObjectResult], *, stopped: str | None, unhealthy: GitOpsError | None,
            temporary: bool, retry_after: float | None) -> Failure | None:
    """The sync's failure (kind SyncFailed), None when it completed: failed objects (the first named),
    why it stopped, a failed health wait. Temporary and the retry hint come from what stopped it."""
    failed = [r for r in results if r.action is Action.FAILED]
    parts = [f"{len(failed)} object(s) failed; first {failed[0].ref}: {failed[0].error}" if failed else "",
             stopped or "", f"waiting for health failed: {unhealthy}" if unhealthy else ""]
    message = "; ".join(p for p in parts if p)
    if not message:
        return None
    hints = [h for h in (retry_after, unhealthy.retry_after if unhealthy else None) if h is not None]
    return Failure.of(SyncFailed(message, temporary=temporary or bool(unhealthy and unhealthy.temporary),
                                 retry_after=max(hints) if hints else None))


# -- the trace and the rendered manifests ---------------------------------------------------------
class Trace:
    """The spans of one reconcile, in the order the stages ran: ``with trace("render") as attrs:``
    times the block, records its error (and re-raises it) and keeps the attributes the block set."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.spans: list[Span] = []

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[dict[str, str]]:
        start, began = self.clock.now(), self.clock.monotonic()
        attributes: dict[str, str] = {}
        error: str | None = None
        try:
            yield attributes
        except BaseException as exc:
            error = str(exc) or type(exc).__name__
            raise
        finally:
            duration = max(0.0, self.clock.monotonic() - began)
            self.spans.append(Span(name, start, duration, error, dict(attributes)))


@dataclasses.dataclass(frozen=True)
class Rendered:
    """The rendered, validated manifests of a reconcile: their digest and their YAML (masked, bounded)."""

    digest: str = ""
    text: str = ""
    truncated: bool = False
    count: int = 0


def manifests_digest(manifests: list[Manifest]) -> str:
    """sha256 of the manifests' canonical JSON (keys sorted, no spaces), in the order rendered."""
    canonical = json.dumps(manifests, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def rendered(manifests: list[Manifest], limit: int = MAX_RENDERED) -> Rendered:
    """The digest and the YAML of ``manifests``: Secret ``data``/``stringData`` values masked
    (:func:`gitops.plan.normalize.mask_secret`), whole documents up to ``limit`` bytes, then a comment
    saying how many were left out."""
    masked = [mask_secret(copy.deepcopy(m)) for m in manifests]
    kept: list[str] = []
    size = 0
    for document in iter_dump(masked):
        cost = len(document.encode()) + 4
        if size + cost > limit:
            break
        kept.append(document)
        size += cost
    left = len(masked) - len(kept)
    note = [f"# {left} more document(s) not shown: over {limit} bytes\n"] if left else []
    text = "---\n".join(kept + note)
    return Rendered(manifests_digest(manifests), text, bool(left), len(manifests))
