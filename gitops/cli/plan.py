"""``gitops plan -c CONFIG [--revision REV | --worktree DIR] [--base REV] [-o text|json|markdown]``.

The fleet-wide plan of a change to one repository: every (application, cluster) pair it adds, removes or
changes, ApplicationSet generators included, with field-level diffs (server-side dry-run where the cluster
answers, else offline, said per pair). Discovered by :mod:`gitops.cli`; the work is
:func:`gitops.fleetplan.plan_fleet`, this module only wires it: the configuration, the production ports
(``gitops.adapters.production_ports``), the appset GitTree over the same Git cache for other repositories
(``gitops.appset.snapshots.SnapshotTree``), and the two sides (``gitops.fleetplan.trees``). Key design
choice: NEW defaults to the head of the repository's ref like BASE, so ``gitops plan -c CONFIG`` alone
plans nothing (exit 0) and ``--base OLD`` alone shows what changed since OLD. Exit 0: no change; 1: some
pair is added, removed, changed or failed to render (or an ApplicationSet element failed); 2: the plan
itself failed (configuration, repository or revision not found, a generator failed as a whole).
docs/plan.md is the user's guide.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from gitops.cli.source import default_cache_dir
from gitops.config import load_config, to_fleet
from gitops.domain import Fleet, Repository
from gitops.errors import InputError
from gitops.fleetplan import PlanRequest, markdown, plan_fleet, text, to_json
from gitops.fleetplan.orchestrate import DEFAULT_WORKERS
from gitops.fleetplan.ports import TreeSource
from gitops.fleetplan.trees import Bounds, CommitTree, WorktreeTree


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan", help="plan a change fleet-wide: every (application, cluster) pair it adds, removes or "
                     "changes (exit 1 on changes)")
    parser.add_argument("-c", "--config", required=True, help="configuration file or directory")
    parser.add_argument("--repository", default=None,
                        help="the repository the change belongs to (default: the only configured one)")
    new = parser.add_mutually_exclusive_group()
    new.add_argument("--revision", default=None,
                     help="NEW: a commit id, branch or tag of the repository (default: the head of its ref)")
    new.add_argument("--worktree", type=Path, default=None,
                     help="NEW: a directory holding the repository's uncommitted files")
    parser.add_argument("--base", default=None,
                        help="BASE: a commit id, branch or tag (default: the head of the repository's ref, "
                             "what the fleet runs)")
    parser.add_argument("--offline", action="store_true", help="never contact clusters: offline diffs only")
    parser.add_argument("-o", "--output", choices=("text", "json", "markdown"), default="text")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="renders and dry-runs at once")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="Git cache directory (default: $GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/gitops, "
                             "else ~/.cache/gitops)")
    parser.set_defaults(func=run)


def choose_repository(fleet: Fleet, name: str | None) -> Repository:
    """The repository named ``name``, or the only configured one; InputError listing them otherwise."""
    names = ", ".join(sorted(fleet.repositories)) or "none"
    if name is not None:
        if name not in fleet.repositories:
            raise InputError(f"no repository named {name!r} is configured (configured: {names})")
        return fleet.repositories[name]
    if len(fleet.repositories) != 1:
        raise InputError(f"{len(fleet.repositories)} repositories are configured ({names}): say which one "
                         "the change belongs to with --repository NAME")
    return next(iter(fleet.repositories.values()))


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # a ConfigError is exit 2 with its problems (gitops.cli.main)
    fleet = to_fleet(config)
    repository = choose_repository(fleet, args.repository)
    from gitops.adapters import production_ports  # Git and HTTP clients: loaded when needed
    from gitops.appset.snapshots import SnapshotTree
    from gitops.sources import GitSource

    git = GitSource(args.cache_dir or default_cache_dir())
    ports = production_ports(git, repositories=fleet.repositories.values())
    base = CommitTree(ports.source, repository, args.base)
    with tempfile.TemporaryDirectory(prefix="gitops-plan-") as scratch:
        worktree = (WorktreeTree(args.worktree, Path(scratch), Bounds.of(repository.snapshot_limits))
                    if args.worktree is not None else None)
        new: TreeSource = worktree or CommitTree(ports.source, repository, args.revision)
        try:
            plan = plan_fleet(PlanRequest(config, fleet, repository, base, new,
                                          SnapshotTree(git, fleet.repositories.values()), ports,
                                          offline=args.offline, workers=max(1, args.workers)))
        finally:
            if worktree is not None:
                worktree.close()
        if worktree is not None and worktree.skipped:
            plan = replace(plan, notes=plan.notes + tuple(
                f"left out of the working tree: {path} (a symbolic link leading outside it, or not a file)"
                for path in worktree.skipped))
    out = {"json": to_json, "markdown": markdown}.get(args.output, text)(plan)
    sys.stdout.write(out)
    if plan.failed:
        print("error: the plan is incomplete: a generator failed as a whole (see the problems)",
              file=sys.stderr)
    return plan.exit_code()
