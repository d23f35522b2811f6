"""``gitops import argocd FILE [-o DIR]``: convert Argo CD YAML into this engine's configuration.

Registered by the CLI's module discovery (gitops/cli/__init__.py). Reads FILE with the configuration
loader's bounds (:func:`gitops.importers.read_documents`), converts it
(:func:`gitops.importers.convert`), prints the documents on stdout (or writes one file per kind into
DIR, never over an existing file) and the report on stderr: every Argo CD field that did not convert
exactly, with its document and field path. Exit codes: 0 everything converted exactly, 1 something was
lost or approximated (what could be converted is still written), 2 the input could not be read or is
not Argo CD's. Secrets' values are never read into the output.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gitops.errors import InputError
from gitops.importers import convert, read_documents


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", help="convert another tool's configuration",
                                   description="Convert another GitOps tool's configuration into ours.")
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    argocd = tools.add_parser(
        "argocd", help="convert Argo CD Applications, ApplicationSets, AppProjects and Secrets",
        description="Convert Argo CD YAML; exit 0 when exact, 1 when something was lost or approximated "
                    "(listed on stderr), 2 on unreadable or foreign input.")
    argocd.add_argument("file", metavar="FILE", help="a YAML file of Argo CD objects (multi-document)")
    argocd.add_argument("-o", "--output-dir", metavar="DIR",
                        help="write one file per kind into DIR (default: print to stdout)")
    argocd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        conversion = convert(read_documents(args.file), args.file)
        if args.output_dir:
            _write(Path(args.output_dir), conversion.files())
        else:
            sys.stdout.write(conversion.yaml())
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stderr.write(conversion.report())
    return 0 if conversion.exact else 1


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in files:
        if os.path.lexists(directory / name):
            raise InputError("exists; not overwritten (choose an empty directory)",
                             file=str(directory / name))
    for name, text in files.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"wrote {directory / name}", file=sys.stderr)
