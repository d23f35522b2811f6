"""Benchmark: the pure-Python kustomize renderer against ``kubectl kustomize``.

Run from the repository root:  python bench/bench_kustomize.py [--overlays 100] [--resources 50]

Generates, in a temp dir, one base of N resources and M cluster overlays (namePrefix, labels, images,
a strategic merge patch, a configMapGenerator), then measures in the same run:
  1. fan-out: all M overlays rendered as the engine renders them (``renderers.api.render``: in a
     budgeted worker process from the warm pool) vs ``kubectl kustomize`` run M times;
  2. one overlay (cold caches, and warm) the same way vs one ``kubectl kustomize`` process;
and prints the ratios, plus the same figures for ``renderers.kustomize.build`` called directly in
this process (no budget, no worker: what the isolation costs). Outputs are checked equal to
kubectl's (parsed) for a sample of overlays.

Second peer, in the same run: the Kustomize Go library in one process, as Flux's kustomize-controller
runs it (``tools/go/kustomize-peer``: sigs.k8s.io/kustomize/api v0.18.0, the library of kubectl's
Kustomize v5.5.0; ``krusty.MakeKustomizer`` over ``filesys.MakeFsOnDisk``, a new Kustomizer per
build), built by ``scripts/build-go-tools kustomize-peer`` (skipped with a message when Go is absent).
It renders the same M overlays one after the other in one process, after one untimed warm-up render
(its one-time costs, as our warm worker has paid its own), timing build + YAML serialisation inside the
process. Its output is checked equal (parsed) to ours for every overlay, and equal byte for byte to
kubectl's for the sample. ``--no-go-peer`` skips it. As the Go library reads and parses the base again
for every overlay, ours is also timed with its caches cleared before each overlay (``build()`` in
this process), to show what the base cache accounts for.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops.render.manifests import without_internal
from renderers import isolation
from renderers.api import RenderRequest, render
from renderers.kustomize import build, clear_caches


def _deployment(i: int) -> dict[str, object]:
    meta = {"name": f"app{i}", "labels": {"app": f"app{i}"}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": f"app{i}"}},
                     "template": {"metadata": {"labels": {"app": f"app{i}"}}, "spec": {
                         "serviceAccountName": "runner",
                         "containers": [{"name": "main", "image": f"registry.local/app{i}:1.0",
                                         "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                         "envFrom": [{"configMapRef": {"name": "cluster-settings"}}],
                                         "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}],
                         "volumes": [{"name": "config", "configMap": {"name": f"conf{i % 10}"}}]}}}}


def _resource(i: int) -> dict[str, object]:
    kind = i % 5
    if kind in (0, 1):
        return _deployment(i)
    if kind == 2:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc{i}"},
                "spec": {"selector": {"app": f"app{i - 2}"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    if kind == 3:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"conf{i // 5}"},
                "data": {"key": f"value{i}", "mode": "standard"}}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": f"rb{i}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "runner"}]}


def generate(root: Path, resources: int, overlays: int) -> list[Path]:
    base = root / "base"
    base.mkdir(parents=True)
    files = []
    for i in range(resources - 1):
        name = f"r{i:03d}.yaml"
        (base / name).write_text(yaml.safe_dump(_resource(i)))
        files.append(name)
    (base / "sa.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": "runner"}}))
    files.append("sa.yaml")
    (base / "kustomization.yaml").write_text(yaml.safe_dump({"resources": files}))
    dirs = []
    for c in range(overlays):
        d = root / "clusters" / f"c{c:03d}"
        d.mkdir(parents=True)
        (d / "patch.yaml").write_text(yaml.safe_dump(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app0"},
             "spec": {"replicas": 2 + c % 3, "template": {"spec": {"containers": [
                 {"name": "main", "env": [{"name": "CLUSTER", "value": f"c{c}"}]}]}}}}))
        (d / "kustomization.yaml").write_text(yaml.safe_dump({
            "resources": ["../../base"], "namePrefix": f"c{c:03d}-",
            "labels": [{"pairs": {"cluster": f"c{c:03d}"}, "includeSelectors": False}],
            "images": [{"name": "registry.local/app0", "newTag": f"1.{c}"}],
            "patches": [{"path": "patch.yaml"}],
            "configMapGenerator": [{"name": "cluster-settings",
                                    "literals": [f"CLUSTER=c{c:03d}", "REGION=eu"]}]}))
        dirs.append(d)
    return dirs


def kubectl(d: Path) -> str:
    return subprocess.run(["kubectl", "kustomize", str(d)], check=True, capture_output=True, text=True).stdout


def engine_render(root: Path, d: Path) -> list[dict[str, object]]:
    return render(RenderRequest(root=root, path=d.relative_to(root).as_posix(), renderer="kustomize"))


def as_applied(objects: list[dict[str, object]]) -> list[dict[str, object]]:
    """An engine render as the engine uses it: without the location annotations
    (``internal.config.kubernetes.io/``) its Kustomize renders keep for messages, never applied."""
    return [without_internal(o) for o in objects]


def one_cold_worker(root: Path, d: Path) -> float:
    """Seconds for one render by a freshly started worker (its caches empty; the process start and
    imports excluded, as a long-running engine starts its workers ahead)."""
    isolation.POOL.shutdown()
    isolation.warm(1)
    isolation.POOL.idle[0].wait_ready()
    t = time.perf_counter()
    engine_render(root, d)
    return time.perf_counter() - t


def one_cold(d: Path) -> float:
    """Seconds for one build in a fresh interpreter with empty caches (imports excluded)."""
    repo = str(Path(__file__).resolve().parents[1])
    code = (f"import sys,time; sys.path.insert(0, {repo!r}); from renderers.kustomize import build; "
            f"t=time.perf_counter(); build({str(d)!r}); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip())


def go_peer() -> Path | str:
    """The kustomize-peer binary (built if needed), or why there is none."""
    try:
        script = Path(__file__).resolve().parents[1] / "scripts" / "build-go-tools"
        proc = subprocess.run(["bash", str(script), "kustomize-peer"], capture_output=True, text=True,
                              check=False)
    except OSError as exc:
        return f"Go peer skipped: {exc}"
    if proc.returncode != 0:
        return f"Go peer skipped: scripts/build-go-tools kustomize-peer: {proc.stderr.strip()[-500:]}"
    return Path(proc.stdout.split()[-1]) / "kustomize-peer"


def go_bench(binary: Path, out: Path, dirs: list[Path], *, warmup: bool) -> dict[str, float]:
    """``kustomize-peer bench``: its JSON (seconds in the process) plus ``wall``, the process's wall time."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([str(binary), "bench", *(["-warmup"] if warmup else []), str(out), *map(str, dirs)],
                          check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return {**json.loads(proc.stdout), "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overlays", type=int, default=100)
    ap.add_argument("--resources", type=int, default=50)
    ap.add_argument("--no-go-peer", action="store_true", help="skip the Kustomize Go library peer")
    args = ap.parse_args()
    if shutil.which("kubectl") is None:
        print("kubectl not on PATH: nothing to compare with")
        return 2
    peer = "Go peer skipped (--no-go-peer)" if args.no_go_peer else go_peer()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dirs = generate(root, args.resources, args.overlays)
        t0 = time.perf_counter()
        reference = [kubectl(d) for d in dirs]
        t_kubectl = time.perf_counter() - t0
        isolation.warm(1)
        isolation.POOL.idle[0].wait_ready()  # a long-running engine has its worker started already
        t0 = time.perf_counter()
        ours = [engine_render(root, d) for d in dirs]
        t_ours = time.perf_counter() - t0
        clear_caches()
        t0 = time.perf_counter()
        direct = [build(d) for d in dirs]
        t_direct = time.perf_counter() - t0
        for i in range(0, len(dirs), max(1, len(dirs) // 10)):
            expected = [x for x in yaml.safe_load_all(reference[i]) if x is not None]
            if expected != as_applied(ours[i]) or expected != direct[i]:
                print(f"MISMATCH with kubectl for overlay {i}")
                return 1
        go: dict[str, float] | None = None
        go_cold = go_warm = t_nocache = 0.0
        if isinstance(peer, Path):
            go = go_bench(peer, root / "go-out", dirs, warmup=True)
            for i in range(len(dirs)):
                text = (root / "go-out" / f"{i}.yaml").read_text()
                if [x for x in yaml.safe_load_all(text) if x is not None] != as_applied(ours[i]):
                    print(f"MISMATCH between the Go library and ours for overlay {i}")
                    return 1
                if i % max(1, len(dirs) // 10) == 0 and text != reference[i]:
                    print(f"MISMATCH between the Go library and kubectl kustomize (text) for overlay {i}")
                    return 1
            go_cold = min(go_bench(peer, root / "go-cold", dirs[:1], warmup=False)["first_seconds"]
                          for _ in range(3))
            go_warm = go_bench(peer, root / "go-warm", dirs[:1] * 3, warmup=True)["min_seconds"]
            t_nocache = 0.0  # ours without its caches, as the Go library works: every base parsed again
            for d in dirs:
                clear_caches()
                t_nocache += _timed(lambda: build(d))  # noqa: B023 (called at once)
        t_warm = min(_timed(lambda: engine_render(root, dirs[0])) for _ in range(3))
        t_warm_direct = min(_timed(lambda: build(dirs[0])) for _ in range(3))
        t_cold = min(one_cold_worker(root, dirs[0]) for _ in range(3))
        t_cold_direct = min(one_cold(dirs[0]) for _ in range(3))
        t_one_kubectl = min(_timed(lambda: kubectl(dirs[0])) for _ in range(3))
    n = len(dirs)
    print(f"fan-out: {n} overlays x {args.resources} resources")
    print(f"  kubectl kustomize x{n}:        {t_kubectl:8.3f} s  ({t_kubectl / n * 1000:6.1f} ms each)")
    print(f"  render (budgeted worker) x{n}: {t_ours:8.3f} s  ({t_ours / n * 1000:6.1f} ms each)")
    print(f"  speed-up: {t_kubectl / t_ours:6.1f}x   (goal >= 20x)")
    print(f"  build() in this process x{n}:  {t_direct:8.3f} s  ({t_direct / n * 1000:6.1f} ms each, "
          f"{t_kubectl / t_direct:.1f}x)")
    if go is None:
        print(f"  {peer}")
    else:
        t_go = go["seconds"]
        print(f"  Kustomize Go library in one process x{n} (warmed up; the process: {go['wall']:.2f} s):")
        print(f"{'':33}{t_go:8.3f} s  ({t_go / n * 1000:6.1f} ms each); outputs equal to ours for all {n}")
        print(f"  Go library time / ours: {t_go / t_ours:5.2f} (render, budgeted worker), "
              f"{t_go / t_direct:5.2f} (build() in this process)   (goal: > 1, ours faster)")
        print(f"  build() in this process, caches cleared before each overlay (no base reuse): "
              f"{t_nocache:.3f} s ({t_nocache / n * 1000:.1f} ms each; "
              f"Go library / this: {t_go / t_nocache:.2f})")
    print("one overlay:")
    print(f"  kubectl kustomize process:        {t_one_kubectl * 1000:7.1f} ms")
    print(f"  render, fresh worker (cold):      {t_cold * 1000:7.1f} ms  "
          f"({t_cold / t_one_kubectl:5.2f} of kubectl, goal <= 0.10)")
    print(f"  render, warm worker:              {t_warm * 1000:7.1f} ms  "
          f"({t_warm / t_one_kubectl:5.2f} of kubectl)")
    print(f"  build() in a fresh interpreter:   {t_cold_direct * 1000:7.1f} ms  "
          f"({t_cold_direct / t_one_kubectl:5.2f} of kubectl)")
    print(f"  build() in this process, warm:    {t_warm_direct * 1000:7.1f} ms  "
          f"({t_warm_direct / t_one_kubectl:5.2f} of kubectl)")
    if go is not None:
        print(f"  Go library, fresh process (cold): {go_cold * 1000:7.1f} ms  "
              f"(Go / ours, fresh worker: {go_cold / t_cold:5.2f})")
        print(f"  Go library in-process, warm:      {go_warm * 1000:7.1f} ms  "
              f"(Go / ours, warm worker: {go_warm / t_warm:5.2f})")
    return 0


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
