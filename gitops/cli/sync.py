"""``gitops sync -c CONFIG APP [--cluster C] [--dry-run] [--prune] [--force] [--local]``.

Runs one reconcile synchronously and prints each object's result (ACTION KIND NAMESPACE NAME
MESSAGE) and a summary. A sync window that holds manual syncs of the target (a deny window without
``manualSync``; docs/sync-windows.md) refuses it here too, before anything is read from Git or the
cluster, as the workers would hold it; a dry run is never refused. When GITOPS_REDIS_URL is set and
``--local`` is not given, the sync is enqueued instead through ``gitops.dispatch.enqueue_sync``
(implemented by the workers layer, loaded through an entry point, so this module never imports Celery)
and the task id is printed; the worker then applies the windows.
Exit 0: synced (or enqueued); 1: a dry run found changes, or a detect-only application differs;
2: error, failed objects, or refused by a sync window.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from gitops.cli.diff import (
    add_target_arguments,
    build_request,
    load_with_fleet,
    print_drift,
    print_results,
    reconcile_once,
)
from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.domain import Fleet
from gitops.engine import ReconcileRequest
from gitops.env import ENV_CONFIG, ENV_REDIS_URL
from gitops.errors import GitOpsError
from gitops.permit import windows
from gitops.vocabulary import Action, SyncStatus, Trigger


def _enqueue(args: argparse.Namespace) -> int:
    try:
        dispatch = importlib.import_module("gitops.dispatch")
    except ImportError as exc:
        raise GitOpsError(f"{ENV_REDIS_URL} is set but gitops.dispatch is unavailable; use --local") from exc
    target = build_request(args).target  # validates the names before anything is queued
    # the dispatcher routes by the shards of the configuration in $GITOPS_CONFIG: this one (docs/workers.md)
    os.environ[ENV_CONFIG] = str(Path(args.config).resolve())
    task = dispatch.enqueue_sync(target.application, target.cluster, prune=args.prune, dry_run=args.dry_run)
    print(f"enqueued sync of {args.application}: task {task}")
    return 0


def window_refusal(fleet: Fleet, request: ReconcileRequest, clock: Clock = SYSTEM_CLOCK) -> str | None:
    """Why the sync windows selecting the request's target hold a manual sync now (None: they do not)."""
    app, cluster = request.application, request.cluster
    state = windows.evaluate(fleet.sync_windows.values(), clock.now(), application=app.name,
                             app_labels=app.labels, cluster=cluster.name, cluster_labels=cluster.labels,
                             manual=True)
    return None if state.manual else windows.explain(state, manual=True)


def run(args: argparse.Namespace) -> int:
    if os.environ.get(ENV_REDIS_URL) and not args.local:
        return _enqueue(args)
    request, ports, configured = load_with_fleet(
        args, sync=True, trigger=Trigger.MANUAL, dry_run=args.dry_run, prune=True if args.prune else None,
        force=args.force, wait_seconds=args.wait)
    refusal = None if args.dry_run else window_refusal(configured, request)
    if refusal:
        print(f"error: not synced: {refusal}", file=sys.stderr)
        return 2
    result = reconcile_once(request, ports)
    print_results(result)
    if args.dry_run:
        print_drift(result)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    if args.dry_run:
        return 1 if any(o.action is not Action.UNCHANGED for o in result.objects) else 0
    if not result.applied:
        print("not applied: the application's sync policy is detect-only", file=sys.stderr)
        return 0 if result.sync is SyncStatus.SYNCED else 1
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sync", help="apply an application to a cluster now")
    add_target_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="plan only: show what would change")
    parser.add_argument("--prune", action="store_true", help="delete objects no longer in Git")
    parser.add_argument("--force", action="store_true", help="take ownership of conflicting fields")
    parser.add_argument("--local", action="store_true", help="run here even when GITOPS_REDIS_URL is set")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for the objects to become healthy")
    parser.set_defaults(func=run)
