"""The ``gitops`` command line.

Each subcommand lives in its own module in this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (taking the parsed namespace, returning an exit code). Modules are
discovered here, so adding a command never edits this file. Higher layers (workers: ``up``, ``worker``,
``beat``) contribute commands through the ``gitops.commands`` entry-point group, so the core never
imports them. Exit codes: 0 ok, 1 "found something" (drift), 2 error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import cast

from gitops import __version__, program
from gitops.errors import GitOpsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program(), description="GitOps continuous delivery engine")
    parser.add_argument("--version", action="version", version=f"gitops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(sub)
    for ep in sorted(entry_points(group="gitops.commands"), key=lambda e: e.name):
        try:
            plugin = ep.load()
        except ImportError as exc:  # a layer that is not installed: its commands are simply absent
            logging.getLogger(__name__).debug("command plugin %s unavailable: %s", ep.name, exc)
            continue
        plugin(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    func = cast("Callable[[argparse.Namespace], int] | None", getattr(args, "func", None))
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except GitOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``gitops diff -o json | head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
