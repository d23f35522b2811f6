"""Benchmark: generating an ApplicationSet's applications, against a Go peer doing Argo CD's work.

Run from the repository root:  python bench/appset_generate.py [--clusters 100] [--directories 100]

Writes, in a temp dir, a configuration of one Repository, N Clusters (labels, annotations) and one
ApplicationSet whose generator is a matrix of ``clusters`` x ``git directories`` (an include and an
exclude glob) and whose template uses parameters in the name (with the ``dns_label`` filter), labels,
source path and parameters, destination cluster and namespace (docs/configuration.md's example, grown);
and a real Git repository of M application directories plus one excluded. Then measures in the same
run, end to end, ``generate(...)`` + ``render_applications(...)`` (every application rendered in the
Jinja sandbox and validated as a configured Application), cold (the first run in this process) and the
best of 3:
  1. over a FakeGitTree holding the repository's file list (generation alone);
  2. over the real adapter, gitops.appset.snapshots.SnapshotTree (what users get: the ref resolved
     remotely, the commit's snapshot read): cold with an empty Git cache (fetch and snapshot
     included), warm with the snapshot already built (a fresh SnapshotTree each run);
  3. the peer, bench/peers/appsetgen (Go, built here with ``go build`` into the temp dir): the same
     matrix, Go text/template with ``missingkey=error``, sigs.k8s.io/yaml strict decode of each
     rendered Application into a struct, the same checks (name a DNS label, repository and cluster
     defined, names unique); timed inside the Go process (its start excluded).
Prints applications per second, the goal (10,000 applications <= 2 s) and the ratio ours/peer; checks
both produce the same application names (and ours the same over both Git trees).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops.appset import Generated, Inputs, generate, render_applications
from gitops.appset.generate import glob_match
from gitops.appset.ports import GitTree
from gitops.appset.snapshots import SnapshotTree
from gitops.config import load_config, to_fleet
from gitops.config.application import ApplicationSet
from gitops.domain import Fleet
from gitops.sources import GitSource
from gitops.testing.gittree import FakeGitTree

PEER = Path(__file__).resolve().parent / "peers" / "appsetgen"
GOAL_SECONDS = 2.0
GOAL_APPS = 10_000
REGIONS = ("eu-1", "eu-2", "us-1", "us-2", "ap-1")
WORDS = ("Billing_API", "checkout", "Search-Front", "payments", "Ledger.v2", "inventory", "web",
         "auth_Service", "reports", "notifier")
INCLUDE, EXCLUDE = "apps/*", "apps/legacy"

APPSET = """\
apiVersion: gitops.dev/v1alpha1
kind: ApplicationSet
metadata: {name: platform}
spec:
  generators:
    - matrix:
        generators:
          - clusters:
              selector:
                matchExpressions: [{key: env, operator: In, values: [prod, staging]}]
          - git:
              repository: platform
              directories:
                - {path: "%(include)s"}
                - {path: %(exclude)s, exclude: true}
  template:
    metadata:
      name: "{{ (path.basename ~ '-' ~ name) | dns_label }}"
      labels:
        team: platform
        env: "{{ labels.env }}"
        region: "{{ labels.region }}"
        app: "{{ path.basename | dns_label }}"
    spec:
      source:
        repository: platform
        path: "{{ path }}"
        renderer: kustomize
        parameters: {owner: "{{ annotations['gitops.dev/owner'] }}", tier: "{{ labels.tier }}"}
      destination: {cluster: "{{ name }}", namespace: "{{ path.basename | dns_label }}"}
      syncPolicy: {automated: true, prune: true}
"""

# The same template for the peer, in Go's text/template over Argo CD's goTemplate parameters
# (clusters: name, server, metadata.labels, metadata.annotations; git directories: path.path,
# path.basename, path.segments), rendered as one YAML document per element.
GO_TEMPLATE = """\
metadata:
  name: '{{ printf "%s-%s" .path.basename .name | dns_label }}'
  labels:
    team: platform
    env: '{{ .metadata.labels.env }}'
    region: '{{ .metadata.labels.region }}'
    app: '{{ .path.basename | dns_label }}'
