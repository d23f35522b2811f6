"""The engine's use of hooks on the in-memory FakeCluster with a ManualClock: hooks' images go through
verification (refused, or pinned to their digests), and a hook never reaches the plan or the inventory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops import keys, prune
from gitops.clock import ManualClock
from gitops.config import load_config, to_fleet
from gitops.engine import Ports, ReconcileRequest, delete, reconcile
from gitops.errors import VerificationFailed
from gitops.testing import FakeCluster, FakeClusters, FakeSource, StaticRenderer
from gitops.verify import Verification
from gitops.vocabulary import Action, ObjectRef, Target
from renderers.manifest import Manifest

CONFIG = """
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: repo}
spec: {url: "https://127.0.0.1/repo.git"}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {server: "https://127.0.0.1:6443"}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: app}
spec:
  source: {repository: repo, path: app}
  destination: {cluster: c1, namespace: demo}
  syncPolicy: {automated: true, prune: true}
"""
DIGEST = "sha256:" + "a" * 64


def request(tmp_path: Path, **kw: Any) -> ReconcileRequest:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return ReconcileRequest(*to_fleet(load_config(path)).lookup("app", "c1"), **kw)


def job(name: str, image: str, phase: str = "PreSync") -> dict[str, Any]:
    meta = {"name": name, "annotations": {keys.HOOK: phase}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


@dataclass
class PinningVerifier:
    """Refuses images containing ``evil``; pins the others to DIGEST (every container of every object)."""

    seen: int = 0

    def verify(self, manifests: list[Manifest], target: Target) -> Verification | None:
        self.seen = len(manifests)
        images = [c["image"] for m in manifests if m["kind"] == "Job"
                  for c in m["spec"]["template"]["spec"]["containers"]]
        if any("evil" in i for i in images):
            return Verification(len(images), failure=VerificationFailed("image evil:1 refused by the policy"))
        pinned = [{**m, "spec": {"template": {"spec": {"containers": [
            {**c, "image": f"{c['image']}@{DIGEST}"} for c in m["spec"]["template"]["spec"]["containers"]]}}}}
            if m["kind"] == "Job" else m for m in manifests]
        return Verification(len(images), manifests=pinned)


def completing(cluster: FakeCluster) -> FakeCluster:
    def on_apply(obj: dict[str, Any]) -> None:
        if obj["kind"] == "Job":
            obj["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    cluster.on_apply = on_apply
    return cluster


def ports(cluster: FakeCluster, manifests: list[dict[str, Any]], verifier: PinningVerifier) -> Ports:
    return Ports(FakeSource(), StaticRenderer(manifests), FakeClusters({"c1": cluster}), verifier,
                 ManualClock())


def test_a_hook_image_the_policy_refuses_stops_everything(tmp_path: Path) -> None:
    cluster, verifier = completing(FakeCluster("c1")), PinningVerifier()
    manifests = [cm("a"), job("pre", "evil:1")]
    result = reconcile(request(tmp_path, sync=True), ports(cluster, manifests, verifier))
    assert verifier.seen == 2
    assert result.failure is not None and result.failure.kind == "VerificationFailed"
    assert cluster.writes() == 0


def test_hooks_run_with_their_pinned_images_and_stay_out_of_plan_and_inventory(tmp_path: Path) -> None:
    cluster, verifier = completing(FakeCluster("c1")), PinningVerifier()
    result = reconcile(request(tmp_path, sync=True),
                       ports(cluster, [cm("a"), job("pre", "migrate:1"), job("post", "smoke:1", "PostSync")],
                             verifier))
    assert result.failure is None
    live = cluster.get(ObjectRef("batch", "Job", "demo", "pre", "v1"))
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"migrate:1@{DIGEST}"
    assert [r.name for r in prune.read_inventory(cluster, Target("app", "c1")) or []] == ["a"]
    assert result.diff.count("kind: Job") == 0  # the plan's diff covers regular objects only
    assert [(o.ref.name, o.action) for o in result.objects] == [
        ("pre", Action.CREATED), ("a", Action.CREATED), ("post", Action.CREATED)]
    assert "name: pre" in result.rendered  # the rendered manifests kept in history include the hooks


def test_a_deletion_verifies_its_hooks_images_and_only_those(tmp_path: Path) -> None:
    """PreDelete/PostDelete hooks run images, so the policy checks them (an unsigned one stops the
    deletion before anything is deleted); the objects being deleted are not checked: an application
    whose images the policy would refuse can still be deleted."""
    cluster, verifier = completing(FakeCluster("c1")), PinningVerifier()
    assert reconcile(request(tmp_path, sync=True), ports(cluster, [cm("a")], verifier)).failure is None
    writes = cluster.writes()
    a = ObjectRef("", "ConfigMap", "demo", "a", "v1")
    refused = delete(request(tmp_path), ports(cluster, [cm("a"), job("drain", "evil:1", "PreDelete")],
                                              verifier))
    assert verifier.seen == 1  # the hook alone
    assert refused.failure is not None and refused.failure.kind == "VerificationFailed"
    assert cluster.writes() == writes and cluster.get(a) is not None
    done = delete(request(tmp_path), ports(cluster, [cm("a"), job("drain", "drain:1", "PreDelete")],
                                           verifier))
    assert done.failure is None, done.failure
    live = cluster.get(ObjectRef("batch", "Job", "demo", "drain", "v1"))
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"drain:1@{DIGEST}"
    assert cluster.get(a) is None
