"""``gitops render -c CONFIG APP [--cluster C] [--revision REV] [-o yaml|json]``.

Prints the desired manifests of one application for one cluster, exactly as the engine renders them
before planning (same snapshot, same renderer, same cluster parameters), without contacting the
cluster. The preview Argo CD users know as ``argocd app manifests --source git``. It calls the
engine's own ``render`` step, so what it prints is what a sync would apply (without the location
annotations the renderers leave for messages, which the engine strips too).
Exit 0 rendered; 2 error (the message names the file and field).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from gitops.cli.diff import add_target_arguments, load
from gitops.engine import render
from gitops.render.manifests import without_internal
from renderers.yamlio import dump_all


def run(args: argparse.Namespace) -> int:
    request, ports = load(args)
    revision = ports.source.resolve(request.repository, args.revision or request.application.source.revision)
    manifests = [without_internal(m) for m in render(request, ports, revision)]
    if args.output == "json":
        print(json.dumps({"revision": revision, "manifests": manifests}, indent=2, sort_keys=True))
    else:
        print(f"# {request.target} at {revision}")
        print(dump_all(manifests), end="")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("render", help="print an application's desired manifests for a cluster")
    add_target_arguments(parser)
    parser.add_argument("--revision", default=None, help="a commit, branch or tag (default: the source's)")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    parser.set_defaults(func=run)
