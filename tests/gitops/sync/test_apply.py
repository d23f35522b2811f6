"""The apply verb on its own (gitops/apply): staged server-side apply of a Plan over a Cluster."""

from __future__ import annotations

from typing import Any

from gitops import keys
from gitops import plan as diff
from gitops.apply import ApplyOptions, apply_plan, preview
from gitops.errors import ClusterUnavailable
from gitops.render.manifests import prepare
from gitops.testing import FakeCluster
from gitops.vocabulary import Action, ObjectRef, Target

TARGET = Target("app", "c1")
FAST = ApplyOptions(definition_timeout=0.2, poll_interval=0.01, wave_timeout=0.2)


def cm(name: str, value: str = "1", wave: int | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                           "data": {"v": value}}
    if wave is not None:
        obj["metadata"]["annotations"] = {keys.SYNC_WAVE: str(wave)}
    return obj


def deploy(name: str = "web", wave: int | None = None) -> dict[str, Any]:
    pod = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
    spec = {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": pod}
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                           "spec": spec}
    if wave is not None:
        obj["metadata"]["annotations"] = {keys.SYNC_WAVE: str(wave)}
    return obj


def planned(cluster: FakeCluster, objs: list[dict[str, Any]], **opts: Any) -> diff.Plan:
    desired = prepare(objs, cluster, TARGET, "demo")
    return diff.plan(cluster, desired, diff.DiffOptions(application=TARGET.application, **opts))


def applied(cluster: FakeCluster) -> list[tuple[str, str]]:
    return [(verb, kind) for verb, kind in cluster.calls if verb == "apply"]


def actions(results: Any) -> dict[str, Action]:
    return {r.ref.name: r.action for r in results}


def test_creates_in_stages_namespaces_first_then_forgets_discovery() -> None:
    cluster = FakeCluster("c1")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"},
                 "status": {"phase": "Active"}}
    done = apply_plan(cluster, planned(cluster, [cm("a"), deploy(), namespace]), FAST)
    assert actions(done.results) == {"demo": Action.CREATED, "a": Action.CREATED, "web": Action.CREATED}
    assert not done.failed and not done.temporary and done.stopped is None and done.retry_after is None
    kinds = [kind for verb, kind in cluster.calls if verb in ("apply", "discovery-reset")]
    assert kinds == ["Namespace", "", "ConfigMap", "Deployment"]  # definitions, then the rest by kind
    assert set(done.objects) == {("", "Namespace", "", "demo"), ("", "ConfigMap", "demo", "a"),
                                 ("apps", "Deployment", "demo", "web")}


def test_unchanged_objects_are_not_written_and_changed_ones_are_configured() -> None:
    cluster = FakeCluster("c1")
    apply_plan(cluster, planned(cluster, [cm("a"), cm("b")]), FAST)
    cluster.calls.clear()
    done = apply_plan(cluster, planned(cluster, [cm("a"), cm("b", "2")]), FAST)
    assert actions(done.results) == {"a": Action.UNCHANGED, "b": Action.CONFIGURED}
    assert applied(cluster) == [("apply", "ConfigMap")]
    assert cluster.objects[("", "ConfigMap", "demo", "b")]["data"] == {"v": "2"}


def test_a_plan_with_a_failed_object_writes_nothing() -> None:
    cluster = FakeCluster("c1")
    apply_plan(cluster, planned(cluster, [deploy()]), FAST)
    changed = deploy()
    changed["spec"]["selector"] = {"matchLabels": {"app": "other"}}  # immutable: refused in planning
    the_plan = planned(cluster, [changed, cm("new")])
    cluster.calls.clear()
    done = apply_plan(cluster, the_plan, FAST)
    assert actions(done.results) == {"web": Action.FAILED, "new": Action.SKIPPED}
    assert applied(cluster) == [] and not done.temporary
    assert "failed planning" in next(r.message for r in done.results if r.ref.name == "new")
    # health is judged on the objects as they are (untouched), not on nothing ("Missing")
    assert set(done.objects) == {("apps", "Deployment", "demo", "web")}


def test_a_conflict_stops_the_sync_and_later_steps_are_skipped() -> None:
    cluster = FakeCluster("c1")
    apply_plan(cluster, planned(cluster, [deploy()]), FAST)
    cluster.edit(ObjectRef("apps", "Deployment", "demo", "web", "v1"), {"spec": {"replicas": 3}}, "kubectl")
    changed = deploy()
    changed["spec"]["replicas"] = 2
    done = apply_plan(cluster, planned(cluster, [changed, cm("later", wave=1)]), FAST)
    assert actions(done.results) == {"web": Action.FAILED, "later": Action.SKIPPED}
    assert "conflict" in (done.results[0].error or "") and "kubectl" in (done.results[0].error or "")
    assert not done.temporary and ("", "ConfigMap", "demo", "later") not in cluster.objects
    assert ("apps", "Deployment", "demo", "web") in done.objects  # not reached: as the plan read it
    forced = apply_plan(cluster, planned(cluster, [changed], force=True), ApplyOptions(force=True))
    assert actions(forced.results) == {"web": Action.CONFIGURED}


def test_a_temporary_error_stops_the_sync_with_the_clusters_retry_hint() -> None:
    cluster = FakeCluster("c1")
    the_plan = planned(cluster, [cm("first", wave=-1), cm("second")])
    cluster.faults.append(ClusterUnavailable("429 Too Many Requests", status=429, retry_after=4.0))
    done = apply_plan(cluster, the_plan, FAST)
    assert actions(done.results) == {"first": Action.FAILED, "second": Action.SKIPPED}
    assert done.temporary and done.retry_after == 4.0
    assert ("", "ConfigMap", "demo", "second") not in cluster.objects


def test_a_wave_still_progressing_stops_the_sync_as_temporary() -> None:
    cluster = FakeCluster("c1")
    done = apply_plan(cluster, planned(cluster, [deploy(wave=-1), cm("after")]), FAST)
    assert actions(done.results) == {"web": Action.CREATED, "after": Action.SKIPPED}
    assert done.temporary and done.stopped and "sync wave -1 is Progressing" in done.stopped
    assert done.retry_after is None  # the cluster asked for nothing: the worker's backoff decides


def test_recreate_deletes_and_applies_again() -> None:
    cluster = FakeCluster("c1")
    apply_plan(cluster, planned(cluster, [deploy()]), FAST)
    changed = deploy()
    changed["spec"]["selector"] = {"matchLabels": {"app": "v2"}}
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "v2"}
    done = apply_plan(cluster, planned(cluster, [changed], allow_recreate=True), FAST)
    assert actions(done.results) == {"web": Action.RECREATED}
    assert ("delete", "Deployment") in cluster.calls
    live = cluster.objects[("apps", "Deployment", "demo", "web")]
    assert live["spec"]["selector"] == {"matchLabels": {"app": "v2"}}


def test_dry_run_and_preview_write_nothing() -> None:
    cluster = FakeCluster("c1")
    the_plan = planned(cluster, [cm("a")])
    done = apply_plan(cluster, the_plan, ApplyOptions(dry_run=True))
    assert actions(done.results) == {"a": Action.CREATED} and applied(cluster) == []
    assert [r.message for r in preview(the_plan)] == ["(dry run)"]
    assert [r.message for r in preview(the_plan, dry_run=False)] == [""]
