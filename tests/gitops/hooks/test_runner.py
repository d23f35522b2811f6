"""The hook runner (gitops.hooks.runner) on the in-memory FakeCluster with a ManualClock: completion,
timeouts, waves, delete policies and generateName, without a server or real waiting."""

from __future__ import annotations

from typing import Any

from gitops import keys
from gitops.clock import ManualClock
from gitops.errors import ClusterUnavailable
from gitops.hooks import Phase, prepare, split
from gitops.hooks.runner import Runner, RunOptions, completion
from gitops.testing import FakeCluster
from gitops.vocabulary import Action, ObjectRef, Target

NS = "team"


def job(name: str, outcome: str | None = "Complete", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "annotations": annotations}
    if name.endswith("-"):
        meta = {"generateName": name, "annotations": annotations}
    if outcome:
        meta["annotations"]["test/outcome"] = outcome
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def finishing(cluster: FakeCluster) -> None:
    """Jobs finish at once as their ``test/outcome`` annotation says (a stand-in controller)."""
    def on_apply(obj: dict[str, Any]) -> None:
        outcome = obj["metadata"]["annotations"].get("test/outcome")
        if obj["kind"] == "Job" and outcome:
            obj["status"] = {"conditions": [{"type": outcome, "status": "True", "message": f"job {outcome}"}]}
    cluster.on_apply = on_apply


def runner(cluster: FakeCluster, *objects: dict[str, Any], clock: ManualClock | None = None) -> Runner:
    hooks = prepare(split(list(objects)).hooks, cluster, Target("app", "c"), NS)
    return Runner(cluster, hooks, RunOptions("gitops", clock or ManualClock()))


def ref(name: str) -> ObjectRef:
    return ObjectRef("batch", "Job", NS, name, "v1")


def test_a_hook_that_completes_succeeds_and_hook_succeeded_deletes_it() -> None:
    cluster = FakeCluster()
    finishing(cluster)
    result = runner(cluster, job("keep", **{keys.HOOK: "PreSync"}),
                    job("drop", **{keys.HOOK: "PreSync", keys.HOOK_DELETE_POLICY: "HookSucceeded"})
                    ).run(Phase.PRE_SYNC)
    assert result.ok
    assert {(r.ref.name, r.action) for r in result.results} == {("keep", Action.CREATED),
                                                                 ("drop", Action.CREATED)}
    assert cluster.get(ref("keep")) is not None and cluster.get(ref("drop")) is None
    assert "deleted (HookSucceeded)" in next(r.message for r in result.results if r.ref.name == "drop")


def test_a_failed_hook_fails_the_phase_and_stops_later_waves() -> None:
    cluster = FakeCluster()
    finishing(cluster)
    bad = job("bad", "Failed", **{keys.HOOK: "PreSync", keys.HOOK_DELETE_POLICY: "HookFailed"})
    result = runner(cluster, bad,
                    job("later", **{keys.HOOK: "PreSync", keys.SYNC_WAVE: "1"})).run(Phase.PRE_SYNC)
    assert result.failure == f"PreSync hook {ref('bad')} failed"
    assert result.results[0].error == "PreSync hook: job Failed"
    assert [(r.ref.name, r.action) for r in result.results] == [("bad", Action.FAILED),
                                                                 ("later", Action.SKIPPED)]
    assert cluster.get(ref("bad")) is None  # HookFailed
    assert cluster.get(ref("later")) is None


def test_a_hook_that_never_completes_times_out_on_the_injected_clock() -> None:
    cluster, clock = FakeCluster(), ManualClock()
    result = runner(cluster, job("slow", None, **{keys.HOOK: "Sync", keys.HOOK_TIMEOUT: "90s"}),
                    clock=clock).run(Phase.SYNC)
    assert result.failure is not None
    assert result.results[0].error == "Sync hook: did not complete within 1m30s (job is running)"
    assert 90 <= clock.monotonic() < 95


def test_before_hook_creation_recreates_the_previous_instance() -> None:
    cluster = FakeCluster()
    finishing(cluster)
    hooks = runner(cluster, job("again", **{keys.HOOK: "PreSync"}))
    assert hooks.run(Phase.PRE_SYNC).results[0].action is Action.CREATED
    first = cluster.get(ref("again"))
    second = hooks.run(Phase.PRE_SYNC)
    assert second.ok and second.results[0].action is Action.RECREATED
    assert cluster.get(ref("again"))["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert ("delete", "Job") in cluster.calls


def test_generate_name_hooks_are_created_with_a_new_name_each_time() -> None:
    cluster = FakeCluster()
    finishing(cluster)
    hooks = runner(cluster, job("migrate-", **{keys.HOOK: "PreSync"}))
    names = {hooks.run(Phase.PRE_SYNC).results[0].ref.name for _ in range(2)}
    assert len(names) == 2 and all(n.startswith("migrate-") for n in names)


def test_hooks_of_other_phases_do_not_run() -> None:
    cluster = FakeCluster()
    result = runner(cluster, job("post", **{keys.HOOK: "PostSync"})).run(Phase.PRE_SYNC)
    assert result.ok and result.results == [] and cluster.writes() == 0


def test_completion_of_pods_and_other_kinds() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    assert completion({**pod, "status": {"phase": "Succeeded"}})[0] is True
    assert completion({**pod, "status": {"phase": "Failed"}})[0] is False
    running = {**pod, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    assert completion(running) == (None, "pod is Running")  # a ready Pod has not completed
    assert completion({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})[0] is True
    assert completion(None) == (False, "deleted before it completed")


def test_an_unreachable_cluster_is_a_temporary_failure() -> None:
    cluster = FakeCluster()
    cluster.faults.append(ClusterUnavailable("connection refused", retry_after=3.0))
    hook = job("pre", **{keys.HOOK: "PreSync", keys.HOOK_DELETE_POLICY: "HookFailed"})
    result = runner(cluster, hook).run(Phase.PRE_SYNC)
    assert result.failure is not None and result.temporary and result.retry_after == 3.0
    assert "could not be created: connection refused" in (result.results[0].error or "")


def test_a_generate_name_hook_not_created_is_shown_by_its_prefix() -> None:
    cluster = FakeCluster()
    cluster.faults.append(ClusterUnavailable("connection refused"))
    hooks = runner(cluster, job("migrate-", **{keys.HOOK: "PreSync", keys.HOOK_DELETE_POLICY: "HookFailed"}))
    assert [r.ref.name for r in hooks.skipped(Phase.PRE_SYNC, "compare only")] == ["migrate-*"]
    result = hooks.run(Phase.PRE_SYNC)
    assert result.failure == f"PreSync hook {ref('migrate-*')} failed"
    assert result.results[0].message == "PreSync hook failed"  # nothing to delete: never created
    assert ("delete", "Job") not in cluster.calls
