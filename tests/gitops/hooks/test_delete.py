"""Application deletion with PreDelete and PostDelete hooks: ``gitops.engine.delete`` and the
``gitops delete`` command, against the sandbox API server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitops import keys, prune
from gitops.cli import main
from gitops.vocabulary import Action, ObjectRef, Target
from tests.configkit import local_app

pytestmark = pytest.mark.timeout(120)


def job(name: str, phase: str, image: str = "busybox") -> dict[str, Any]:
    meta = {"name": name, "annotations": {keys.HOOK: phase}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}],
                                           "restartPolicy": "Never"}}}}


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def get(app: Any, kind: str, name: str) -> dict[str, Any] | None:
    group = "batch" if kind == "Job" else ""
    found: dict[str, Any] | None = app.cluster.get(ObjectRef(group, kind, app.namespace, name, "v1"))
    return found


def test_delete_runs_predelete_deletes_everything_then_postdelete(app: Any) -> None:
    app.renderer.manifests = [cm("a"), cm("b"), job("drain", "PreDelete"), job("goodbye", "PostDelete")]
    synced = app.sync()
    assert synced.failure is None and get(app, "Job", "drain") is None  # not run by a sync
    result = app.delete()
    assert result.failure is None, result.failure
    assert [(o.ref.name, o.action) for o in result.objects] == [
        ("drain", Action.CREATED), ("b", Action.DELETED), ("a", Action.DELETED), ("goodbye", Action.CREATED)]
    assert get(app, "ConfigMap", "a") is None and get(app, "ConfigMap", "b") is None
    assert get(app, "Job", "drain") is not None and get(app, "Job", "goodbye") is not None
    assert prune.read_inventory(app.cluster, Target(app.name, "e2e")) is None


def test_a_failed_predelete_hook_stops_the_deletion(app: Any) -> None:
    app.renderer.manifests = [cm("a"), job("drain", "PreDelete", image="fail"), job("goodbye", "PostDelete")]
    app.sync()
    result = app.delete()
    assert result.failure is not None
    assert f"PreDelete hook Job.batch/{app.namespace}/drain failed" in result.failure.message
    assert get(app, "ConfigMap", "a") is not None and get(app, "Job", "goodbye") is None
    assert [r.name for r in prune.read_inventory(app.cluster, Target(app.name, "e2e")) or []] == ["a"]


def test_a_dry_run_deletes_nothing_and_runs_no_hook(app: Any) -> None:
    app.renderer.manifests = [cm("a"), job("drain", "PreDelete")]
    app.sync()
    result = app.delete(dry_run=True)
    assert result.failure is None and not result.applied
    assert {(o.ref.name, o.action, o.message) for o in result.objects} == {
        ("drain", Action.SKIPPED, "PreDelete hook: not run: dry run"),
        ("a", Action.DELETED, "would delete (dry run)")}
    assert get(app, "ConfigMap", "a") is not None and get(app, "Job", "drain") is None


def test_a_lost_inventory_is_recovered_and_foreign_objects_are_kept(app: Any) -> None:
    app.renderer.manifests = [cm("a"), cm("b")]
    app.sync()
    prune.remove_inventory(app.cluster, Target(app.name, "e2e"))
    app.cluster.apply({**cm("b"), "metadata": {"name": "b", "namespace": app.namespace,
                                              "annotations": {keys.OWNED_BY: "someone@else"}}},
                      field_manager="gitops", force=True)
    result = app.delete()
    assert result.failure is None
    assert get(app, "ConfigMap", "a") is None and get(app, "ConfigMap", "b") is not None


def test_delete_false_keeps_an_object_and_prune_false_does_not(app: Any) -> None:
    kept, pruned_only = cm("kept"), cm("gone")
    kept["metadata"]["annotations"] = {keys.SYNC_OPTIONS: "Delete=false"}
    pruned_only["metadata"]["annotations"] = {keys.SYNC_OPTIONS: "Prune=false"}
    app.sync([kept, pruned_only])
    result = app.delete()
    assert result.failure is None
    assert {(o.ref.name, o.action, o.message) for o in result.objects} == {
        ("kept", Action.SKIPPED, "not deleted: Delete=false"), ("gone", Action.DELETED, "pruned")}
    assert get(app, "ConfigMap", "kept") is not None and get(app, "ConfigMap", "gone") is None


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: drain
  annotations: {argocd.argoproj.io/hook: PreDelete, argocd.argoproj.io/hook-delete-policy: HookSucceeded}
spec:
  template:
    spec:
      containers: [{name: c, image: busybox}]
      restartPolicy: Never
---
apiVersion: batch/v1
kind: Job
metadata:
  name: goodbye
  annotations: {gitops.dev/hook: PostDelete}
spec:
  template:
    spec:
      containers: [{name: c, image: busybox}]
      restartPolicy: Never
"""


def test_the_delete_command(sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "all.yaml").write_text(MANIFESTS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "app")
    namespace = "default"
    config = tmp_path / "config.yaml"
    config.write_text(local_app(repo, sandbox.kubeconfig_path, app="doomed", namespace=namespace))
    common = ["-c", str(config), "doomed", "--cluster", "dev", "--cache-dir", str(tmp_path / "cache")]
    assert main(["sync", *common, "--local"]) == 0
    capsys.readouterr()

    assert main(["delete", *common]) == 1  # not confirmed: shows what it would delete
    out, err = capsys.readouterr()
    assert "would delete (dry run)" in out and "settings" in out and "run again with --yes" in err

    assert main(["delete", *common, "--yes"]) == 0
    out, _ = capsys.readouterr()
    assert "PreDelete hook succeeded" in out and "PostDelete hook succeeded" in out
    from gitops.cluster.rest import ClusterSettings, KubeCluster

    cluster = KubeCluster(ClusterSettings("dev", kubeconfig=str(sandbox.kubeconfig_path)))
    try:
        assert cluster.get(ObjectRef("", "ConfigMap", namespace, "settings", "v1")) is None
        assert cluster.get(ObjectRef("batch", "Job", namespace, "drain", "v1")) is None  # HookSucceeded
        assert cluster.get(ObjectRef("batch", "Job", namespace, "goodbye", "v1")) is not None
    finally:
        cluster.close()
