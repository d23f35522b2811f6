"""``gitops sandbox --port P --kubeconfig OUT``: run the sandbox Kubernetes API server in the foreground.

``register(subparsers)`` is registered in the ``gitops.commands`` entry-point group (pyproject.toml), so
the ``gitops`` CLI offers the command without the core importing the sandbox. Starts
:class:`kubesandbox.Sandbox` (loopback only unless ``--allow-remote``), writes a kubeconfig for kubectl
and the kubernetes client, prints the URL and the kubeconfig path, and serves until interrupted
(Ctrl-C or SIGTERM), then exits 0. Bad arguments (non-loopback host, port in use) exit 2 with a
one-line error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from kubesandbox.errors import SandboxError, UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox", help="run an in-memory Kubernetes API server for tests and demos",
        description="Serve a stand-in Kubernetes API server on loopback and write a kubeconfig for it.")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: 0, any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the sandbox to this path")
    parser.add_argument("--name", default="sandbox", help="cluster and context name (default: sandbox)")
    parser.add_argument("--controller-delay", type=float, default=0.2, metavar="SECONDS",
                        help="how long simulated rollouts take (default: 0.2)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding a non-loopback address (no authentication!)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until a signal; a :class:`SandboxError` is printed as ``error: ...`` and exits 2."""
    try:
        return serve(args)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every ``gitops`` command loads this module through the entry
    # point, and only this one needs the server (no import cycle: the server never imports the CLI).
    from kubesandbox.sandbox import Sandbox

    if not 0 <= args.port <= 65535 or args.controller_delay < 0:
        raise UsageError("--port must be 0-65535 and --controller-delay not negative", field="port")
    try:
        sandbox = Sandbox.start(args.host, args.port, kubeconfig=args.kubeconfig,
                                controller_delay=args.controller_delay, name=args.name,
                                allow_remote=args.allow_remote)
    except OSError as exc:
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
                         field="port") from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"sandbox API server listening on {sandbox.url}", flush=True)
    if sandbox.kubeconfig_path is not None:
        print(f"kubeconfig written to {sandbox.kubeconfig_path} (context {args.name})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    print("sandbox stopped", file=sys.stderr, flush=True)
    return 0
