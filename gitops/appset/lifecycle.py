"""``decide(previous, generated, ...) -> Decision``: what one run of the ApplicationSet controller may
change in the set it keeps, under the lifecycle policy and the deletion breaker.

Called by :func:`gitops.appset.controller.run_appset` after generation and rendering. Pure: the previous
set, what was generated now, whether the generation can be trusted, the policy and the held change
come in; the new set and what changed come out, with notes saying why anything was held back.

Key design choice: deleting is the only dangerous verb, so every path that could delete because an
*input* failed is closed before the policy is even asked:

- a generator that failed (``complete`` False) or an element that failed (``element_errors``) deletes
  nothing this run (a missing element may be exactly the one that failed);
- a generation that suddenly returns nothing keeps the last set unless ``allowEmpty`` says otherwise;
- ``applicationsSync`` then filters: ``create-only`` never updates or deletes, ``create-update`` never
  deletes, ``create-delete`` never updates, ``sync`` does all three;
- the breaker: deletions plus moves (an application whose destination cluster changed: its old target
  is removed) over ``maxDeleteShare`` of the set or over ``maxDeleteCount`` are held as a
  :class:`~gitops.appset.record.PendingChange` whose id fingerprints exactly that change; they go ahead
  only once that very change was approved (``gitops appset approve``); creations and ordinary updates
  are not held with them.
- ``kept`` names (restored from a tombstone) are never deleted while they are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from gitops.appset.generated import GeneratedApp
from gitops.appset.record import PendingChange
from gitops.config.fanout import SetSyncPolicy


@dataclass(frozen=True)
class Decision:
    """The set after this run and what changed; ``pending`` is the change the breaker holds (None:
    nothing held); ``notes`` say what was held back and why."""

    desired: Mapping[str, GeneratedApp] = field(hash=False)
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    pending: PendingChange | None = None
    notes: tuple[str, ...] = ()


def change_id(deletes: Collection[str], moves: Mapping[str, GeneratedApp]) -> str:
    """The fingerprint of a breaker-held change: the names deleted and the moved applications' new
    documents, so approving one change never lets a different one through."""
    digest = hashlib.sha256()
    for name in sorted(deletes):
        digest.update(f"-{name}\n".encode())
    for name, app in sorted(moves.items()):
        digest.update(f"~{name}:{app.fingerprint}\n".encode())
    return digest.hexdigest()[:16]


def decide(previous: Mapping[str, GeneratedApp], generated: Mapping[str, GeneratedApp], *, complete: bool,
           element_errors: int, policy: SetSyncPolicy, pending: PendingChange | None, now: float,
           kept: Collection[str] = ()) -> Decision:
    """See the module docstring."""
    notes: list[str] = []
    if complete and not generated and previous and not policy.allow_empty:
        return Decision(previous, pending=pending, notes=(
            f"the generators returned no application; the last {len(previous)} are kept "
            "(set syncPolicy.allowEmpty: true if an empty set is intended)",))
    creates = sorted(set(generated) - set(previous))
    updates = sorted(n for n in set(generated) & set(previous)
                     if generated[n].fingerprint != previous[n].fingerprint)
    deletes = sorted(n for n in set(previous) - set(generated) if n not in kept)
    if deletes and not complete:
        notes.append(f"a generator failed: {len(deletes)} application(s) no longer generated are kept")
        deletes = []
    elif deletes and element_errors:
        notes.append(f"{element_errors} element(s) failed: {len(deletes)} application(s) no longer generated "
                     "are kept until every element generates")
        deletes = []
    mode = policy.applications_sync
    if mode in ("create-only", "create-delete") and updates:
        notes.append(f"applicationsSync {mode}: {len(updates)} update(s) not applied")
        updates = []
    if mode in ("create-only", "create-update") and deletes:
        notes.append(f"applicationsSync {mode}: {len(deletes)} deletion(s) not applied")
        deletes = []
    moves = {n: generated[n] for n in updates if generated[n].cluster != previous[n].cluster}
    held: PendingChange | None = None
    risky = len(deletes) + len(moves)
    limit_share = policy.max_delete_share * len(previous)
    if risky and (risky > limit_share or risky > policy.max_delete_count):
        cid = change_id(deletes, moves)
        if pending is not None and pending.id == cid and pending.approved:
            notes.append(f"approved change {cid} applied: {len(deletes)} deletion(s), {len(moves)} move(s)")
        else:
            reason = (f"{risky} of {len(previous)} applications would be deleted or moved to another "
                      f"cluster, over the breaker (maxDeleteShare {policy.max_delete_share:.0%}, "
                      f"maxDeleteCount {policy.max_delete_count}): approve with `gitops appset approve`")
            since = pending.since if pending is not None and pending.id == cid else now
            held = PendingChange(cid, tuple(deletes), tuple(sorted(moves)), reason, since)
            notes.append(f"change {cid} held: {reason}")
            deletes = []
            updates = [n for n in updates if n not in moves]
    desired = {n: a for n, a in previous.items() if n not in deletes}
    for name in (*creates, *updates):
        desired[name] = generated[name]
    return Decision(desired, tuple(creates), tuple(updates), tuple(deletes), held, tuple(notes))


__all__ = ["Decision", "change_id", "decide"]
