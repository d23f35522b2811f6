"""What one reconcile reports, derived by pure functions from what the stages returned
(gitops.plan, gitops.apply, gitops.prune, gitops.health).

Called by gitops/engine.py once the write (or compare-only) path is done: the health of each desired
object judged from the objects already held, the results with their health, the target's health
(``HealthStatus.worst``), its sync status and its failure, a typed :class:`gitops.errors.Failure`
that keeps whether a retry can help and the cluster's retry hint. No I/O here: waiting for health is
the engine's (bounded) port call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from gitops.errors import Failure, GitOpsError, SyncFailed
from gitops.health import Health, assess
from gitops.plan import Plan, RefKey, ref_key
from gitops.results import ObjectResult
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus


def desired_refs(results: Iterable[ObjectResult], plan: Plan) -> list[ObjectRef]:
    """The objects of ``results`` Git renders (pruned and skipped candidates have no health)."""
    desired = {ref_key(p.ref) for p in plan.objects}
    return [r.ref for r in results if ref_key(r.ref) in desired]


def held_health(refs: Iterable[ObjectRef],
                objects: Mapping[RefKey, dict[str, Any]]) -> dict[ObjectRef, Health]:
    """Each object's health judged from the live objects already held (no request)."""
    return {ref: assess(objects.get(ref_key(ref))) for ref in refs}


def with_health(results: Iterable[ObjectResult], healths: Mapping[ObjectRef, Health]) -> list[ObjectResult]:
    return [dataclasses.replace(r, health=healths[r.ref].status) if r.ref in healths else r for r in results]


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
