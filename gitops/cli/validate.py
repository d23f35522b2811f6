"""``gitops validate -c PATH [-o text|json]``: check a configuration and report every problem.

Registered by the CLI's module discovery (gitops/cli/__init__.py). Loads the configuration with
:func:`gitops.config.load_config`; prints one problem per line, sorted by file, line and column, and
exits 2 when anything is wrong, or prints a one-line summary (objects per kind) and exits 0. The JSON
form carries the same facts for tools. Output holds only locations, field names and our own messages:
credentials are references and their values are never read here.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from gitops.config import load_config
from gitops.env import ENV_CONFIG
from gitops.errors import ConfigError, Problem


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="validate a configuration file or directory",
                                   description="Validate a configuration; exit 0 if valid, 2 if not.")
    parser.add_argument("-c", "--config", default=os.environ.get(ENV_CONFIG),
                        help=f"configuration file or directory (default: ${ENV_CONFIG})")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.config:
        print(f"error: no configuration given: use -c PATH or set ${ENV_CONFIG}")
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _report(args.output, exc.problems)
        return 2
    counts = config.counts()
    if args.output == "json":
        print(json.dumps({"valid": True, "problems": [], "counts": counts, "files": list(config.files)},
                         indent=2))
    else:
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        print(f"valid: {kinds} in {len(config.files)} file(s)")
    return 0


def _report(output: str, problems: list[Problem]) -> None:
    if output == "json":
        rows = [{"file": p.file, "line": p.line, "column": p.column, "field": p.field,
                 "message": p.message} for p in problems]
        print(json.dumps({"valid": False, "problems": rows}, indent=2))
        return
    for problem in problems:
        print(problem)
    print(f"invalid: {len(problems)} problem(s)")
