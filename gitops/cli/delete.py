"""``gitops delete -c CONFIG APP [--cluster C] [--yes] [--dry-run]``: delete an application from a cluster.

Runs here, synchronously, against the cluster (as ``gitops sync --local`` does) through
``gitops.engine.delete``: the PreDelete hooks, every object of the target's inventory (dependants
first; only objects still marked as the target's), the PostDelete hooks, then the inventory itself
(docs/hooks.md). Without ``--yes`` (or with ``--dry-run``) it only prints what would be deleted.
When a state Redis is configured (``--redis-url`` or ``$GITOPS_REDIS_URL``) a completed deletion also
forgets the target's status and history. The application stays in the configuration: remove it there
too, or an automated sync creates it again.
Exit 0: deleted (or a dry run); 1: not confirmed (no ``--yes``); 2: error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gitops.cli.diff import add_target_arguments, load, print_results
from gitops.engine import ReconcileResult, delete
from gitops.env import ENV_REDIS_URL
from gitops.vocabulary import Trigger


def _forget(args: argparse.Namespace, result: ReconcileResult) -> None:
    if not (args.redis_url or os.environ.get(ENV_REDIS_URL)):
        return
    from gitops.state import open_store  # the Redis client: loaded only when state is configured

    store = open_store(args.redis_url)
    if store.forget(result.target):
        print(f"forgot the status and history of {result.target}")


def run(args: argparse.Namespace) -> int:
    preview = args.dry_run or not args.yes
    request, ports = load(args, sync=True, trigger=Trigger.MANUAL, dry_run=preview)
    result = delete(request, ports)
    print_results(result)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    if preview:
        if not args.dry_run:
            print(f"not deleted: run again with --yes to delete {result.target}", file=sys.stderr)
            return 1
        return 0
    _forget(args, result)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("delete", help="delete an application from a cluster (PreDelete and "
                                                  "PostDelete hooks run around it)")
    add_target_arguments(parser)
    parser.add_argument("--yes", action="store_true", help="delete (without it: show what would be deleted)")
    parser.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    parser.add_argument("--redis-url", default=None,
                        help="state Redis that forgets the target (default: $GITOPS_REDIS_URL)")
    parser.set_defaults(func=run)
