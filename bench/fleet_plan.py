"""Benchmark: ``gitops plan --offline`` for 1,000 (application, cluster) pairs, against what a pull-request
job does without it (``kubectl kustomize`` of every pair at both revisions plus a textual diff).

Run from the repository root:  python bench/fleet_plan.py [--clusters 10] [--directories 100] [--sample 50]

Builds, in a temp dir, a real Git repository with one shared Kustomize base (a Deployment, a Service, a
ConfigMap and a Secret) and D overlays under ``apps/`` (each its own name prefix, namespace, replica
count and a ConfigMap patch), and a configuration of C clusters and one ApplicationSet whose generator is
a matrix of ``clusters`` x ``git directories apps/*``: C x D pairs. A branch ``feature`` changes the shared
base (the Deployment's image and a ConfigMap value), so every pair changes. Then, in the same run:

  1. ours: ``gitops plan -c CONFIG --revision feature --offline -o json`` called in-process
     (``gitops.cli.main``), cold (empty Git cache: fetch, snapshots, render workers started) and warm (the
     Git cache kept, a new plan, so every render runs again); the output is checked (C x D pairs changed);
  2. the peer: for a sample of S pairs, ``kubectl kustomize`` of the pair's overlay in a checkout of
     ``main`` and one of ``feature`` and ``diff -u`` of the two outputs, one pair after the other as a CI
     script would; the per-pair time is extrapolated to every pair (said so in the output).

Prints wall time, pairs per second, the ratio peer/ours and the goal (<= 10 s for 1,000 pairs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops.cli import main

GOAL_SECONDS = 10.0
GOAL_PAIRS = 1_000
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, labels: {{app: web}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: registry.example/web:{tag}
          ports: [{{containerPort: 8080}}]
          env: [{{name: MODE, value: {mode}}}]
          resources: {{requests: {{cpu: 100m, memory: 128Mi}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{mode: {mode}, color: blue}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{password: not-a-real-secret}}
"""

OVERLAY = """\
namespace: {name}
namePrefix: {name}-
resources: [../../bases/web]
patches:
  - target: {{kind: Deployment, name: web}}
    patch: |
      - op: replace
        path: /spec/replicas
        value: {replicas}
  - target: {{kind: ConfigMap, name: settings}}
    patch: |
      - op: add
        path: /data/owner
        value: team-{team}
"""

CONFIG_HEAD = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: infra}}
spec: {{url: "file://{repo}", allowLocal: true}}
"""

CLUSTER = """\
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}, labels: {{env: {env}}}}}
spec: {{server: "https://{name}.example:6443"}}
"""

APPSET = """\
---
apiVersion: gitops.dev/v1alpha1
kind: ApplicationSet
metadata: {name: apps}
spec:
  generators:
    - matrix:
        generators:
          - clusters: {}
          - git: {repository: infra, directories: [{path: "apps/*"}]}
  template:
    metadata: {name: "{{ path.basename }}-{{ name }}"}
    spec:
      source: {repository: infra, path: "{{ path }}", renderer: kustomize}
      destination: {cluster: "{{ name }}", namespace: "{{ path.basename }}"}
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=b@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True,
                          text=True)
    return done.stdout.strip()


def build(root: Path, clusters: int, directories: int) -> tuple[Path, Path, list[str]]:
    repo = root / "infra"
    (repo / "bases" / "web").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "bases" / "web" / "kustomization.yaml").write_text("resources: [all.yaml]\n")
    (repo / "bases" / "web" / "all.yaml").write_text(BASE.format(tag="1.0.0", mode="steady"))
    names = [f"svc{i:03d}" for i in range(directories)]
    for i, name in enumerate(names):
        (repo / "apps" / name).mkdir(parents=True)
        (repo / "apps" / name / "kustomization.yaml").write_text(
            OVERLAY.format(name=name, replicas=1 + i % 5, team=i % 7))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "bases" / "web" / "all.yaml").write_text(BASE.format(tag="1.1.0", mode="canary"))
    git(repo, "commit", "-q", "-am", "web 1.1.0, canary mode")
    git(repo, "checkout", "-q", "main")
    config = root / "config.yaml"
    config.write_text(CONFIG_HEAD.format(repo=repo)
                      + "".join(CLUSTER.format(name=f"c{i:02d}", env="prod" if i % 2 else "dev")
                                for i in range(clusters)) + APPSET)
    return repo, config, names


