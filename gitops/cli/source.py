"""``gitops source check``: resolve every configured repository's ref to a commit, without fetching.

Discovered by :mod:`gitops.cli`. Key design choice: all repositories are checked through one
:meth:`GitSource.heads` call, so repositories sharing a URL cost one remote listing; a repository
that fails is reported on its own line and does not stop the others. Exit code 0 when every
repository resolved, 2 when any failed (unreachable, rejected, unsafe URL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from gitops.config import load_config, to_fleet
from gitops.domain import Repository
from gitops.env import ENV_CACHE_DIR, ENV_XDG_CACHE_HOME
from gitops.errors import GitOpsError
from gitops.sources import GitSource, RepoSpec
from gitops.sources.spec import DEFAULT_TIMEOUT
from gitops.sources.urls import redact


def default_cache_dir() -> Path:
    """``$GITOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/gitops``, else ``~/.cache/gitops``."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    return Path(os.environ.get(ENV_XDG_CACHE_HOME) or Path.home() / ".cache") / "gitops"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("source", help="inspect Git sources")
    sub = parser.add_subparsers(dest="source_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", help="resolve each repository's ref to a commit (no fetch)")
    check.add_argument("-c", "--config", required=True, help="configuration file or directory")
    check.add_argument("-o", "--output", choices=("text", "json"), default="text")
    check.add_argument("--cache-dir", type=Path, default=None, help="source cache (default: %(default)s)")
    check.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per repository")
    check.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    path = Path(args.config)
    fleet = to_fleet(load_config(path))
    base = path if path.is_dir() else path.parent
    source = GitSource(args.cache_dir or default_cache_dir())
    return check(fleet.repositories.values(), source, output=args.output, timeout=args.timeout,
                 base=base.resolve())


def check(repositories: Iterable[Repository], source: GitSource, *, output: str = "text",
          timeout: float = DEFAULT_TIMEOUT, base: Path | None = None, out: TextIO | None = None) -> int:
    """Resolve every repository and print the result; the testable body of the command."""
    rows: list[dict[str, Any]] = []
    specs: list[RepoSpec] = []
    for repo in repositories:
        row: dict[str, Any] = {"name": repo.name, "url": redact(repo.url), "ref": repo.ref}
        try:
            spec = RepoSpec.from_config(repo, timeout=timeout, base=base)
        except GitOpsError as exc:
            row["error"] = str(exc)
        else:
            specs.append(spec)
            row["url"] = spec.display_url
        rows.append(row)
    results = source.heads(specs)
    for row in rows:
        result = results.get(row["name"])
        if isinstance(result, str):
            row["revision"] = result
        elif result is not None:
            row["error"] = str(result)
            known = result if isinstance(result, GitOpsError) else None
            row["temporary"] = bool(known and known.temporary)
            row["last_good"] = known.revision if known else None
    _print(rows, output, out or sys.stdout)
    return 2 if any("error" in row for row in rows) else 0


def _print(rows: list[dict[str, Any]], output: str, out: TextIO) -> None:
    if output == "json":
        json.dump({"repositories": rows}, out, indent=2, sort_keys=True)
        out.write("\n")
        return
    width = max([len(row["name"]) for row in rows] + [4])
    for row in rows:
        status = row.get("revision") or f"error: {row['error']}"
        out.write(f"{row['name']:<{width}}  {row['ref']}  {status}\n")