spec:
  source:
    repository: platform
    path: '{{ .path.path }}'
    renderer: kustomize
    parameters:
      owner: '{{ index .metadata.annotations "gitops.dev/owner" }}'
      tier: '{{ .metadata.labels.tier }}'
  destination: {cluster: '{{ .name }}', namespace: '{{ .path.basename | dns_label }}'}
  syncPolicy: {automated: true, prune: true}
"""


def cluster_doc(i: int) -> str:
    env = "staging" if i % 10 == 9 else "prod"
    labels = {"env": env, "region": REGIONS[i % len(REGIONS)], "tier": f"t{i % 3}",
              "gitops.dev/shard": str(i % 4)}
    annotations = {"gitops.dev/owner": f"team-{i % 7}", "note": f"rack {i // 10}"}
    return ("apiVersion: gitops.dev/v1alpha1\nkind: Cluster\n"
            f"metadata: {{name: c{i:03d}-{labels['region']}, labels: {json.dumps(labels)}, "
            f"annotations: {json.dumps(annotations)}}}\n"
            f"spec: {{server: 'https://10.{i // 250}.{i % 250}.1:6443'}}\n")


def directories(n: int) -> list[str]:
    return [f"apps/{WORDS[i % len(WORDS)]}_{i:03d}" for i in range(n)] + [EXCLUDE]


def repo_files(n: int) -> dict[str, str]:
    files = {"README.md": "# platform\n"}
    for d in directories(n):
        files[f"{d}/kustomization.yaml"] = "resources: [deployment.yaml]\n"
        files[f"{d}/deployment.yaml"] = f"# {d}\n"
    return files


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, files: dict[str, str]) -> Path:
    path = root / "platform"
    for rel, content in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(content)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "apps")
    return path


def make_config(root: Path, repo: Path, clusters: int) -> tuple[Fleet, ApplicationSet]:
    docs = [f"apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {{name: platform}}\n"
            f"spec: {{url: 'file://{repo}', allowLocal: true}}\n"]
    docs += [cluster_doc(i) for i in range(clusters)]
    docs.append(APPSET % {"include": INCLUDE, "exclude": EXCLUDE})
    path = root / "config.yaml"
    path.write_text("---\n".join(docs))
    config = load_config(path)
    return to_fleet(config), config.application_sets["platform"]


def ours(appset: ApplicationSet, fleet: Fleet, tree: GitTree) -> list[str]:
    """Generate and render every application; their names (the run fails on any error)."""
    generation = generate(appset, Inputs(fleet, tree))
    rendered = render_applications(appset, generation, fleet)
    bad = [r for r in rendered if not isinstance(r, Generated)] + list(generation.errors)
    if bad or not generation.complete:
        raise SystemExit(f"generation failed: {(bad + list(generation.failures))[:3]}")
    return [r.application.name for r in rendered if isinstance(r, Generated)]


def timed(fn: Callable[[], list[str]]) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def peer(root: Path, fleet: Fleet, files: list[str], rounds: int) -> tuple[float, float, list[str]] | str:
    """(cold, best, names) of the Go peer, or why it did not run."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        return "go is not installed: peer skipped"
    binary = root / "appsetgen"
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    built = subprocess.run([go, "build", "-o", str(binary), "."], cwd=PEER, env=env, capture_output=True,
                           text=True)
    if built.returncode != 0:
        return f"go build failed: peer skipped\n{built.stderr[-2000:]}"
    data = {
        "clusters": [{"name": c.name, "server": c.server or "", "labels": dict(c.labels),
                      "annotations": dict(c.annotations)} for c in fleet.clusters.values()],
        "selector": {"key": "env", "values": ["prod", "staging"]},
        "files": files, "include": INCLUDE, "exclude": EXCLUDE,
        "repositories": sorted(fleet.repositories), "template": GO_TEMPLATE, "rounds": rounds,
    }
    (root / "peer.json").write_text(json.dumps(data))
    done = subprocess.run([str(binary), str(root / "peer.json")], capture_output=True, text=True)
    if done.returncode != 0:
        return f"peer failed: {done.stderr[-2000:]}"
    result = json.loads(done.stdout)
    return float(result["cold"]), float(result["best"]), list(result["names"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--directories", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = repo_files(args.directories)
        repo = make_repo(root, files)
        fleet, appset = make_config(root, repo, args.clusters)
        fake = FakeGitTree({"platform": {None: files}})

        cold_fake, names = timed(lambda: ours(appset, fleet, fake))
        fake_runs = [timed(lambda: ours(appset, fleet, fake)) for _ in range(args.rounds)]
        best_fake = min(t for t, _ in fake_runs)

        source = GitSource(root / "cache")
        def real() -> list[str]:
            return ours(appset, fleet, SnapshotTree(source, fleet.repositories.values()))
        cold_git, names_git = timed(real)
        git_runs = [timed(real) for _ in range(args.rounds)]
        best_git = min(t for t, _ in git_runs)
        if any(n != names for _, n in fake_runs + git_runs) or names_git != names:
            print("MISMATCH: runs of ours generated different applications")
            return 1

        listed = sorted(files)
        chosen = sorted({p.rsplit("/", 1)[0] for p in listed if "/" in p})
        expected = len([d for d in chosen if glob_match(d, INCLUDE) and not glob_match(d, EXCLUDE)])
        peer_result = peer(root, fleet, listed, args.rounds)

    n = len(names)
    print(f"ApplicationSet: matrix of {args.clusters} clusters x {expected} git directories "
          f"= {n} applications")
    print("ours (generate + render_applications, Jinja sandbox, pydantic validation):")
    print(f"  FakeGitTree,  cold (first run): {cold_fake:7.3f} s  ({n / cold_fake:8.0f} apps/s)")
    print(f"  FakeGitTree,  best of {args.rounds}:       {best_fake:7.3f} s  ({n / best_fake:8.0f} apps/s)")
    print(f"  SnapshotTree, cold (empty Git cache: fetch + snapshot): {cold_git:7.3f} s  "
          f"({n / cold_git:8.0f} apps/s)")
    print(f"  SnapshotTree, best of {args.rounds} (snapshot built): {best_git:7.3f} s  "
          f"({n / best_git:8.0f} apps/s)")
    limit = GOAL_SECONDS * n / GOAL_APPS
    verdict = "met" if best_git <= limit and cold_git <= limit else "NOT met"
    scaled = "" if n == GOAL_APPS else f" (scaled to {n}: {GOAL_SECONDS * n / GOAL_APPS:.2f} s)"
    print(f"  goal: {GOAL_APPS} applications <= {GOAL_SECONDS:.0f} s{scaled}: {verdict} "
          "(real Git, cold and best)")
    if isinstance(peer_result, str):
        print(peer_result)
        return 0
    cold_peer, best_peer, peer_names = peer_result
    print("peer (Go: text/template + sigs.k8s.io/yaml strict decode, Argo CD's goTemplate approach):")
    print(f"  cold (first run):  {cold_peer:7.3f} s  ({n / cold_peer:8.0f} apps/s)")
    print(f"  best of {args.rounds}:         {best_peer:7.3f} s  ({n / best_peer:8.0f} apps/s)")
    print(f"ratio ours/peer, best of {args.rounds}: FakeGitTree {best_fake / best_peer:5.1f}x, "
          f"SnapshotTree {best_git / best_peer:5.1f}x; cold: {cold_fake / cold_peer:5.1f}x")
    if peer_names != names:
        print(f"MISMATCH with the peer: {len(set(names) ^ set(peer_names))} names differ "
              f"(ours {len(names)}, peer {len(peer_names)})")
        return 1
    print(f"outputs agree: the same {n} application names, in the same order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
