"""``gitops appset status|approve|pause|resume|restore|delete|tombstones``: the user's side of the
ApplicationSet controller, over the state in Redis.

Added to the ``gitops appset`` parser by :mod:`gitops.cli.appset`; ``gitops status`` prints
:func:`summary_table` under its targets. Every verb is a compare-and-set update of the set's record
(:mod:`gitops.appset.controller`), picked up by the controller's next pass (within
``GITOPS_APPSET_INTERVAL``). Key design choice: the commands never generate, sync or talk to Git or a
cluster; they change what the controller may do, so they are instant and safe to run from anywhere
that reaches the Redis. Exit codes: 0 done (status: nothing waiting or failing), 1 status shows a
held change, a halted rollout or element errors, 2 error (no Redis, no such set, nothing to approve).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gitops.appset import controller
from gitops.appset.record import AppSetState
from gitops.state import open_appsets
from gitops.state.appsets import AppSetStore


def add(sub: Any) -> None:
    """Register the subcommands on the ``gitops appset`` subparsers."""
    def redis(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--redis-url", default=None, help="state Redis (default: $GITOPS_REDIS_URL, or the "
                                                         "one a `gitops up` in this directory recorded)")
        return p

    status = redis(sub.add_parser("status", help="generated and released applications, the held change, the "
                                                 "rollout, errors of the last pass"))
    status.add_argument("name", nargs="?", default=None, help="one ApplicationSet (default: all)")
    status.add_argument("-o", "--output", choices=("text", "json"), default="text")
    status.set_defaults(func=_status)
    approve = redis(sub.add_parser("approve", help="approve the change the deletion breaker holds, or the "
                                                   "rollout step waiting for an approval"))
    approve.add_argument("name")
    approve.add_argument("--change", default=None, help="approve only this change id (from `status`)")
    approve.set_defaults(func=lambda a: _verb(a, lambda s: controller.approve(s, a.name, a.change)))
    pause = redis(sub.add_parser("pause", help="release nothing more to the clusters until resume"))
    pause.add_argument("name")
    pause.set_defaults(func=lambda a: _verb(a, lambda s: controller.pause(s, a.name)))
    resume = redis(sub.add_parser("resume", help="undo pause; take a halted rollout up again"))
    resume.add_argument("name")
    resume.set_defaults(func=lambda a: _verb(a, lambda s: controller.resume(s, a.name)))
    restore = redis(sub.add_parser("restore", help="bring back a deleted application from its tombstone"))
    restore.add_argument("name")
    restore.add_argument("application")
    restore.set_defaults(func=lambda a: _verb(a, lambda s: controller.restore(s, a.name, a.application)))
    delete = redis(sub.add_parser("delete", help="stop keeping a restored application"))
    delete.add_argument("name")
    delete.add_argument("application")
    delete.set_defaults(func=lambda a: _verb(a, lambda s: controller.delete(s, a.name, a.application)))
    stones = redis(sub.add_parser("tombstones", help="deleted applications that can still be restored"))
    stones.add_argument("name", nargs="?", default=None)
    stones.add_argument("-o", "--output", choices=("text", "json"), default="text")
    stones.set_defaults(func=_tombstones)


def _verb(args: argparse.Namespace, act: Any) -> int:
    print(act(open_appsets(args.redis_url)))
    return 0


def states(store: AppSetStore, name: str | None = None) -> list[AppSetState]:
    names = [name] if name else store.names()
    out = []
    for n in names:
        found = store.load(n)
        if found is not None:
            out.append(AppSetState.from_json(n, found.text))
    return out


def rollout_text(state: AppSetState) -> str:
    r = state.rollout
    if r is None:
        return "-"
    text = f"{r.phase} step {r.step + 1}"
    return text + (" (paused)" if state.paused else "")


def summary_table(found: list[AppSetState]) -> str:
    columns = ("APPLICATIONSET", "DESIRED", "RELEASED", "ROLLOUT", "HELD", "ERRORS")
    rows = [(s.name, str(len(s.desired)), str(len(s.released)), rollout_text(s),
             s.pending.id + (" (approved)" if s.pending.approved else "") if s.pending else "-",
             str(len(s.last_run.errors) + len(s.last_run.failures))) for s in found]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _public(state: AppSetState) -> dict[str, Any]:
    return {"name": state.name, "paused": state.paused, "kept": list(state.kept),
            "desired": {n: {"cluster": a.cluster, "revision": a.revision}
                        for n, a in sorted(state.desired.items())},
            "released": {n: {"cluster": a.cluster, "revision": a.revision}
                         for n, a in sorted(state.released.items())},
            "pending": state.pending.to_dict() if state.pending else None,
            "rollout": state.rollout.to_dict() if state.rollout else None,
            "last_run": state.last_run.to_dict()}


def _status(args: argparse.Namespace) -> int:
    found = states(open_appsets(args.redis_url), args.name)
    if args.name and not found:
        print(f"error: ApplicationSet {args.name!r} has no state (is it configured, and has the engine "
              "run it?)")
        return 2
    if args.output == "json":
        print(json.dumps([_public(s) for s in found], indent=2, sort_keys=True))
    else:
        print(summary_table(found))
        for s in found:
            print(f"\n{s.name}:")
            if s.rollout is not None:
                print(f"  rollout: {rollout_text(s)}: {s.rollout.message}")
            if s.pending is not None:
                print(f"  held change {s.pending.id}: {s.pending.reason}")
                for name in s.pending.deletes:
                    print(f"    delete {name}")
                for name in s.pending.moves:
                    print(f"    move   {name}")
            for line in (*s.last_run.failures, *s.last_run.errors):
                print(f"  error: {line}")
            for line in s.last_run.notes:
                print(f"  note: {line}")
            pending_apps = sorted(n for n in s.desired if s.released.get(n) != s.desired[n])
            if pending_apps:
                print(f"  not yet released: {', '.join(pending_apps[:20])}"
                      + (f" (and {len(pending_apps) - 20} more)" if len(pending_apps) > 20 else ""))
    attention = any(s.pending is not None or (s.rollout is not None and s.rollout.phase == "Halted")
                    or s.last_run.errors or s.last_run.failures for s in found)
    return 1 if attention else 0


def _tombstones(args: argparse.Namespace) -> int:
    stones = open_appsets(args.redis_url).tombstones(args.name)
    if args.output == "json":
        print(json.dumps([{"appset": t.appset, "application": t.application, "deleted_at": t.deleted_at,
                           "expires_at": t.expires_at, "reason": t.reason} for t in stones], indent=2))
        return 0
    now = time.time()
    print("APPLICATIONSET  APPLICATION  DELETED  EXPIRES IN  REASON")
    for t in stones:
        print(f"{t.appset}  {t.application}  {time.strftime('%Y-%m-%d %H:%M', time.gmtime(t.deleted_at))}  "
              f"{max(0, int((t.expires_at - now) // 3600))}h  {t.reason}")
    return 0
