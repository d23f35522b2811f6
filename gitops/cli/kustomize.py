"""``gitops kustomize DIR``: print the manifests of a kustomization, like ``kubectl kustomize DIR``.

Called by the ``gitops`` CLI (discovered automatically). The renderer is
:func:`renderers.kustomize.build`, run through :func:`renderers.api.build_kustomization`: in a
resource-limited worker process under the default render budget, like every render of repository
content. Remote bases are rejected here because the standalone command has no Git source to fetch
them with. Exit 0 with the YAML on stdout, or 2 with one ``error:`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from renderers.api import build_kustomization
from renderers.errors import RenderError
from renderers.kustomize.output import dump_all

RESTRICTORS = {"LoadRestrictionsRootOnly": "RootOnly", "LoadRestrictionsNone": "None"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("kustomize", help="build a kustomization directory (kubectl kustomize)",
                                   description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--load-restrictor", choices=sorted(RESTRICTORS), default="LoadRestrictionsRootOnly",
                        help="RootOnly (default): files must be inside their kustomization's directory")
    parser.add_argument("dir", nargs="?", default=".", help="the kustomization directory (default: .)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        docs = build_kustomization(Path(args.dir), RESTRICTORS[args.load_restrictor])
        text = dump_all(docs)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback on the command line
        print(f"error: internal error while building {args.dir}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
