"""``gitops history``, ``gitops rollback`` and ``gitops resume``: a target's operations, re-applying an
earlier revision, and lifting the suspension a rollback leaves.

Registered by gitops/cli/__init__.py discovery. Reads the state store (``--redis-url`` /
``$GITOPS_REDIS_URL`` / the URL ``gitops up`` recorded) and enqueues on the workers through
``gitops.dispatch`` (the workers' dispatcher, loaded through an entry point: no Celery here). Key
design choice: a rollback first suspends automated sync of the target (so no poll or self-heal
re-applies the newer revision while the pinned sync waits in the queue), then enqueues a manual sync
pinned to the chosen revision; if the enqueue fails, the suspension is undone
(:func:`gitops.state.suspensions.suspend_for`, which the workers' dispatcher uses for the API too).
The revision is chosen by :func:`gitops.state.suspensions.rollback_revision` (pure), the same
function the HTTP API uses.
Exit codes: 0 done, 2 error (invalid name or revision, no Redis, no workers layer).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
import time
from datetime import UTC, datetime
from typing import Any

from gitops import dispatch
from gitops.env import ENV_REDIS_URL
from gitops.state import Operation, RedisStore, check_target, open_store, redis_url
from gitops.state.suspensions import (
    RedisSuspensions,
    Suspension,
    rollback_reason,
    rollback_revision,
    short,
    suspend_for,
)
from gitops.vocabulary import Target

HISTORY_COLUMNS = ("OPERATION", "STARTED", "TRIGGER", "PHASE", "REVISION", "DIGEST", "MODE")


def register(subparsers: Any) -> None:
    h = subparsers.add_parser("history", help="list the operations of an application on a cluster")
    _target_arguments(h)
    h.add_argument("-o", "--output", choices=["table", "json"], default="table")
    h.add_argument("--limit", type=int, default=20, metavar="N", help="at most N operations (default 20)")
    h.set_defaults(func=run_history)

    r = subparsers.add_parser("rollback", help="re-apply an earlier revision and suspend automated sync")
    _target_arguments(r)
    r.add_argument("--to", metavar="REVISION",
                   help="a commit id or a unique prefix of one in the history (default: the newest "
                        "revision applied before the current one)")
    r.set_defaults(func=run_rollback)

    s = subparsers.add_parser("resume", help="lift a rollback's suspension and reconcile the target now")
    _target_arguments(s)
    s.set_defaults(func=run_resume)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("application", metavar="APP")
    parser.add_argument("--cluster", required=True, metavar="C")
    parser.add_argument("--redis-url", default=None, help="state Redis (default: $GITOPS_REDIS_URL)")


def _open(args: argparse.Namespace, *, enqueues: bool = False) -> tuple[RedisStore, Target]:
    target = check_target(args.application, args.cluster)
    url = redis_url(args.redis_url)
    if enqueues:  # the workers' queue is on the state's Redis; the dispatcher reads it from the env
        os.environ.setdefault(ENV_REDIS_URL, url)
    return open_store(url), target


def suspensions_of(store: RedisStore) -> RedisSuspensions:
    """The suspensions next to ``store`` (same Redis, same prefix), announcing on its event stream."""
    return RedisSuspensions(store.redis, prefix=store.keys.prefix, events=store)


def mode(op: Operation) -> str:
    """How an operation touched the cluster: applied, compare-only, dry-run, or running/unknown."""
    if op.dry_run:
        return "dry-run"
    if op.applied is None:
        return "running" if op.finished is None else "-"
    return "applied" if op.applied else "compare-only"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at else "-"


def history_rows(history: list[Operation]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for op in history:
        trigger = str(op.trigger) + (f" ({op.trigger_detail})" if op.trigger_detail else "")
        digest = (op.manifests_digest or "-").removeprefix("sha256:")[:12]
        out.append((op.id, _when(op.started), trigger, str(op.phase), short(op.revision), digest, mode(op)))
    return out


def _format(columns: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def run_history(args: argparse.Namespace) -> int:
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    store, target = _open(args)
    history = store.history(target, limit=args.limit)
    if args.output == "json":
        print(json.dumps([{"id": op.id, "started": op.started, "finished": op.finished,
                           "trigger": str(op.trigger), "triggerDetail": op.trigger_detail,
                           "phase": str(op.phase), "revision": op.revision,
                           "manifestsDigest": op.manifests_digest, "applied": op.applied,
                           "dryRun": op.dry_run, "mode": mode(op), "error": op.error} for op in history],
                         indent=2))
    elif not history:
        print(f"no operations recorded for {target.key}")
    else:
        print(_format(HISTORY_COLUMNS, history_rows(history)))
    return 0


def who() -> tuple[str, str]:
    """(user, user@host) of whoever runs the command."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return user, f"{user}@{socket.gethostname() or 'localhost'}"


def run_rollback(args: argparse.Namespace) -> int:
    store, target = _open(args, enqueues=True)
    status = store.status(target)
    choice = rollback_revision(store.history(target), status.revision if status else None, args.to)
    if choice.warning:
        print(f"warning: {choice.warning}", file=sys.stderr)
    user, by = who()
    reason = rollback_reason(choice.revision)
    operation = suspend_for(
        suspensions_of(store), Suspension(target, reason, time.time(), choice.revision, by),
        lambda: dispatch.enqueue_sync(target.application, target.cluster, prune=False, dry_run=False,
                                      detail=f"{reason} by {user}", revision=choice.revision))
    print(f"rollback of {target.key} to {choice.revision} enqueued: operation {operation}")
    print(f"automated sync of {target.key} is suspended until "
          f"`gitops resume {target.application} --cluster {target.cluster}`")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    store, target = _open(args, enqueues=True)
    _, by = who()
    if not suspensions_of(store).resume(target, by=by):
        print(f"{target.key} was not suspended")
    task = dispatch.request_reconcile(target.application, target.cluster, detail=f"resume by {by}")
    print(f"resumed {target.key}: " + (f"reconcile enqueued as {task}" if task
                                         else "a reconcile is already queued"))
    return 0
