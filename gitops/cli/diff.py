"""``gitops diff -c CONFIG APP [--cluster C] [-o text|json|yaml]``: drift between Git and a cluster.

Synchronous (no Celery): renders the application at its revision, plans against the cluster with a
server-side dry-run and prints the field-level drift with the manager that owns each live value, and
a unified YAML diff (Secret values masked, huge values cut). Exit 0: in sync; 1: differences; 2:
error. Also holds the helpers ``gitops sync`` and ``gitops render`` share: :func:`load` reads the
configuration once, converts it to the engine's values (``gitops.config.to_fleet``) and wires the
production ports (``gitops.adapters.production_ports``); printing results.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops.cli.source import default_cache_dir
from gitops.config import load_config, to_fleet
from gitops.config.verification import VerificationPolicy
from gitops.domain import Fleet
from gitops.engine import Ports, ReconcileRequest, ReconcileResult, reconcile
from gitops.vocabulary import Action, SyncStatus
from renderers.yamlio import dump_all


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="configuration file or directory")
    parser.add_argument("application", metavar="APP", help="application name")
    parser.add_argument("--cluster", help="cluster name (default: the application's destination)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="Git cache directory (default: $GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/gitops, "
                             "else ~/.cache/gitops)")


def cache_dir(args: argparse.Namespace) -> Path:
    if args.cache_dir:
        return Path(args.cache_dir)
    return default_cache_dir()


def fleet(args: argparse.Namespace) -> Fleet:
    """The configuration as the engine's values (ConfigError listing every problem)."""
    return to_fleet(load_config(args.config))


def ports(args: argparse.Namespace, configured: Fleet,
          policies: Mapping[str, VerificationPolicy] | None = None) -> Ports:
    """The engine's ports; the configured repositories are the default allow-list for remote bases, and
    the configured VerificationPolicy objects are enforced before anything is planned."""
    from gitops.adapters import production_ports  # Git and HTTP clients: loaded when needed
    from gitops.verify.policy import policy_verifier

    verifier = policy_verifier(policies or {}, lambda: configured)
    return production_ports(cache_dir(args), verifier, repositories=configured.repositories.values())


def build_request(args: argparse.Namespace, configured: Fleet | None = None, **kw: Any) -> ReconcileRequest:
    """The ReconcileRequest for APP on --cluster from the configuration (ConfigError when unknown)."""
    placement = (configured or fleet(args)).lookup(args.application, args.cluster, file=str(args.config))
    return ReconcileRequest(*placement, **kw)


def load(args: argparse.Namespace, **kw: Any) -> tuple[ReconcileRequest, Ports]:
    """The request for APP on --cluster and the production ports, from one read of the configuration."""
    request, engine_ports, _ = load_with_fleet(args, **kw)
    return request, engine_ports


def load_with_fleet(args: argparse.Namespace, **kw: Any) -> tuple[ReconcileRequest, Ports, Fleet]:
    """:func:`load`, and the fleet it was built from (the sync windows, for ``gitops sync``)."""
    config = load_config(args.config)
    configured = to_fleet(config)
    return (build_request(args, configured, **kw), ports(args, configured, config.verification_policies),
            configured)


def reconcile_once(request: ReconcileRequest, ports: Ports) -> ReconcileResult:
    """One reconcile for a command, then the verifier's registry connections closed (a worker keeps
    them; a command exits)."""
    try:
        return reconcile(request, ports)
    finally:
        close = getattr(ports.verifier, "close", None)
        if callable(close):
            close()


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if value is not None else "<none>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def print_drift(result: ReconcileResult) -> None:
    if not result.drift:
        return
    rows = [["OBJECT", "FIELD", "LIVE", "GIT", "CHANGED BY"]]
    rows += [[str(d.ref), d.path, _short(d.live), _short(d.predicted), d.manager or "-"]
             for d in result.drift]
    print(table(rows))


def print_results(result: ReconcileResult, *, changes_only: bool = False) -> None:
    """One row per object (ACTION KIND NAMESPACE NAME MESSAGE) and a summary line."""
    rows = [["ACTION", "KIND", "NAMESPACE", "NAME", "MESSAGE"]]
    for o in result.objects:
        if changes_only and o.action is Action.UNCHANGED:
            continue
        message = o.error or o.message
        if o.health and o.action is not Action.DELETED:
            message = f"{message} [{o.health}]".strip()
        rows.append([str(o.action), o.ref.kind, o.ref.namespace or "-", o.ref.name, message])
    if len(rows) > 1:
        print(table(rows))
    counts: dict[str, int] = {}
    for o in result.objects:
        counts[str(o.action)] = counts.get(str(o.action), 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no objects"
    print(f"{result.target} at {(result.revision or '?')[:12]}: {summary}; sync {result.sync}, "
          f"health {result.health}")


def run(args: argparse.Namespace) -> int:
    result = reconcile_once(*load(args, sync=False))
    if args.output == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        print()
    elif args.output == "yaml":
        print(dump_all([json.loads(json.dumps(result.to_dict(), default=str))]), end="")
    else:
        print(result.diff, end="")
        print_drift(result)
        print_results(result, changes_only=True)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    return 0 if result.sync is SyncStatus.SYNCED else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("diff", help="show drift between Git and a cluster (exit 1 on drift)")
    add_target_arguments(parser)
    parser.add_argument("-o", "--output", choices=("text", "json", "yaml"), default="text")
    parser.set_defaults(func=run)