def ours(config: Path, cache: Path) -> tuple[float, dict[str, object], int]:
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["plan", "-c", str(config), "--revision", "feature", "--offline", "-o", "json",
                     "--cache-dir", str(cache)])
    elapsed = time.perf_counter() - start
    return elapsed, json.loads(out.getvalue()), code


def peer(repo: Path, root: Path, names: list[str], clusters: int, sample: int) -> tuple[float, int]:
    """Seconds per pair of the kubectl peer (kustomize at both revisions + diff -u), over ``sample`` pairs."""
    trees = {}
    for rev in ("main", "feature"):
        trees[rev] = root / f"checkout-{rev}"
        git(repo, "worktree", "add", "-q", "--detach", str(trees[rev]), rev)
    pairs = [(name, c) for name in names for c in range(clusters)]
    chosen = random.Random(7).sample(pairs, min(sample, len(pairs)))
    start = time.perf_counter()
    for name, _cluster in chosen:
        outputs = []
        for rev in ("main", "feature"):
            done = subprocess.run([KUBECTL, "kustomize", str(trees[rev] / "apps" / name)], check=True,
                                  capture_output=True)
            path = root / f"peer-{rev}.yaml"
            path.write_bytes(done.stdout)
            outputs.append(path)
        subprocess.run(["diff", "-u", *map(str, outputs)], capture_output=True)  # exit 1: differences
    return (time.perf_counter() - start) / len(chosen), len(chosen)


def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--directories", type=int, default=100)
    parser.add_argument("--sample", type=int, default=50, help="pairs the kubectl peer runs (extrapolated)")
    args = parser.parse_args()
    total = args.clusters * args.directories
    with tempfile.TemporaryDirectory(prefix="bench-fleet-plan-") as tmp:
        root = Path(tmp)
        repo, config, names = build(root, args.clusters, args.directories)
        cache = root / "cache"
        cold, doc, code = ours(config, cache)
        summary = doc["summary"]
        assert isinstance(summary, dict)
        if code != 1 or summary["change"] != total or summary["error"]:
            print(f"unexpected plan: exit {code}, summary {summary}", file=sys.stderr)
            return 2
        warm, doc, code = ours(config, cache)
        print(f"pairs: {total} ({args.clusters} clusters x {args.directories} directories), every one "
              f"changed; renders run: {doc['renders']} (one per overlay and side, shared by the clusters)")
        print(f"ours  gitops plan --offline, cold (empty Git cache, render workers started): {cold:.2f} s "
              f"({total / cold:.0f} pairs/s)")
        print(f"ours  gitops plan --offline, warm (Git cache kept, every render again):      {warm:.2f} s "
              f"({total / warm:.0f} pairs/s)")
        if not Path(KUBECTL).exists():
            print("peer: kubectl not found, skipped")
            return 0
        per_pair, sampled = peer(repo, root, names, args.clusters, args.sample)
        projected = per_pair * total
        print(f"peer  kubectl kustomize x2 + diff -u per pair: {per_pair * 1000:.0f} ms per pair over "
              f"{sampled} sampled pairs, extrapolated to {total} pairs: {projected:.1f} s "
              f"({1 / per_pair:.1f} pairs/s)")
        print(f"ratio peer/ours: {projected / cold:.1f}x cold, {projected / warm:.1f}x warm")
        smart = per_pair * args.directories
        print(f"peer, had it rendered each directory once instead of each pair: {smart:.1f} s "
              f"(ratio {smart / cold:.1f}x cold, {smart / warm:.1f}x warm)")
        print(f"goal: {GOAL_PAIRS} pairs <= {GOAL_SECONDS:.0f} s offline: "
              f"{'met' if cold <= GOAL_SECONDS * total / GOAL_PAIRS else 'NOT met'} (cold {cold:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
