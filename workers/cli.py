"""The ``gitops up``, ``gitops worker`` and ``gitops beat`` commands (entry point ``gitops.commands``).

``register(subparsers)`` is called by gitops/cli/__init__.py. ``up`` runs the whole engine as one
process tree (embedded Redis unless ``GITOPS_REDIS_URL`` is set, one Celery worker, one beat, the web
server (uvicorn with the ``web.app:create_from_env`` factory) when ``web.app`` exists, and with
``--demo`` a demo Git repository and three sandbox clusters; its worker also consumes the shard queues
of the configured clusters); ``worker`` and ``beat`` scale out against a shared Redis (``worker
--queues reconcile.eu,sync.eu`` serves one shard: docs/workers.md). Key design choice: ``up`` owns
every resource it starts and releases them in reverse order on Ctrl-C or SIGTERM (children first, with
a warm shutdown, Redis last with SHUTDOWN SAVE), so a stop never loses state.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from gitops.env import ENV_CONFIG
from gitops.errors import ConfigError, InputError, Problem
from gitops.state import DEFAULT_DATA_DIR
from workers.argv import ALL_QUEUES, worker_argv
from workers.redis_server import free_port
from workers.settings import QUEUES, SHARDED_QUEUES
from workers.up import Up

log = logging.getLogger(__name__)
MAX_QUEUES = 256
_SHARD_QUEUE = re.compile(rf"(?:{'|'.join(SHARDED_QUEUES)})\.[a-z0-9](?:[-a-z0-9]{{0,61}}[a-z0-9])?")


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="configuration file or directory (default: $GITOPS_CONFIG)")


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="run Redis, a worker, the beat (and the web server) together")
    _config_arg(up)
    up.add_argument("--data-dir", default=None, help="where Redis data, Git caches and the demo live "
                    "(default: ./.gitops)")
    up.add_argument("--demo", action="store_true", help="demo: a local Git repo and three sandbox clusters")
    up.add_argument("--port", type=int, default=8080, help="web server port (default 8080; 0: any free one)")
    up.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    up.set_defaults(func=cmd_up)

    worker = subparsers.add_parser("worker", help="run a Celery worker on the shared Redis")
    _config_arg(worker)
    worker.add_argument("--queues", default=ALL_QUEUES, help=f"queues to consume (default {ALL_QUEUES})")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    worker.add_argument("--name", default="gitops-%h-%p", help="worker node name")
    worker.set_defaults(func=cmd_worker)

    beat = subparsers.add_parser("beat", help="run the scheduler (exactly one acts; others stand by)")
    _config_arg(beat)
    beat.set_defaults(func=cmd_beat)


def _export_config(path: str | None) -> None:
    chosen = path or os.environ.get(ENV_CONFIG)
    if not chosen:
        raise ConfigError([Problem("no configuration: pass -c CONFIG or set GITOPS_CONFIG")])
    os.environ[ENV_CONFIG] = str(Path(chosen).resolve())


def check_queues(queues: str) -> str:
    """``--queues``: a comma list of the queues (``poll``, ``reconcile``, ``sync``) and shard queues
    (``reconcile.<shard>``, ``sync.<shard>``, the shard a DNS label); anything else is an InputError (a
    typo would otherwise start a worker that consumes nothing)."""
    names = queues.split(",")
    if len(names) > MAX_QUEUES:
        raise InputError(f"--queues: {len(names)} queues, at most {MAX_QUEUES}", field="queues")
    for name in names:
        if name not in QUEUES and not _SHARD_QUEUE.fullmatch(name):
            raise InputError(f"--queues: {name[:80]!r} is not a queue: expected {', '.join(QUEUES)} or "
                             f"<{'|'.join(SHARDED_QUEUES)}>.<shard> (a DNS label)", field="queues")
    return ",".join(dict.fromkeys(names))


def cmd_worker(args: argparse.Namespace) -> int:
    _export_config(args.config)
    argv = worker_argv(check_queues(args.queues), args.concurrency, args.pool, args.name)
    os.execv(argv[0], argv)  # the worker replaces this process: signals go straight to Celery
    return 0  # pragma: no cover


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_beat(args: argparse.Namespace) -> int:
    _export_config(args.config)
    # Lazy, not to dodge a cycle: every ``gitops`` command loads this module (entry point), and only
    # ``gitops beat`` needs the beat, the runtime and with them the engine.
    from workers.app import app, route_by
    from workers.beat import Beat, celery_dispatch
    from workers.runtime import get_runtime

    stop = threading.Event()
    _stop_on_signals(stop)
    rt = get_runtime()
    route_by(app, rt.shards)  # the reconciles the beat sends go to their cluster's shard
    Beat(rt, celery_dispatch()).run(stop)
    return 0


def _web_argv(port: int) -> list[str] | None:
    """uvicorn serving the web app's factory on the loopback, when the web layer is installed (found,
    not imported: it sits above this layer)."""
    try:
        if importlib.util.find_spec("web.app") is None:
            return None
    except ImportError:
        return None
    return [sys.executable, "-m", "uvicorn", "--factory", "web.app:create_from_env", "--host", "127.0.0.1",
            "--port", str(port), "--no-server-header"]


def cmd_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or DEFAULT_DATA_DIR).resolve()
    if not 0 <= args.port < 65536:
        raise InputError(f"--port {args.port}: expected 0 (any free port) to 65535", field="port")
    port = args.port or free_port()
    up = Up(data_dir=data_dir, config=args.config, demo=args.demo, port=port,
            concurrency=args.concurrency, web_argv=_web_argv(port))
    stop = threading.Event()
    _stop_on_signals(stop)
    return up.run(stop)


__all__ = ["register"]
