"""``gitops kustomize DIR``: print the manifests of a kustomization, like ``kubectl kustomize DIR``.

Called by the ``gitops`` CLI (discovered automatically). The renderer is
:func:`renderers.kustomize.build`, run through :func:`renderers.api.build_kustomization`: in a
resource-limited worker process under a render budget, like every render of repository content: the
default one, or what the budget flags ask for (one per field of an application's
``spec.source.budget``, validated by the same model, :class:`gitops.config.application.RenderBudget`).
Remote bases are rejected here because the standalone command has no Git source to fetch them with.
Exit 0 with the YAML on stdout, or 2 with one ``error:`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops.config.application import RenderBudget
from renderers import budget as render_budget
from renderers.api import build_kustomization
from renderers.errors import RenderError
from renderers.kustomize.output import dump_all

RESTRICTORS = {"LoadRestrictionsRootOnly": "RootOnly", "LoadRestrictionsNone": "None"}
# flag -> (the Budget field it sets, its spec.source.budget key, what it is)
BUDGET_FLAGS = {
    "--cpu-seconds": ("cpu_seconds", "cpuSeconds", "CPU seconds"),
    "--memory": ("memory_bytes", "memoryBytes", "memory"),
    "--max-objects": ("max_objects", "maxObjects", "objects"),
    "--max-output": ("max_output_bytes", "maxOutputBytes", "output size"),
    "--max-yaml-nodes": ("max_yaml_nodes", "maxYamlNodes", "YAML nodes"),
}
_SIZES = ("memory_bytes", "max_output_bytes")
_UNITS = (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("kustomize", help="build a kustomization directory (kubectl kustomize)",
                                   description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--load-restrictor", choices=sorted(RESTRICTORS), default="LoadRestrictionsRootOnly",
                        help="RootOnly (default): files must be inside their kustomization's directory")
    budget = parser.add_argument_group("render budget", "what the build may use, as an application's "
                                       "spec.source.budget (docs/renderers.md, \"Render budgets\")")
    for flag, (name, key, what) in BUDGET_FLAGS.items():
        default = _shown(name, getattr(render_budget.DEFAULT, name))
        budget.add_argument(flag, dest=name, metavar="SIZE" if name in _SIZES else "N",
                            help=f"{what}: {_bounds(name)}; default {default} (spec.source.budget.{key})")
    parser.add_argument("dir", nargs="?", default=".", help="the kustomization directory (default: .)")
    parser.set_defaults(func=run)


def _shown(name: str, value: int) -> str:
    if name in _SIZES:
        unit = next(((u, n) for u, n in _UNITS if value % n == 0), None)
        return f"{value // unit[1]}{unit[0]}" if unit else str(value)
    return str(value)


def _bounds(name: str) -> str:
    low, high = render_budget.LIMITS[name]
    within = f"from {_shown(name, low)} to {_shown(name, high)}"
    if name in _SIZES:
        return f"{within}, in bytes or with Ki, Mi or Gi (e.g. 256Mi)"
    return f"an integer {within}"


def budget_of(args: argparse.Namespace) -> render_budget.Budget:
    """The budget the flags ask for (the default's value for each flag not given), validated as
    ``spec.source.budget`` is; ValueError naming the first bad flag, its value and what it accepts."""
    given = {name: getattr(args, name) for name, _, _ in BUDGET_FLAGS.values()
             if getattr(args, name, None) is not None}
    try:  # lax: a flag's value is text, which the configuration's strict ints would refuse
        return RenderBudget.model_validate(given, strict=False).to_budget()
    except ValidationError as exc:
        name = str(exc.errors(include_url=False)[0]["loc"][0])
        flag = next(f for f, (field, _, _) in BUDGET_FLAGS.items() if field == name)
        raise ValueError(f"{flag} {given[name]}: must be {_bounds(name)}") from None


def run(args: argparse.Namespace) -> int:
    try:
        limits = budget_of(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        docs = build_kustomization(Path(args.dir), RESTRICTORS[args.load_restrictor], limits)
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
