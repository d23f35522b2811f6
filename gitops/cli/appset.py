"""``gitops appset preview -c CONFIG [NAME] [-o text|json]``: the applications ApplicationSets generate.

Discovered by :mod:`gitops.cli`. For each ApplicationSet (or the one named), runs its generators over
the configured clusters and the repositories' snapshots (:class:`gitops.appset.snapshots.SnapshotTree`
over the shared Git cache) and renders its template, then prints every generated application (name,
cluster, repository, path) and every error, per element, and every generator that failed as a whole.
Nothing is written anywhere: it is a preview. Key design choice: the command reports everything it
could generate even when some elements fail. Exit 0 all good; 1 some element failed; 2 configuration
error (the configuration does not load, no such ApplicationSet, a generator failed as a whole).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gitops.appset import ElementError, Generated, Inputs, generate, render_applications
from gitops.appset.ports import GitTree
from gitops.cli import appset_ops
from gitops.config import Config, load_config, to_fleet
from gitops.domain import Fleet


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("appset", help="ApplicationSets: preview, status, approve, pause, resume, "
                                                  "restore")
    sub = parser.add_subparsers(dest="appset_command", metavar="SUBCOMMAND", required=True)
    preview = sub.add_parser("preview", help="print the applications each ApplicationSet generates, and "
                                             "the errors per element")
    preview.add_argument("-c", "--config", required=True, help="configuration file or directory")
    preview.add_argument("name", nargs="?", default=None, help="one ApplicationSet (default: all)")
    preview.add_argument("-o", "--output", choices=("text", "json"), default="text")
    preview.add_argument("--cache-dir", type=Path, default=None, help="Git source cache")
    preview.set_defaults(func=_run_preview)
    appset_ops.add(sub)


def _run_preview(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # a ConfigError is exit 2 with its problems (gitops.cli.main)
    fleet = to_fleet(config)
    from gitops.appset.snapshots import SnapshotTree  # loads pygit2: only this command needs it
    from gitops.cli.source import default_cache_dir
    from gitops.sources import GitSource
    tree = SnapshotTree(GitSource(args.cache_dir or default_cache_dir()), fleet.repositories.values())
    return preview(config, fleet, tree, name=args.name, output=args.output)


def preview(config: Config, fleet: Fleet, git: GitTree, *, name: str | None = None,
            output: str = "text") -> int:
    """Generate, render and print; the testable body of the command (returns the exit code)."""
    names = [name] if name is not None else sorted(config.application_sets)
    if name is not None and name not in config.application_sets:
        print(f"error: no ApplicationSet named {name!r}")
        return 2
    reports: list[dict[str, Any]] = []
    code = 0
    for set_name in names:
        appset = config.application_sets[set_name]
        generation = generate(appset, Inputs(fleet, git))
        rendered = render_applications(appset, generation, fleet)
        apps = [_row(r) for r in rendered if isinstance(r, Generated)]
        failed = [r for r in rendered if isinstance(r, ElementError)]
        errors = [e.to_dict() for e in (*generation.errors, *failed)]
        failures = [{"generator": f.generator, "message": f.failure.message, "temporary": f.failure.temporary}
                    for f in generation.failures]
        if failures:
            code = 2
        elif errors and code == 0:
            code = 1
        reports.append({"name": set_name, "complete": generation.complete, "applications": apps,
                        "errors": errors, "failures": failures})
    if output == "json":
        print(json.dumps({"applicationSets": reports}, indent=2, sort_keys=True))
    else:
        _text(reports)
    return code


def _row(generated: Generated) -> dict[str, Any]:
    app = generated.application
    return {"element": generated.index, "name": app.name, "cluster": app.destination.cluster,
            "repository": app.source.repository, "path": app.source.path}


def _text(reports: list[dict[str, Any]]) -> None:
    if not reports:
        print("no ApplicationSets configured")
    for report in reports:
        print(f"ApplicationSet {report['name']}: {len(report['applications'])} application(s), "
              f"{len(report['errors'])} element error(s), {len(report['failures'])} failed generator(s)")
        width = max([len(a["name"]) for a in report["applications"]] + [4])
        for app in report["applications"]:
            print(f"  {app['name']:<{width}}  cluster={app['cluster']}  repository={app['repository']}  "
                  f"path={app['path']}")
        for error in report["errors"]:
            where = f"{error['generator']}: {error['element']}"
            field = f": {error['field']}" if error["field"] else ""
            print(f"  error: {where}{field}: {error['message']}")
        for failure in report["failures"]:
            print(f"  failed: {failure['generator']}: {failure['message']} (nothing generated by it is "
                  "known; keep the last good set)")
