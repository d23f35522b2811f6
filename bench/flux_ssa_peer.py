"""Benchmark: our sync against Flux's server-side apply library, on a real API server, in the same run.

Run from the repository root:  python bench/flux_ssa_peer.py [--sizes 50 200] [--rounds 3]

Starts the real control plane (``gitops.testing.controlplane``: etcd, kube-apiserver,
controller-manager, scheduler and kwok v1.36, built by ``scripts/build-go-tools kube etcd kwok``), and
for each application size (ConfigMaps, Deployments and Services in equal parts) and round:

- ours: ``gitops.engine.reconcile`` (a manual sync, prune on) through the real HTTP Cluster
  implementation (``gitops.cluster.rest.KubeCluster``, ``qps`` 10,000 as in bench/bench_sync.py; Git and
  rendering faked, so only the cluster engine is measured) into a fresh namespace: the first sync, then,
  once the cluster has settled (every Deployment rolled out: kwok runs the Pods), a no-op reconcile of
  the unchanged application;
- the peer: ``tools/go/flux-ssa-peer`` (``github.com/fluxcd/pkg/ssa`` v0.77.0 configured as Flux's
  kustomize-controller configures it: ``ApplyAllStaged``, concurrency 4, its field manager, owner
  labels, selectors and clean-up options; client-side rate limit lifted to the same 10,000 QPS) on the
  same objects in another fresh namespace: the first apply, then, once settled, the same apply again
  (a no-op), then ``Diff`` of every object (what ``flux diff kustomization`` does).

Requests are counted the same way on both sides, at the HTTP client: for ours a wrapper of the
``kubernetes`` client's ``RESTClientObject.request`` (urllib3 retries are off, so one call is one HTTP
request; our own retries are counted), for Flux a ``RoundTripper`` around client-go's transport. The
namespaces are created with the admin client, not counted. Times are wall times of the phase inside the
process (our reconcile includes rendering the static manifests and their validation; Flux's excludes
its build and status patches), and the client's CPU (user + system of its process during the phase) is
printed too, a figure the machine's load moves less; the peer's discovery (REST mappings, which a
running controller has cached) is measured apart and kept out. The order alternates per round;
medians over the rounds are reported with the ratios (ours / Flux). Each round's namespaces are deleted
before the next (the control plane's Service range is a /24).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

from gitops.cluster.rest import ClusterSettings, KubeCluster  # noqa: E402
from gitops.domain import Application, AppSource, Cluster, Destination, Repository, SyncPolicy  # noqa: E402
from gitops.engine import Ports, ReconcileRequest, reconcile  # noqa: E402
from gitops.testing import FakeClusters, FakeSource, StaticRenderer  # noqa: E402
from gitops.testing.controlplane import Binaries, ControlPlane, ControlPlaneError  # noqa: E402

WRITES = ("POST", "PUT", "PATCH", "DELETE")
Rows = list[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]]  # size, our rounds, Flux's rounds


def manifests(count: int) -> list[dict[str, Any]]:
    """An application of ``count`` objects: ConfigMaps, Deployments and Services in turn."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = ("ConfigMap", "Deployment", "Service")[i % 3]
        name = f"obj-{i}"
        if kind == "ConfigMap":
            out.append({"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
                        "data": {"k": str(i), "mode": "standard"}})
        elif kind == "Service":
            out.append({"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
                        "spec": {"selector": {"app": f"obj-{i - 1}"},
                                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        else:
            out.append({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": {
                "replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                                      "ports": [{"containerPort": 8080}]}]}}}})
    return out


class Counting:
    """Counts the HTTP requests of one ``kubernetes`` ApiClient by wrapping its REST client's
    ``request`` (every verb method of ``RESTClientObject`` goes through it; one call, one request)."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.by: Counter[str] = Counter()
        self._lock = threading.Lock()
        rest = api.rest_client
        inner = rest.request

        def request(method: str, url: str, query_params: Any = None, *args: Any, **kwargs: Any) -> Any:
            dry = "dryRun=" in url or any(k == "dryRun" for k, _ in (query_params or []))
            with self._lock:
                self.by[f"{method} dry-run" if dry else method] += 1
            return inner(method, url, query_params, *args, **kwargs)

        rest.request = request

    def reset(self) -> dict[str, int]:
        with self._lock:
            out, self.by = dict(self.by), Counter()
        return out


def total(by: dict[str, int]) -> int:
    return sum(by.values())


def writes(by: dict[str, int]) -> int:
    return sum(n for k, n in by.items() if k in WRITES)


def create_namespace(admin: httpx.Client, name: str) -> None:
    r = admin.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": name}})
    r.raise_for_status()


def add_nodes(admin: httpx.Client, pods: int) -> None:
    """Simulated Nodes (kwok manages those annotated ``kwok.x-k8s.io/node: fake``, as the control plane's
    own) until they can run ``pods`` Pods (110 per Node, counting the first), so every rollout can
    complete."""
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    names = [f"kwok-bench-{i}" for i in range(max(0, -(-pods // 100) - 1))]
    for name in names:
        admin.post("/api/v1/nodes", json={
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok"}},
            "spec": {}, "status": {"allocatable": capacity, "capacity": capacity}}).raise_for_status()
    deadline = time.monotonic() + 60
    for name in names:
        while not any(c.get("type") == "Ready" and c.get("status") == "True" for c in
                      admin.get(f"/api/v1/nodes/{name}").json().get("status", {}).get("conditions", [])):
            if time.monotonic() > deadline:
                raise SystemExit(f"node {name} not Ready after 60 s")
            time.sleep(0.2)


def settle(admin: httpx.Client, namespace: str, deployments: int, timeout: float = 90.0) -> float:
    """Wait until the controllers are done with the Deployments of ``namespace`` (rolled out: kwok runs
    the Pods; or, when a Pod cannot become Ready, every ReplicaSet created and no Deployment written for
    2 s), so the next phase does not share the machine with their work; returns the seconds waited."""
    started = time.perf_counter()
    last: tuple[int, ...] = ()
    quiet_since = started
    while True:
        items = admin.get(f"/apis/apps/v1/namespaces/{namespace}/deployments").json().get("items", [])
        now = time.perf_counter()
        versions = tuple(sorted(int(d["metadata"]["resourceVersion"]) for d in items))
        if versions != last:
            last, quiet_since = versions, now
        status = [(d.get("status", {}), d["metadata"]["generation"], d["spec"].get("replicas", 1))
                  for d in items]
        updated = len(items) == deployments and all(
            s.get("observedGeneration") == g and s.get("updatedReplicas") == n for s, g, n in status)
        available = updated and all(s.get("availableReplicas") == n for s, _, n in status)
        if available or (updated and now - quiet_since >= 2.0):
            time.sleep(0.5)  # the last status writes and events
            return time.perf_counter() - started
        if now - started > timeout:
            pods = admin.get(f"/api/v1/namespaces/{namespace}/pods").json().get("items", [])
            phases = Counter(p.get("status", {}).get("phase", "?") for p in pods)
            print(f"warning: {namespace}: Deployments not settled after {timeout:.0f} s ({len(items)} of "
                  f"{deployments}, updated: {updated}; Pods {dict(phases)}); going on")
            return time.perf_counter() - started
        time.sleep(0.2)


def delete_namespaces(admin: httpx.Client, names: list[str], timeout: float = 180.0) -> None:
    """Delete a round's namespaces and wait until they are gone (the control plane's Service range is a
    /24: the next round's Services need the addresses back; Pods leave the simulated Nodes too)."""
    for name in names:
        admin.delete(f"/api/v1/namespaces/{name}").raise_for_status()
    deadline = time.monotonic() + timeout
    for name in names:
        while admin.get(f"/api/v1/namespaces/{name}").status_code != 404:
            if time.monotonic() > deadline:
                print(f"warning: namespace {name} still there after {timeout:.0f} s; going on")
                return
            time.sleep(0.5)


def check_present(admin: httpx.Client, namespace: str, objects: list[dict[str, Any]]) -> None:
    paths = {"ConfigMap": "/api/v1/namespaces/{}/configmaps", "Service": "/api/v1/namespaces/{}/services",
             "Deployment": "/apis/apps/v1/namespaces/{}/deployments"}
    for kind, path in paths.items():
        live = {i["metadata"]["name"] for i in admin.get(path.format(namespace)).json()["items"]}
        missing = {o["metadata"]["name"] for o in objects if o["kind"] == kind} - live
        if missing:
            raise SystemExit(f"{namespace}: {kind}s missing after the sync: {sorted(missing)[:5]}")


def ours(plane: ControlPlane, admin: httpx.Client, namespace: str, objects: list[dict[str, Any]],
         deployments: int) -> dict[str, Any]:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=cfg,
                                persist_config=False)
    cfg.retries = 0  # as gitops.cluster.rest builds it
    api = k8s.ApiClient(cfg)
    counting = Counting(api)
    cluster = KubeCluster(ClusterSettings("bench", kubeconfig=str(plane.kubeconfig), qps=10_000), api=api)
    try:
        ports = Ports(FakeSource(), StaticRenderer(objects), FakeClusters({"bench": cluster}))
        application = Application(namespace, AppSource("bench", "app"), Destination("bench", namespace),
                                  SyncPolicy(automated=True, prune=True, prune_max_share=0.5))
        req = ReconcileRequest(application, Repository("bench", "https://127.0.0.1/bench.git"),
                               Cluster("bench"), sync=True)
        out: dict[str, Any] = {}
        for phase in ("first", "noop"):
            if phase == "noop":
                out["settle_s"] = settle(admin, namespace, deployments)
            counting.reset()
            cpu0, started = time.process_time(), time.perf_counter()
            result = reconcile(req, ports)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
            by = counting.reset()
            if result.error:
                raise SystemExit(f"our {phase} sync failed: {result.error}")
            actions = Counter(str(o.action) for o in result.objects)
            spans = {s.name: s.duration for s in result.spans}
            out[phase] = {"seconds": seconds, "cpu_seconds": cpu, "requests": total(by), "by": by,
                          "actions": dict(actions),
                          "plan_apply_s": spans.get("plan", 0.0) + spans.get("apply", 0.0)}
        return out
    finally:
        cluster.close()


def flux(binary: Path, plane: ControlPlane, admin: httpx.Client, namespace: str, objects_file: Path,
         deployments: int, concurrency: int) -> dict[str, Any]:
    proc = subprocess.Popen([str(binary), "-kubeconfig", str(plane.kubeconfig), "-namespace", namespace,
                             "-file", str(objects_file), "-concurrency", str(concurrency), "-pause"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(objects_file.parent)})
    assert proc.stdin is not None and proc.stdout is not None
    out: dict[str, Any] = {}
    try:
        for phase in ("connect", "first", "noop", "diff"):
            if phase in ("noop", "diff"):
                if phase == "noop":
                    out["settle_s"] = settle(admin, namespace, deployments)
                proc.stdin.write("\n")
                proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                proc.wait(timeout=30)
                err = proc.stderr.read() if proc.stderr else ""
                raise SystemExit(f"flux-ssa-peer failed in {phase}: {err}")
            data = json.loads(line)
            data["requests"] = total(data["by"])
            out[data.pop("phase")] = data
        proc.stdin.close()
        if proc.wait(timeout=30) != 0:
            raise SystemExit(f"flux-ssa-peer exited {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out


def build_peer() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build-go-tools"), "flux-ssa-peer"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"scripts/build-go-tools flux-ssa-peer failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.split()[-1]) / "flux-ssa-peer"


def fmt_by(by: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flux-concurrency", type=int, default=4,
                        help="ResourceManager.SetConcurrency (kustomize-controller's --concurrent-ssa: 4)")
    args = parser.parse_args()
    binary = build_peer()
    try:
        binaries = Binaries.build(built_only=True)
    except ControlPlaneError as exc:
        print(f"the control plane is not built (scripts/build-go-tools kube etcd kwok): {exc}")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        plane = ControlPlane(Path(tmp) / "control-plane", binaries).start()
        print(f"control plane ready in {time.perf_counter() - started:.1f} s; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        rows: Rows = []
        try:
            with plane.client() as admin:
                add_nodes(admin, 2 * -(-max(args.sizes) // 3))  # one round's Deployments, one Pod each
                for size in args.sizes:
                    objects = manifests(size)
                    deployments = sum(o["kind"] == "Deployment" for o in objects)
                    objects_file = Path(tmp) / f"objects-{size}.yaml"
                    objects_file.write_text(yaml.safe_dump_all(objects))
                    our_runs, flux_runs = [], []
                    for r in range(args.rounds):
                        ns_ours, ns_flux = f"ours-{size}-{r}", f"flux-{size}-{r}"
                        create_namespace(admin, ns_ours)
                        create_namespace(admin, ns_flux)
                        order = ("ours", "flux") if r % 2 == 0 else ("flux", "ours")
                        for who in order:
                            if who == "ours":
                                our_runs.append(ours(plane, admin, ns_ours, objects, deployments))
                                check_present(admin, ns_ours, objects)
                            else:
                                flux_runs.append(flux(binary, plane, admin, ns_flux, objects_file,
                                                      deployments, args.flux_concurrency))
                                check_present(admin, ns_flux, objects)
                        o, f = our_runs[-1], flux_runs[-1]
                        print(f"{size} objects, round {r + 1} ({' then '.join(order)}): "
                              f"first ours {o['first']['seconds']:.3f} s / {o['first']['requests']} req, "
                              f"flux {f['first']['seconds']:.3f} s / {f['first']['requests']} req; "
                              f"no-op ours {o['noop']['seconds'] * 1000:.0f} ms / "
                              f"{o['noop']['requests']} req, "
                              f"flux {f['noop']['seconds'] * 1000:.0f} ms / {f['noop']['requests']} req; "
                              f"load {os.getloadavg()[0]:.1f}")
                        delete_namespaces(admin, [ns_ours, ns_flux])
                    rows.append((size, our_runs, flux_runs))
        finally:
            plane.stop()
    report(rows, args)
    return 0


def med(runs: list[dict[str, Any]], phase: str, key: str) -> float:
    return float(statistics.median(r[phase][key] for r in runs))


def report(rows: Rows, args: argparse.Namespace) -> None:
    print(f"\nmedians of {args.rounds} rounds; Flux: fluxcd/pkg/ssa v0.77.0, "
          f"concurrency {args.flux_concurrency}")
    print("| objects | engine | first sync | requests (per object) | no-op reconcile | no-op requests "
          "(per object) | no-op writes |")
    print("|---|---|---|---|---|---|---|")
    for size, o, f in rows:
        for name, runs in (("ours", o), ("Flux ssa", f)):
            first_req, noop_req = runs[0]["first"]["requests"], runs[0]["noop"]["requests"]
            print(f"| {size} | {name} | {med(runs, 'first', 'seconds'):.3f} s | {first_req} "
                  f"({first_req / size:.2f}) | {med(runs, 'noop', 'seconds') * 1000:.0f} ms | {noop_req} "
                  f"({noop_req / size:.2f}) | {writes(runs[0]['noop']['by'])} |")
    print("\nclient CPU (user + system of the process during the phase, medians; the API server's excluded):")
    for size, o, f in rows:
        print(f"  {size} objects: first sync ours {med(o, 'first', 'cpu_seconds'):.3f} s, Flux "
              f"{med(f, 'first', 'cpu_seconds'):.3f} s; no-op ours "
              f"{med(o, 'noop', 'cpu_seconds') * 1000:.0f} ms, "
              f"Flux {med(f, 'noop', 'cpu_seconds') * 1000:.0f} ms")
    print("\nratios (ours / Flux; below 1 is better for us):")
    for size, o, f in rows:
        t_first = med(o, "first", "seconds") / med(f, "first", "seconds")
        t_noop = med(o, "noop", "seconds") / med(f, "noop", "seconds")
        r_first = o[0]["first"]["requests"] / f[0]["first"]["requests"]
        r_noop = o[0]["noop"]["requests"] / f[0]["noop"]["requests"]
        print(f"  {size} objects: first sync time {t_first:.2f} (goal <= 1.2: "
              f"{'met' if t_first <= 1.2 else 'MISSED'}), requests {r_first:.2f}; no-op time {t_noop:.2f}, "
              f"requests {r_noop:.3f} (goal < 1: {'met' if r_noop < 1 else 'MISSED'})")
    print("\ndetails (first round):")
    for size, o, f in rows:
        print(f"  {size} objects, ours: first {fmt_by(o[0]['first']['by'])}; "
              f"no-op {fmt_by(o[0]['noop']['by'])}; "
              f"actions {o[0]['first']['actions']} then {o[0]['noop']['actions']}; plan+apply spans "
              f"{med(o, 'first', 'plan_apply_s'):.3f} s / {med(o, 'noop', 'plan_apply_s') * 1000:.0f} ms")
        print(f"  {size} objects, Flux: connect (discovery, excluded) {f[0]['connect']['requests']} req "
              f"{f[0]['connect']['seconds'] * 1000:.0f} ms; first {fmt_by(f[0]['first']['by'])}; "
              f"no-op {fmt_by(f[0]['noop']['by'])}; actions {f[0]['first']['actions']} then "
              f"{f[0]['noop']['actions']}; Diff of every object {med(f, 'diff', 'seconds') * 1000:.0f} ms, "
              f"{f[0]['diff']['requests']} req, {f[0]['diff']['actions']}")
        for name, runs in (("ours", o), ("Flux", f)):
            firsts = ", ".join(f"{r['first']['seconds']:.3f}" for r in runs)
            noops = ", ".join(f"{r['noop']['seconds'] * 1000:.0f}" for r in runs)
            first_req = sorted({r["first"]["requests"] for r in runs})
            noop_req = sorted({r["noop"]["requests"] for r in runs})
            print(f"  {size} objects, {name}, every round: first {firsts} s; no-op {noops} ms; "
                  f"requests {first_req} / {noop_req}")


if __name__ == "__main__":
    sys.exit(main())
