"""``gitops status``: applications x clusters with sync, health, revision, images and last error, from state.

Registered by gitops/cli/__init__.py discovery. Reads gitops.state only (the Redis store at
``--redis-url`` / ``$GITOPS_REDIS_URL``); with ``-c CONFIG`` every configured target is listed, even one
never reconciled yet. Key design choice: a read-only view that never talks to Git or a cluster, so it
is instant and safe to run anywhere. Exit codes: 0 every target Synced without error, 1 some target is
OutOfSync/Unknown or failed, 2 the command itself failed (no Redis, bad configuration).
The HOLD column says why a target is only compared (``waiting: db@prod``, ``window freeze until
18:00Z``, ``suspended (rollback to 1a2b3c4d5e6f)``: :func:`gitops.state.suspensions.describe_hold`);
``-o json`` adds each target's ``hold`` and ``suspension``.
The IMAGES column summarises the image verification verdicts of the last reconcile (``-`` when no
policy applies); ``--images`` lists each image: its digest, verdict, who signed it and when, or why
it was refused.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gitops.cli.appset_ops import states, summary_table
from gitops.config import load_config
from gitops.state import TargetStatus, open_appsets, open_store
from gitops.state.suspensions import RedisSuspensions, Suspension, describe_hold
from gitops.vocabulary import SyncStatus, Target

COLUMNS = ("APPLICATION", "CLUSTER", "SYNC", "HEALTH", "REVISION", "IMAGES", "HOLD", "AGE", "ERROR")
IMAGE_COLUMNS = ("APPLICATION", "CLUSTER", "IMAGE", "DIGEST", "VERDICT", "SIGNED BY / REASON", "AT")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="show sync status and health of every application/cluster")
    p.add_argument("-c", "--config", help="configuration: also list targets never reconciled")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.add_argument("--images", action="store_true",
                   help="list the verification verdict of every image of every target")
    p.add_argument("--redis-url", default=None, help="state Redis (default: $GITOPS_REDIS_URL)")
    p.set_defaults(func=run)


def _configured(path: str | None) -> list[Target]:
    if not path:
        return []
    config = load_config(path)
    return [Target(name, app.destination.cluster) for name, app in sorted(config.applications.items())]


def _age(at: float, now: float) -> str:
    if not at:
        return "-"
    seconds = max(0, int(now - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rows(statuses: list[TargetStatus], now: float,
         suspensions: dict[Target, Suspension] | None = None) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for s in statuses:
        error = (s.error or "").splitlines()[0][:80] if s.error else ""
        hold = describe_hold(s.hold, (suspensions or {}).get(s.target), now)[:80] or "-"
        out.append((s.application, s.cluster, str(s.sync), str(s.health), (s.revision or "-")[:12],
                    images_summary(s), hold, _age(s.reconciled_at, now), error))
    return out


def images_summary(status: TargetStatus) -> str:
    """The IMAGES cell: ``-`` (not verified), ``3/3 verified``, ``1/3 refused``, ``1/3 warned``,
    ``retrying`` (the registry failed), ``allowed`` (no rule required a signature)."""
    checks = status.verification
    if checks is None:
        return "-"
    total = len(checks)
    count = {verdict: sum(1 for c in checks if c.status == verdict)
             for verdict in ("verified", "warned", "refused", "temporary")}
    if count["refused"]:
        return f"{count['refused']}/{total} refused"
    if count["temporary"]:
        return "retrying"
    if count["warned"]:
        return f"{count['warned']}/{total} warned"
    return f"{count['verified']}/{total} verified" if count["verified"] else "allowed"


def image_rows(statuses: list[TargetStatus], now: float) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for s in statuses:
        for check in s.verification or ():
            why = ", ".join(check.signers) if check.allowed else "; ".join(check.reasons)
            if check.status == "warned":
                why = "; ".join(check.reasons)
            out.append((s.application, s.cluster, check.image[:80], (check.digest or "-")[:19],
                        check.status, why.splitlines()[0][:120] if why else "-",
                        _age(check.verified_at, now) if check.verified_at else "-"))
    return out


def table(statuses: list[TargetStatus], now: float | None = None,
          suspensions: dict[Target, Suspension] | None = None) -> str:
    return _format(COLUMNS, rows(statuses, time.time() if now is None else now, suspensions))


def images_table(statuses: list[TargetStatus], now: float | None = None) -> str:
    return _format(IMAGE_COLUMNS, image_rows(statuses, time.time() if now is None else now))


def _format(columns: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    store = open_store(args.redis_url)
    statuses = {s.target: s for s in store.statuses()}
    suspended = {s.target: s for s in RedisSuspensions(store.redis, prefix=store.keys.prefix).suspended()}
    for target in [*_configured(args.config), *suspended]:
        statuses.setdefault(target, TargetStatus(target.application, target.cluster))
    ordered = [statuses[t] for t in sorted(statuses, key=lambda t: (t.application, t.cluster))]
    if args.output == "json":
        found = [{**s.to_dict(), "suspension": None if s.target not in suspended
                  else suspended[s.target].to_dict()} for s in ordered]
        print(json.dumps(found, indent=2, sort_keys=True))
    elif args.images:
        print(images_table(ordered))
    else:
        print(table(ordered, suspensions=suspended))
        sets = states(open_appsets(args.redis_url))
        if sets:  # the rollouts and held changes (details: gitops appset status)
            print()
            print(summary_table(sets))
    healthy = all(s.sync is SyncStatus.SYNCED and not s.error for s in ordered)
    return 0 if healthy else 1
