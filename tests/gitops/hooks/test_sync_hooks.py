"""Sync hooks end to end: the engine against the sandbox API server, whose controller completes a Job
after a delay and fails it when an image contains ``fail`` (kubesandbox/controller.py)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops import keys, prune
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus, Target

pytestmark = pytest.mark.timeout(120)


def job(name: str, phase: str, image: str = "busybox", key: str = keys.HOOK,
        **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "annotations": {key: phase, **annotations}},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "containers": [{"name": "c", "image": image}], "restartPolicy": "Never"}}}}


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def deployment(name: str, **annotations: str) -> dict[str, Any]:
    labels = {"app": name}
    meta = {"name": name, "annotations": annotations}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def live(app: Any, kind: str, name: str) -> dict[str, Any] | None:
    group, version = {"Job": ("batch", "v1"), "ConfigMap": ("", "v1"), "Deployment": ("apps", "v1")}[kind]
    found: dict[str, Any] | None = app.cluster.get(ObjectRef(group, kind, app.namespace, name, version))
    return found


def by_name(result: Any) -> dict[str, Any]:
    return {o.ref.name: o for o in result.objects}


def test_a_presync_job_that_succeeds_runs_before_the_apply(app: Any) -> None:
    result = app.sync([cm("settings"), job("migrate", "PreSync")])
    assert result.failure is None and result.sync is SyncStatus.SYNCED
    objects = by_name(result)
    assert objects["migrate"].action is Action.CREATED
    assert objects["migrate"].message.startswith("PreSync hook succeeded: job completed")
    assert [o.ref.name for o in result.objects][:2] == ["migrate", "settings"]  # the hook first
    assert "hooks" in [s.name for s in result.spans]
    hook = live(app, "Job", "migrate")
    assert hook is not None and hook["metadata"]["annotations"][keys.HOOK_OF] == f"{app.name}@e2e"
    assert keys.OWNED_BY not in hook["metadata"]["annotations"]
    assert live(app, "ConfigMap", "settings") is not None
    inventory = prune.read_inventory(app.cluster, Target(app.name, "e2e")) or []
    assert [r.name for r in inventory] == ["settings"]  # hooks are never in the inventory


def test_a_presync_job_that_fails_blocks_the_sync_and_syncfail_runs(app: Any) -> None:
    result = app.sync([cm("settings"), job("migrate", "PreSync", image="registry/fail:1"),
                       job("page-someone", "SyncFail"), job("after", "PostSync")])
    assert result.failure is not None and not result.failure.temporary
    assert (f"first Job.batch/{app.namespace}/migrate: PreSync hook: Job has reached the specified "
            f"backoff limit; PreSync hook Job.batch/{app.namespace}/migrate failed") in result.failure.message
    objects = by_name(result)
    assert objects["settings"].action is Action.SKIPPED and "not applied" in objects["settings"].message
    assert live(app, "ConfigMap", "settings") is None  # nothing of the regular objects applied
    assert objects["page-someone"].message.startswith("SyncFail hook succeeded")
    assert live(app, "Job", "page-someone") is not None
    assert objects["after"].action is Action.SKIPPED and live(app, "Job", "after") is None
    assert result.sync is SyncStatus.OUT_OF_SYNC
    assert prune.read_inventory(app.cluster, Target(app.name, "e2e")) is None


def test_before_hook_creation_recreates_the_hook_on_the_next_sync(app: Any) -> None:
    manifests = [cm("settings"), job("migrate", "PreSync")]
    app.sync(manifests)
    first = live(app, "Job", "migrate")
    again = app.sync(manifests)
    assert by_name(again)["migrate"].action is Action.RECREATED and again.failure is None
    second = live(app, "Job", "migrate")
    assert first is not None and second is not None
    assert first["metadata"]["uid"] != second["metadata"]["uid"]


def test_hook_succeeded_and_hook_failed_delete_the_hook(app: Any) -> None:
    result = app.sync([cm("settings"), job("ok", "PreSync", **{keys.HOOK_DELETE_POLICY: "HookSucceeded"}),
                       job("cleanup", "SyncFail", image="fail", **{keys.HOOK_DELETE_POLICY: "HookFailed"}),
                       job("bad", "Sync", image="fail", **{keys.HOOK_DELETE_POLICY: "HookFailed"})])
    objects = by_name(result)
    assert "deleted (HookSucceeded)" in objects["ok"].message and live(app, "Job", "ok") is None
    assert objects["bad"].action is Action.FAILED and "deleted (HookFailed)" in objects["bad"].message
    assert live(app, "Job", "bad") is None
    assert objects["cleanup"].action is Action.FAILED and live(app, "Job", "cleanup") is None
    assert live(app, "ConfigMap", "settings") is not None  # Sync hooks run after the regular objects
    assert result.failure is not None
    assert f"Sync hook Job.batch/{app.namespace}/bad failed" in result.failure.message


def test_a_hook_that_does_not_complete_in_time_fails_naming_the_hook(app: Any) -> None:
    stuck = job("stuck", "PreSync", **{keys.HOOK_TIMEOUT: "1s"})
    stuck["spec"]["suspend"] = True  # a suspended Job never completes
    result = app.sync([cm("settings"), stuck])
    assert result.failure is not None
    assert (f"Job.batch/{app.namespace}/stuck: PreSync hook: did not complete within 1s"
            in result.failure.message)
    assert f"PreSync hook Job.batch/{app.namespace}/stuck failed" in result.failure.message
    assert live(app, "ConfigMap", "settings") is None


def test_argo_cd_annotations_work_unchanged(app: Any) -> None:
    result = app.sync([cm("settings"),
                       job("argo-pre", "PreSync", key=keys.ARGO_HOOK,
                           **{keys.ARGO_HOOK_DELETE_POLICY: "HookSucceeded", keys.ARGO_SYNC_WAVE: "-1"}),
                       job("argo-post", "PostSync", key=keys.ARGO_HOOK),
                       job("helm-pre", "pre-install,pre-upgrade", key=keys.HELM_HOOK)])
    assert result.failure is None
    objects = by_name(result)
    assert [o.ref.name for o in result.objects][:2] == ["argo-pre", "helm-pre"]  # wave -1 first
    assert "deleted (HookSucceeded)" in objects["argo-pre"].message and live(app, "Job", "argo-pre") is None
    assert objects["argo-post"].message.startswith("PostSync hook succeeded")
    assert live(app, "Job", "helm-pre") is not None


def test_postsync_runs_once_the_workload_is_healthy(app: Any) -> None:
    result = app.sync([deployment("web"), job("smoke", "PostSync")])
    assert result.failure is None and result.health is HealthStatus.HEALTHY
    smoke, web = live(app, "Job", "smoke"), live(app, "Deployment", "web")
    assert smoke is not None and web is not None
    available = next(c for c in web["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True"
    assert smoke["metadata"]["creationTimestamp"] >= available["lastTransitionTime"]


def test_postsync_does_not_run_when_the_workload_degrades_and_syncfail_does(app: Any) -> None:
    result = app.sync([deployment("web", **{"sandbox.gitops.dev/fail-rollout": "true"}),
                       job("smoke", "PostSync"), job("rollback", "SyncFail")])
    assert result.failure is not None
    assert "PostSync hooks not run: the target is Degraded" in result.failure.message
    assert live(app, "Job", "smoke") is None and live(app, "Job", "rollback") is not None


def test_hooks_are_never_pruned_and_never_drift(app: Any) -> None:
    app.sync([cm("settings"), job("migrate", "PreSync")])
    result = app.sync([cm("settings"), cm("more")])  # the hook left Git
    assert result.failure is None
    assert live(app, "Job", "migrate") is not None
    assert not any(o.ref.name == "migrate" for o in result.objects) and result.drift == []


def test_a_dry_run_lists_the_hooks_a_sync_would_run_and_a_compare_none(app: Any) -> None:
    result = app.sync([cm("settings"), job("migrate", "PreSync"), job("fail", "SyncFail")], sync=False)
    assert [o.ref.name for o in result.objects] == ["settings"]  # hooks never drift
    dry = app.sync(dry_run=True)
    assert [(o.ref.name, o.action, o.message) for o in dry.objects if o.ref.kind == "Job"] == [
        ("migrate", Action.SKIPPED, "PreSync hook: not run: dry run")]
    assert live(app, "Job", "migrate") is None and live(app, "Job", "fail") is None


def test_an_automated_pass_over_a_target_in_sync_runs_no_hook(app: Any) -> None:
    manifests = [cm("settings"), job("migrate", "PreSync", **{keys.HOOK_DELETE_POLICY: "HookSucceeded"})]
    first = app.sync(manifests, sync=None, previous_revision=None)
    assert by_name(first)["migrate"].action is Action.CREATED
    again = app.sync(manifests, sync=None, previous_revision=first.revision,
                     policy="{automated: true, prune: true, selfHeal: true}")
    assert again.failure is None and [o.ref.name for o in again.objects] == ["settings"]
    assert "hooks" not in [s.name for s in again.spans]
    assert live(app, "Job", "migrate") is None


def test_a_bad_hook_annotation_is_a_render_error_and_nothing_is_applied(app: Any) -> None:
    result = app.sync([cm("settings"), job("migrate", "PreSnyc")])
    assert result.failure is not None and result.failure.kind == "InputError"
    assert "annotation gitops.dev/hook: unknown phase 'PreSnyc'" in result.failure.message
    assert "(Job/migrate)" in result.failure.message
    assert live(app, "ConfigMap", "settings") is None and result.objects == []
    huge = app.sync([cm("settings"), job("migrate", "PreSync", **{keys.HOOK_TIMEOUT: "9" * 100_000})])
    assert huge.failure is not None and "longer than 256 characters" in huge.failure.message


def test_generate_name_hooks_get_a_fresh_name_each_sync(app: Any) -> None:
    hook = job("unused", "PreSync")
    hook["metadata"] = {"generateName": "migrate-", "annotations": hook["metadata"]["annotations"]}
    names = {next(o.ref.name for o in app.sync([cm("settings"), hook]).objects if o.ref.kind == "Job")
             for _ in range(2)}
    assert len(names) == 2 and all(n.startswith("migrate-") and len(n) > len("migrate-") for n in names)
