"""The reconcile orchestrator over fake ports: when it writes, what it reports, how it fails."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops import keys, outcome, prune
from gitops.clock import ManualClock
from gitops.config import load_config, to_fleet
from gitops.engine import Ports, ReconcileRequest, reconcile
from gitops.errors import AuthError, ClusterUnavailable, Failure, SourceUnavailable, VerificationFailed
from gitops.testing import FakeCluster, FakeClusters, FakeSource, StaticRenderer
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus, Target, Trigger
from renderers.errors import RenderError

CONFIG = """
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: repo}}
spec: {{url: "https://127.0.0.1/repo.git"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: c1}}
spec: {{server: "https://127.0.0.1:6443"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: app}}
spec:
  source: {{repository: repo, path: app}}
  destination: {{cluster: c1, namespace: demo}}
  syncPolicy: {policy}
  ignoreDifferences: {ignore}
"""


def request(
    tmp_path: Path, policy: str = "{automated: true, prune: true}", ignore: str = "[]", **kw: Any
) -> ReconcileRequest:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(policy=policy, ignore=ignore))
    return ReconcileRequest(*to_fleet(load_config(path)).lookup("app", "c1"), **kw)


def cm(name: str, value: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


def deploy(replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
            },
        },
    }


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster("c1")


def ports(cluster: FakeCluster, manifests: list[dict[str, Any]]) -> Ports:
    return Ports(FakeSource(), StaticRenderer(manifests), FakeClusters({"c1": cluster}))


def actions(result: Any) -> dict[str, Action]:
    return {r.ref.name: r.action for r in result.objects}


def test_first_sync_then_noop(tmp_path: Path, cluster: FakeCluster) -> None:
    p = ports(cluster, [cm("a"), cm("b"), deploy()])
    first = reconcile(request(tmp_path), p)
    assert first.error is None and first.applied and first.sync is SyncStatus.SYNCED
    assert actions(first) == {"a": Action.CREATED, "b": Action.CREATED, "web": Action.CREATED}
    assert first.target == Target("app", "c1") and first.revision == "0" * 40
    live = cluster.objects[("", "ConfigMap", "demo", "a")]
    assert live["metadata"]["annotations"][keys.OWNED_BY] == "app@c1"
    assert keys.APPLIED_HASH in live["metadata"]["annotations"]
    cluster.calls.clear()
    again = reconcile(request(tmp_path, previous_revision=None, sync=True), p)
    assert set(actions(again).values()) == {Action.UNCHANGED}
    assert cluster.writes() == 0 and again.sync is SyncStatus.SYNCED
    assert not any(v == "apply-dry-run" for v, _ in cluster.calls)


def test_detect_only_reports_drift_with_attribution_and_never_writes(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    p = ports(cluster, [deploy()])
    reconcile(request(tmp_path), p)
    cluster.edit(
        ObjectRef("apps", "Deployment", "demo", "web", "v1"), {"spec": {"replicas": 5}}, "kubectl-edit"
    )
    cluster.calls.clear()
    result = reconcile(request(tmp_path, policy="{detectOnly: true, automated: true}", sync=True), p)
    assert result.sync is SyncStatus.OUT_OF_SYNC and not result.applied and cluster.writes() == 0
    [drift] = result.drift
    assert (drift.path, drift.live, drift.predicted, drift.manager) == (
        ".spec.replicas",
        5,
        1,
        "kubectl-edit",
    )
    assert "-  replicas: 5" in result.diff and "+  replicas: 1" in result.diff


def test_conflict_without_force_fails_and_self_heal_forces(tmp_path: Path, cluster: FakeCluster) -> None:
    p = ports(cluster, [deploy()])
    reconcile(request(tmp_path), p)
    ref = ObjectRef("apps", "Deployment", "demo", "web", "v1")
    cluster.edit(ref, {"spec": {"replicas": 5}}, "kubectl-edit")
    manual = reconcile(request(tmp_path, policy="{automated: false}", sync=True), p)
    [failed] = manual.objects
    assert failed.action is Action.FAILED and "kubectl-edit" in (failed.error or "")
    assert manual.error and manual.sync is SyncStatus.OUT_OF_SYNC
    healed = reconcile(
        request(tmp_path, policy="{automated: true, selfHeal: true}", trigger=Trigger.SELF_HEAL), p
    )
    assert actions(healed) == {"web": Action.CONFIGURED} and healed.sync is SyncStatus.SYNCED
    assert cluster.objects[("apps", "Deployment", "demo", "web")]["spec"]["replicas"] == 1
    # the failed manual sync left the drift; the heal undid it: nothing remains, the heal names it
    assert [d.manager for d in manual.drift] == ["kubectl-edit"] and not manual.corrected
    assert not healed.drift and [(d.path, d.manager) for d in healed.corrected] == [
        (".spec.replicas", "kubectl-edit")]


def test_automated_without_self_heal_leaves_drift_on_same_revision(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    p = ports(cluster, [deploy()])
    reconcile(request(tmp_path), p)
    cluster.edit(
        ObjectRef("apps", "Deployment", "demo", "web", "v1"), {"spec": {"replicas": 5}}, "kubectl-edit"
    )
    result = reconcile(request(tmp_path, previous_revision="0" * 40), p)
    assert not result.applied and result.sync is SyncStatus.OUT_OF_SYNC
    assert [d.path for d in result.drift] == [".spec.replicas"] and not result.corrected


def test_ignore_rule_with_manager_leaves_field_to_it(tmp_path: Path, cluster: FakeCluster) -> None:
    p = ports(cluster, [deploy()])
    reconcile(request(tmp_path), p)
    cluster.edit(
        ObjectRef("apps", "Deployment", "demo", "web", "v1"), {"spec": {"replicas": 7}}, "hpa-controller"
    )
    ignore = "[{group: apps, kind: Deployment, managedFieldsManagers: [hpa-controller]}]"
    result = reconcile(request(tmp_path, ignore=ignore, sync=True), p)
    assert result.error is None and result.drift == []
    assert cluster.objects[("apps", "Deployment", "demo", "web")]["spec"]["replicas"] == 7


def test_prune_and_mass_delete_guard(tmp_path: Path, cluster: FakeCluster) -> None:
    renderer = StaticRenderer([cm("a"), cm("b"), cm("c"), cm("d")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    reconcile(request(tmp_path), p)
    renderer.manifests = [cm("a"), cm("b"), cm("c")]
    result = reconcile(request(tmp_path, sync=True), p)
    assert actions(result)["d"] is Action.DELETED and ("", "ConfigMap", "demo", "d") not in cluster.objects
    renderer.manifests = [cm("a")]
    refused = reconcile(request(tmp_path, sync=True), p)
    assert refused.error and "prune_max_share" in refused.error and not refused.temporary
    assert ("", "ConfigMap", "demo", "b") in cluster.objects
    renderer.manifests = []
    empty = reconcile(request(tmp_path, sync=True), p)
    assert empty.error and "rendered nothing" in empty.error
    forced = reconcile(request(tmp_path, sync=True, allow_mass_delete=True), p)
    assert forced.error is None and not [k for k in cluster.objects if k[1] == "ConfigMap" and k[2] == "demo"]


def test_prune_skips_objects_not_owned_or_opted_out(tmp_path: Path, cluster: FakeCluster) -> None:
    renderer = StaticRenderer([cm("a"), cm("b"), cm("c")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    reconcile(request(tmp_path), p)
    cluster.objects[("", "ConfigMap", "demo", "b")]["metadata"]["annotations"][keys.OWNED_BY] = "other@c1"
    renderer.manifests = [cm("a"), cm("c")]
    result = reconcile(request(tmp_path, sync=True), p)
    assert actions(result)["b"] is Action.SKIPPED and ("", "ConfigMap", "demo", "b") in cluster.objects
    keep = cm("c")
    keep["metadata"]["annotations"] = {keys.SYNC_OPTIONS: "Prune=false"}
    renderer.manifests = [cm("a"), keep]
    reconcile(request(tmp_path, sync=True), p)
    renderer.manifests = [cm("a")]
    result = reconcile(
        request(tmp_path, policy="{automated: true, prune: true, pruneMaxShare: 1.0}", sync=True), p
    )
    assert actions(result)["c"] is Action.SKIPPED


def test_immutable_field_refused_or_recreated(tmp_path: Path, cluster: FakeCluster) -> None:
    renderer = StaticRenderer([deploy()])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    reconcile(request(tmp_path), p)
    changed = deploy()
    changed["spec"]["selector"] = {"matchLabels": {"app": "web2"}}
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
    renderer.manifests = [changed, cm("other")]
    refused = reconcile(request(tmp_path, sync=True), p)
    assert actions(refused) == {"web": Action.FAILED, "other": Action.SKIPPED}
    assert "allow_recreate" in (refused.objects[0].error or "")
    assert ("", "ConfigMap", "demo", "other") not in cluster.objects  # nothing half-applied
    ok = reconcile(request(tmp_path, policy="{automated: true, allowRecreate: true}", sync=True), p)
    assert actions(ok)["web"] is Action.RECREATED and ok.error is None
    assert (
        cluster.objects[("apps", "Deployment", "demo", "web")]["spec"]["selector"]["matchLabels"]["app"]
        == "web2"
    )


def test_failures_become_results(tmp_path: Path, cluster: FakeCluster) -> None:
    renderer = StaticRenderer(error=RenderError("bad template", path="app/x.yaml", line=3))
    result = reconcile(request(tmp_path), Ports(FakeSource(), renderer, FakeClusters({"c1": cluster})))
    assert result.error and "app/x.yaml:3" in result.error and result.sync is SyncStatus.UNKNOWN
    renderer = StaticRenderer([{"kind": "ConfigMap", "metadata": {"name": "x"}}])
    result = reconcile(request(tmp_path), Ports(FakeSource(), renderer, FakeClusters({"c1": cluster})))
    assert result.error and "apiVersion" in result.error and cluster.writes() == 0

    class Refuse:
        def verify(self, manifests: list[dict[str, Any]], target: Target) -> None:
            raise VerificationFailed("unsigned image nginx:1")

    result = reconcile(
        request(tmp_path),
        Ports(FakeSource(), StaticRenderer([deploy()]), FakeClusters({"c1": cluster}), Refuse()),
    )
    assert result.error and "unsigned" in result.error and cluster.writes() == 0
    from gitops.errors import ClusterUnavailable

    cluster.faults.append(ClusterUnavailable("api down"))
    result = reconcile(request(tmp_path), ports(cluster, [cm("a")]))
    assert result.temporary and result.error and "api down" in result.error


def test_secret_values_never_in_result(tmp_path: Path, cluster: FakeCluster) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"password": "hunter2-very-secret"},
    }
    p = ports(cluster, [secret])
    reconcile(request(tmp_path), p)
    cluster.edit(
        ObjectRef("", "Secret", "demo", "s", "v1"), {"stringData": {"password": "leaked-other"}}, "kubectl"
    )
    result = reconcile(request(tmp_path, policy="{detectOnly: true}"), p)
    text = repr(result) + result.diff + str(result.to_dict())
    assert result.drift and "hunter2" not in text and "leaked-other" not in text


def test_health_is_reported_per_object_and_aggregated(tmp_path: Path, cluster: FakeCluster) -> None:
    result = reconcile(request(tmp_path), ports(cluster, [cm("a"), deploy()]))
    health = {r.ref.name: r.health for r in result.objects}
    assert health == {"a": HealthStatus.HEALTHY, "web": HealthStatus.PROGRESSING}
    assert result.health is HealthStatus.PROGRESSING


def test_object_owned_by_another_target_is_not_taken_over(tmp_path: Path, cluster: FakeCluster) -> None:
    theirs = cm("shared", "theirs")
    theirs["metadata"].update(namespace="demo", annotations={keys.OWNED_BY: "other@c1"})
    cluster.apply(theirs, field_manager="gitops")
    result = reconcile(request(tmp_path), ports(cluster, [cm("shared", "ours"), cm("mine")]))
    assert actions(result) == {"shared": Action.FAILED, "mine": Action.SKIPPED}
    assert "managed by other@c1" in (result.objects[0].error or "")
    assert cluster.objects[("", "ConfigMap", "demo", "shared")]["data"] == {"v": "theirs"}


def test_dry_run_shows_prune_with_ownership_checked_and_writes_nothing(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    renderer = StaticRenderer([cm("a"), cm("b"), cm("c"), cm("d")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    reconcile(request(tmp_path), p)
    cluster.objects[("", "ConfigMap", "demo", "d")]["metadata"]["annotations"][keys.OWNED_BY] = "other@c1"
    renderer.manifests = [cm("a"), cm("b", "changed")]
    cluster.calls.clear()
    result = reconcile(request(tmp_path, sync=True, dry_run=True), p)
    assert cluster.writes() == 0 and not result.applied
    got = {r.ref.name: (r.action, r.message) for r in result.objects}
    assert got["b"] == (Action.CONFIGURED, "(dry run)")
    assert got["c"] == (Action.DELETED, "would delete (dry run)")
    assert got["d"][0] is Action.SKIPPED and "other@c1" in got["d"][1]


def test_namespace_scoped_credentials_list_per_namespace(tmp_path: Path) -> None:
    from gitops.errors import Forbidden

    class NamespaceOnly(FakeCluster):
        def list(
            self,
            api_version: str,
            kind: str,
            *,
            namespace: str | None = None,
            label_selector: str | None = None,
        ) -> list[dict[str, Any]]:
            if namespace is None:
                raise Forbidden("cannot list configmaps at the cluster scope", status=403)
            return super().list(api_version, kind, namespace=namespace, label_selector=label_selector)

    cluster = NamespaceOnly("c1")
    other = cm("b")
    other["metadata"]["namespace"] = "second"
    p = ports(cluster, [cm("a"), other])
    assert reconcile(request(tmp_path), p).error is None
    again = reconcile(request(tmp_path, sync=True), p)
    assert again.error is None and set(actions(again).values()) == {Action.UNCHANGED}
    assert ("list", "ConfigMap") in cluster.calls


def test_sync_waves_wait_for_health_and_resume(tmp_path: Path, cluster: FakeCluster) -> None:
    first = deploy()
    first["metadata"]["annotations"] = {keys.SYNC_WAVE: "-1"}
    p = ports(cluster, [cm("after"), first])
    stopped = reconcile(request(tmp_path, wave_timeout=0.3), p)
    assert actions(stopped) == {"web": Action.CREATED, "after": Action.SKIPPED}
    assert stopped.temporary and stopped.sync is SyncStatus.OUT_OF_SYNC
    assert stopped.error and "sync wave -1 is Progressing" in stopped.error
    assert ("", "ConfigMap", "demo", "after") not in cluster.objects
    live = cluster.objects[("apps", "Deployment", "demo", "web")]
    live["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    cluster.calls.clear()
    resumed = reconcile(request(tmp_path, sync=True, wave_timeout=0.3), p)
    assert resumed.error is None and actions(resumed) == {"web": Action.UNCHANGED, "after": Action.CREATED}
    assert ("get", "Deployment") not in cluster.calls  # the LISTed object already said healthy
    live["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    cluster.objects.pop(("", "ConfigMap", "demo", "after"))
    degraded = reconcile(request(tmp_path, sync=True, wave_timeout=0.3), p)
    assert degraded.error and "Degraded" in degraded.error and not degraded.temporary


def test_automated_sync_retries_a_revision_whose_sync_did_not_finish(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    renderer = StaticRenderer([cm("a")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    reconcile(request(tmp_path), p)
    renderer.manifests = [cm("a", "2"), cm("b")]  # same revision, but the last sync of it failed half way
    result = reconcile(request(tmp_path, previous_revision="0" * 40), p)
    assert result.applied and actions(result) == {"a": Action.CONFIGURED, "b": Action.CREATED}
    settled = reconcile(request(tmp_path, previous_revision="0" * 40), p)
    assert not settled.applied and settled.sync is SyncStatus.SYNCED


def test_prune_propagation_is_validated(tmp_path: Path, cluster: FakeCluster) -> None:
    result = reconcile(request(tmp_path, propagation="Sideways"), ports(cluster, [cm("a")]))
    assert result.error and "propagation must be one of" in result.error and cluster.writes() == 0
    assert reconcile(request(tmp_path, propagation="Foreground"), ports(cluster, [cm("a")])).error is None


class Crash(BaseException):
    """The process dies (OOM kill, hard time limit, redeploy): nothing after it runs."""


def inventory(cluster: FakeCluster) -> list[str]:
    return sorted(r.name for r in prune.read_inventory(cluster, Target("app", "c1")) or [])


def test_objects_of_an_interrupted_sync_are_in_the_inventory_before_the_first_write(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    renderer = StaticRenderer([cm("a")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    assert reconcile(request(tmp_path), p).error is None
    seen: list[list[str]] = []

    def die_on_b(obj: dict[str, Any]) -> None:
        if obj["metadata"].get("namespace") == "demo":
            seen.append(inventory(cluster))  # what a crash right after this write would leave behind
        if obj["metadata"]["name"] == "b":
            raise Crash

    cluster.on_apply = die_on_b
    renderer.manifests = [cm("a", "2"), cm("b")]
    with pytest.raises(Crash):
        reconcile(request(tmp_path, sync=True), p)
    assert ("", "ConfigMap", "demo", "b") in cluster.objects
    assert seen and all(names == ["a", "b"] for names in seen)  # old + desired, durable before any write
    cluster.on_apply = None
    renderer.manifests = [cm("a", "2"), cm("c")]  # Git drops b: the interrupted sync's object is pruned
    result = reconcile(request(tmp_path, sync=True), p)
    assert result.error is None and actions(result)["b"] is Action.DELETED
    assert ("", "ConfigMap", "demo", "b") not in cluster.objects and inventory(cluster) == ["a", "c"]


def test_missing_inventory_is_recovered_from_ownership_marks(tmp_path: Path, cluster: FakeCluster) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    renderer = StaticRenderer([cm("a"), cm("b"), cm("c"), secret])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    assert reconcile(request(tmp_path), p).error is None
    other = cm("theirs")  # same application label, but applied for the same app on another cluster
    other["metadata"].update(
        namespace="demo", labels={keys.APP_LABEL: "app"}, annotations={keys.OWNED_BY: "app@c2"}
    )
    cluster.apply(other, field_manager="gitops")
    cluster.objects.pop(("", "ConfigMap", prune.NAMESPACE, prune.inventory_name(Target("app", "c1"))))
    renderer.manifests = [cm("a"), cm("c")]  # b (a kind still rendered) and s (a kind no longer rendered) go
    result = reconcile(request(tmp_path, sync=True), p)
    assert result.error is None, result.error
    assert actions(result) == {
        "a": Action.UNCHANGED,
        "c": Action.UNCHANGED,
        "b": Action.DELETED,
        "s": Action.DELETED,
    }
    assert ("", "Secret", "demo", "s") not in cluster.objects and (
        "",
        "ConfigMap",
        "demo",
        "b",
    ) not in cluster.objects
    assert ("", "ConfigMap", "demo", "theirs") in cluster.objects and inventory(cluster) == ["a", "c"]


def test_a_brand_new_target_lists_only_the_kinds_it_renders(tmp_path: Path, cluster: FakeCluster) -> None:
    assert reconcile(request(tmp_path), ports(cluster, [cm("a")])).error is None
    assert {kind for verb, kind in cluster.calls if verb == "list"} == {"ConfigMap"}


def test_a_failed_read_between_sync_waves_keeps_what_was_applied_in_the_report(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    from gitops.errors import ClusterUnavailable

    first = deploy()
    first["metadata"]["annotations"] = {keys.SYNC_WAVE: "-1"}

    def drop_connection(obj: dict[str, Any]) -> None:
        if obj["kind"] == "Deployment":  # the wave gate's read of it is the next request
            cluster.faults.append(ClusterUnavailable("connection reset"))

    cluster.on_apply = drop_connection
    result = reconcile(request(tmp_path, wave_timeout=5.0), ports(cluster, [cm("after"), first]))
    assert actions(result) == {"web": Action.CREATED, "after": Action.SKIPPED}
    assert result.error and "connection reset" in result.error and result.temporary
    assert inventory(cluster) == ["after", "web"]


def test_apply_never_sends_finalizers_that_only_live_state_has(tmp_path: Path) -> None:
    class Recording(FakeCluster):
        sent: list[dict[str, Any]] = []

        def apply(self, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
            if not kw.get("dry_run"):
                self.sent.append(obj)
            return super().apply(obj, **kw)

    cluster = Recording("c1")
    renderer = StaticRenderer([cm("a")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    reconcile(request(tmp_path), p)
    ref = ObjectRef("", "ConfigMap", "demo", "a", "v1")
    cluster.edit(ref, {"metadata": {"finalizers": ["controller.example.com/cleanup"]}}, "some-controller")
    cluster.sent.clear()
    renderer.manifests = [cm("a", "2")]
    result = reconcile(request(tmp_path, policy="{automated: true, selfHeal: true}", sync=True), p)
    assert result.error is None and actions(result) == {"a": Action.CONFIGURED}
    [sent] = [o for o in cluster.sent if o["metadata"]["name"] == "a"]
    assert "finalizers" not in sent["metadata"]  # the controller's finalizer stays the controller's
    live = cluster.objects[("", "ConfigMap", "demo", "a")]
    assert live["metadata"]["finalizers"] == ["controller.example.com/cleanup"]


def test_an_object_exported_from_a_live_cluster_syncs_as_its_content(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    p = ports(cluster, [cm("a")])
    reconcile(request(tmp_path), p)
    exported = cluster.objects[("", "ConfigMap", "demo", "a")]  # resourceVersion, uid, managedFields...
    exported = {**exported, "data": {"v": "2"}}
    result = reconcile(request(tmp_path, sync=True), ports(cluster, [exported]))
    assert result.error is None and actions(result) == {"a": Action.CONFIGURED}
    assert cluster.objects[("", "ConfigMap", "demo", "a")]["data"] == {"v": "2"}


# -- regressions (issue 10) ----------------------------------------------------------------------
class UnreachableRemoteBases(FakeSource):
    """A source whose Kustomize remote bases cannot be fetched: Git times out (or refuses)."""

    def __init__(self, root: Path, error: Exception) -> None:
        super().__init__(root)
        self.error = error

    def remote_loader(self, repository: Any) -> Any:
        def fetch(url: str) -> Path:
            raise self.error

        return fetch


def kustomize_app_with_remote_base(tmp_path: Path) -> Path:
    root = tmp_path / "snapshot"
    (root / "app").mkdir(parents=True)
    (root / "app" / "kustomization.yaml").write_text(
        "resources:\n  - https://git.example.com/org/base.git//base?ref=v1\n"
    )
    return root


@pytest.mark.parametrize(
    ("error", "temporary"),
    [(SourceUnavailable("the remote could not be reached in time"), True), (AuthError("denied"), False)],
)
def test_a_remote_base_git_could_not_fetch_keeps_the_sources_temporary_flag(
    tmp_path: Path, cluster: FakeCluster, error: Exception, temporary: bool
) -> None:
    from gitops.adapters import RenderersPort

    source = UnreachableRemoteBases(kustomize_app_with_remote_base(tmp_path), error)
    req = request(tmp_path)
    req = dataclasses.replace(req, application=dataclasses.replace(
        req.application, source=dataclasses.replace(req.application.source, renderer="kustomize")))
    result = reconcile(req, Ports(source, RenderersPort(), FakeClusters({"c1": cluster})))
    assert result.error and "base.git" in result.error and cluster.writes() == 0
    assert result.temporary is temporary  # a Git timeout stays retryable through the renderer's wrapping
    assert result.failure is not None and result.failure.kind == "RenderFailed"


SECRET_BASE = "https://deploy:SECRET1@git.example.com/org/base.git//base?ref=v1&private_token=SECRET2"


class EchoingRemoteBases(FakeSource):
    """A remote loader that quotes the URL it was given, credentials and all, in its error."""

    def remote_loader(self, repository: Any) -> Any:
        def fetch(url: str) -> Path:
            raise SourceUnavailable(f"fetching {url} timed out (see {url}#token=SECRET3)")

        return fetch


def test_credentials_in_a_remote_base_never_reach_the_result_or_state(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    from gitops.adapters import RenderersPort
    from gitops.state import records_from_result

    root = tmp_path / "snapshot"
    (root / "app").mkdir(parents=True)
    (root / "app" / "kustomization.yaml").write_text(f"resources:\n  - {SECRET_BASE}\n")
    req = request(tmp_path)
    req = dataclasses.replace(req, application=dataclasses.replace(
        req.application, source=dataclasses.replace(req.application.source, renderer="kustomize")))
    result = reconcile(req, Ports(EchoingRemoteBases(root), RenderersPort(), FakeClusters({"c1": cluster})))
    assert result.failure is not None and result.failure.kind == "RenderFailed" and result.temporary
    status, operation = records_from_result(result, operation_id="o1", trigger=Trigger.POLL)
    seen = repr((result.to_dict(), result.failure, status.to_dict(), operation.to_dict()))
    assert "SECRET" not in seen
    assert "git.example.com/org/base.git" in result.failure.message  # still says which base failed


def test_a_render_errors_message_and_path_are_redacted_by_the_engine(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    error = RenderError(f"cannot load remote resource '{SECRET_BASE}'", path=SECRET_BASE, field="resources")
    result = reconcile(request(tmp_path), Ports(FakeSource(), StaticRenderer(error=error),
                                                FakeClusters({"c1": cluster})))
    assert result.failure is not None and result.failure.kind == "RenderFailed"
    assert "SECRET" not in result.failure.message and "ref=v1" in result.failure.message


def test_a_render_error_caused_by_a_source_error_stays_temporary_whatever_wraps_it(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    try:
        try:
            raise SourceUnavailable("fetch of https://git.example.com/org/base.git timed out")
        except SourceUnavailable as cause:
            raise RuntimeError("remote base proxy") from cause
    except RuntimeError as middle:
        wrapped = RenderError("cannot load remote resource", path="app/kustomization.yaml")
        wrapped.__cause__ = middle
    result = reconcile(request(tmp_path), Ports(FakeSource(), StaticRenderer(error=wrapped),
                                                FakeClusters({"c1": cluster})))
    assert result.temporary and result.error and "app/kustomization.yaml" in result.error


def test_the_clusters_retry_hint_and_the_error_kind_are_in_the_result(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    cluster.faults.append(ClusterUnavailable("429 Too Many Requests", status=429, retry_after=7.0))
    result = reconcile(request(tmp_path), ports(cluster, [cm("a")]))
    assert result.failure == Failure("ClusterUnavailable", result.error or "", True, 7.0)
    assert result.temporary and "429" in (result.error or "")
    ok = reconcile(request(tmp_path), ports(cluster, [cm("a")]))
    assert ok.failure is None and ok.error is None and not ok.temporary


def test_a_retry_hint_during_apply_reaches_the_result(tmp_path: Path, cluster: FakeCluster) -> None:
    def busy(obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "a":  # the next request (the apply of b) is answered 503
            cluster.faults.append(ClusterUnavailable("503", status=503, retry_after=3.0))

    cluster.on_apply = busy
    first = cm("a")
    first["metadata"]["annotations"] = {keys.SYNC_WAVE: "-1"}
    result = reconcile(request(tmp_path, wave_timeout=0.0), ports(cluster, [first, cm("b")]))
    assert actions(result) == {"a": Action.CREATED, "b": Action.FAILED}
    assert result.failure is not None and result.failure.kind == "SyncFailed"
    assert result.failure.temporary and result.failure.retry_after == 3.0


def test_importing_the_engine_loads_neither_kubernetes_nor_pygit2() -> None:
    code = "import sys, gitops.engine; print(sorted({'kubernetes', 'pygit2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- where a manifest came from (issue 10) ---------------------------------------------------------
LOCATION_FILES = {
    "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {v: '1'}\n",
    "b.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n"
               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not/valid}\n"),
}


def renderer_request(tmp_path: Path, renderer: str) -> ReconcileRequest:
    req = request(tmp_path)
    return dataclasses.replace(req, application=dataclasses.replace(
        req.application, source=dataclasses.replace(req.application.source, renderer=renderer)))


def app_files(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "snapshot"
    (root / "app").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / "app" / name).write_text(text)
    return root


@pytest.mark.parametrize(("renderer", "where"), [
    ("plain", "app/b.yaml#1"), ("jinja", "app/b.yaml#1"), ("kustomize", "app/b.yaml#1"),
])
def test_an_invalid_manifest_is_named_by_its_file_and_document(
    tmp_path: Path, cluster: FakeCluster, renderer: str, where: str
) -> None:
    from gitops.adapters import RenderersPort

    files = dict(LOCATION_FILES, **({"kustomization.yaml": "resources: [a.yaml, b.yaml]\n"}
                                    if renderer == "kustomize" else {}))
    root = app_files(tmp_path, files)
    result = reconcile(renderer_request(tmp_path, renderer),
                       Ports(FakeSource(root), RenderersPort(), FakeClusters({"c1": cluster})))
    assert result.failure is not None and result.failure.kind == "InputError", result.failure
    assert result.failure.message.startswith(f"{where}: ") and "not/valid" in result.failure.message
    assert cluster.writes() == 0


@pytest.mark.parametrize("renderer", ["plain", "jinja", "kustomize"])
def test_locations_never_reach_the_cluster_nor_the_drift(
    tmp_path: Path, cluster: FakeCluster, renderer: str
) -> None:
    from gitops.adapters import RenderersPort

    files = {"a.yaml": LOCATION_FILES["a.yaml"], "b.yaml": LOCATION_FILES["b.yaml"].split("---")[0]}
    if renderer == "kustomize":
        files["kustomization.yaml"] = "resources: [a.yaml, b.yaml]\n"
    root = app_files(tmp_path, files)
    ports = Ports(FakeSource(root), RenderersPort(), FakeClusters({"c1": cluster}))
    first = reconcile(renderer_request(tmp_path, renderer), ports)
    assert first.failure is None and actions(first) == {"a": Action.CREATED, "b": Action.CREATED}
    assert "internal.config.kubernetes.io" not in repr(cluster.objects)
    writes = cluster.writes()
    again = reconcile(renderer_request(tmp_path, renderer), ports)
    assert again.sync is SyncStatus.SYNCED and again.drift == [] and again.diff == ""
    assert actions(again) == {"a": Action.UNCHANGED, "b": Action.UNCHANGED} and cluster.writes() == writes


# -- the trace, the rendered manifests, commit and drift time (issue 11) -------------------------
class SlowRenderer(StaticRenderer):
    """Renders after ``seconds`` pass on the manual clock (a render that takes time, without waiting)."""

    def __init__(self, manifests: list[dict[str, Any]], clock: ManualClock, seconds: float) -> None:
        super().__init__(manifests)
        self.clock, self.seconds = clock, seconds

    def render(self, *args: Any, **kw: Any) -> list[dict[str, Any]]:
        self.clock.advance(self.seconds)
        return super().render(*args, **kw)


def secret(password: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
            "data": {"password": base64.b64encode(password.encode()).decode()},
            "stringData": {"token": f"tok-{password}"}}


def test_each_stage_is_a_span_timed_on_the_ports_clock(tmp_path: Path) -> None:
    clock = ManualClock(start=1_000.0)
    cluster = FakeCluster("c1", clock=clock)
    cluster.on_apply = lambda obj: clock.advance(0.5)
    p = Ports(FakeSource(committed=900.0), SlowRenderer([cm("a"), cm("b")], clock, 2.0),
              FakeClusters({"c1": cluster}), clock=clock)
    result = reconcile(request(tmp_path), p)
    assert result.error is None and result.applied
    assert [s.name for s in result.spans] == ["resolve", "render", "verify", "plan", "apply", "health"]
    by_name = {s.name: s for s in result.spans}
    assert by_name["render"].duration == 2.0 and by_name["apply"].duration >= 1.0  # two applies (+ inventory)
    assert by_name["resolve"].attributes == {"revision": "0" * 40}
    assert by_name["render"].attributes == {"objects": "2"}
    assert by_name["apply"].attributes["write"] == "true" and by_name["apply"].attributes["changed"] == "2"
    for before, after in zip(result.spans, result.spans[1:], strict=False):
        assert after.start == before.end  # contiguous on a clock that moves only inside the stages
    assert result.started.timestamp() == 1_000.0 == result.spans[0].start
    assert result.finished.timestamp() == result.spans[-1].end
    assert all(s.error is None for s in result.spans)
    assert result.commit_time == 900.0


def test_a_failing_stage_ends_the_trace_with_its_error(tmp_path: Path, cluster: FakeCluster) -> None:
    renderer = StaticRenderer(error=RenderError("bad template", path="app/x.yaml", line=3))
    result = reconcile(request(tmp_path), Ports(FakeSource(), renderer, FakeClusters({"c1": cluster})))
    assert [s.name for s in result.spans] == ["resolve", "render"]
    assert result.spans[1].error and "app/x.yaml:3" in result.spans[1].error
    assert result.manifests_digest == "" and result.rendered == "" and result.revision == "0" * 40
    cluster.faults.append(ClusterUnavailable("api down"))
    result = reconcile(request(tmp_path), Ports(FakeSource(committed=5.0), StaticRenderer([cm("a")]),
                                                FakeClusters({"c1": cluster})))
    assert [s.name for s in result.spans] == ["resolve", "render", "verify", "plan"]
    assert result.spans[-1].error == "api down" and result.temporary
    assert result.manifests_digest and "name: a" in result.rendered and result.commit_time == 5.0


def test_manifests_digest_is_canonical_and_follows_the_content(tmp_path: Path, cluster: FakeCluster) -> None:
    renderer = StaticRenderer([cm("a", "1"), secret("hunter2")])
    p = Ports(FakeSource(), renderer, FakeClusters({"c1": cluster}))
    first = reconcile(request(tmp_path, policy="{detectOnly: true}"), p)
    reordered = {k: v for k, v in reversed(list(cm("a", "1").items()))}  # same object, keys in another order
    renderer.manifests = [reordered, secret("hunter2")]
    same = reconcile(request(tmp_path, policy="{detectOnly: true}"), p)
    assert first.manifests_digest == same.manifests_digest
    canonical = json.dumps([cm("a", "1"), secret("hunter2")], sort_keys=True, separators=(",", ":"))
    assert first.manifests_digest == hashlib.sha256(canonical.encode()).hexdigest()
    renderer.manifests = [cm("a", "1"), secret("hunter3")]
    other_secret = reconcile(request(tmp_path, policy="{detectOnly: true}"), p)
    assert other_secret.manifests_digest != first.manifests_digest  # a Secret change is a change


def test_rendered_manifests_mask_secret_values(tmp_path: Path, cluster: FakeCluster) -> None:
    p = Ports(FakeSource(), StaticRenderer([secret("hunter2"), cm("a")]), FakeClusters({"c1": cluster}))
    result = reconcile(request(tmp_path), p)
    docs = list(yaml.safe_load_all(result.rendered))
    assert [d["kind"] for d in docs] == ["Secret", "ConfigMap"] and not result.rendered_truncated
    assert set(docs[0]["data"]) == {"password"} and docs[0]["data"]["password"].startswith("<secret ")
    assert docs[0]["stringData"]["token"].startswith("<secret ")
    for leak in ("hunter2", base64.b64encode(b"hunter2").decode(), "tok-"):
        assert leak not in result.rendered and leak not in json.dumps(result.to_dict())
    assert docs[1]["data"] == {"v": "1"}  # everything else as rendered


def test_rendered_manifests_are_bounded_at_a_document_boundary(tmp_path: Path, cluster: FakeCluster) -> None:
    big = [cm(f"c{i:02d}", "x" * 200_000) for i in range(15)]  # ~3 MB of YAML
    result = reconcile(request(tmp_path, policy="{detectOnly: true}"),
                       Ports(FakeSource(), StaticRenderer(big), FakeClusters({"c1": cluster})))
    assert result.rendered_truncated and len(result.rendered.encode()) <= outcome.MAX_RENDERED
    docs = list(yaml.safe_load_all(result.rendered))
    assert docs[-1] is None and result.rendered.rstrip().endswith("not shown: over 2097152 bytes")
    kept = docs[:-1]
    assert 5 <= len(kept) < 15 and all(d["data"]["v"] == "x" * 200_000 for d in kept)  # whole documents
    assert f"# {15 - len(kept)} more document(s)" in result.rendered
    assert result.manifests_digest == outcome.manifests_digest(big)  # the digest covers every document


def test_a_single_document_over_the_bound_is_left_out_whole() -> None:
    shown = outcome.rendered([cm("a", "x" * 100)], limit=50)
    assert shown.truncated and shown.text == "# 1 more document(s) not shown: over 50 bytes\n"


def test_drift_says_when_the_owning_manager_changed_the_field(tmp_path: Path) -> None:
    clock = ManualClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    cluster = FakeCluster("c1", clock=clock)
    p = Ports(FakeSource(), StaticRenderer([deploy()]), FakeClusters({"c1": cluster}), clock=clock)
    reconcile(request(tmp_path), p)
    clock.advance(3_600.7)
    cluster.edit(ObjectRef("apps", "Deployment", "demo", "web", "v1"), {"spec": {"replicas": 5}},
                 "kubectl-edit")
    result = reconcile(request(tmp_path, policy="{detectOnly: true}"), p)
    [drift] = result.drift
    assert drift.manager == "kubectl-edit" and drift.changed_at == 1_767_229_200.0  # whole seconds
    from gitops.state import records_from_result

    status, _ = records_from_result(result, operation_id="o1", trigger=Trigger.POLL)
    assert status.drift[0].changed_at == 1_767_229_200.0 and status.drift[0].manager == "kubectl-edit"
