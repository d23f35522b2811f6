"""The plan verb on its own (gitops/plan): desired vs live vs predicted, reads only."""

from __future__ import annotations

from typing import Any

import pytest

from gitops import keys
from gitops import plan as diff
from gitops.apply import ApplyOptions, apply_plan
from gitops.domain import IgnoreRule
from gitops.errors import ClusterUnavailable
from gitops.render.manifests import prepare
from gitops.testing import FakeCluster
from gitops.vocabulary import Action, ObjectRef, Target

TARGET = Target("app", "c1")
REF = ObjectRef("apps", "Deployment", "demo", "web", "v1")


def deploy(replicas: int = 1, image: str = "nginx:1") -> dict[str, Any]:
    pod = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": pod}}


def cm(name: str, value: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


def plan(cluster: FakeCluster, objs: list[dict[str, Any]], target: Target = TARGET, **opts: Any) -> diff.Plan:
    desired = prepare(objs, cluster, target, "demo")
    return diff.plan(cluster, desired, diff.DiffOptions(application=target.application, **opts))


def synced(cluster: FakeCluster, objs: list[dict[str, Any]]) -> None:
    assert not apply_plan(cluster, plan(cluster, objs), ApplyOptions()).failed


def test_a_new_object_is_predicted_by_a_dry_run_and_nothing_is_written() -> None:
    cluster = FakeCluster("c1")
    the_plan = plan(cluster, [deploy()])
    [p] = the_plan.objects
    assert p.action is Action.CREATED and p.live is None and p.predicted is not None
    assert p.desired["metadata"]["annotations"][keys.APPLIED_HASH] and p.writes
    assert cluster.writes() == 0 and ("apply-dry-run", "Deployment") in cluster.calls
    assert not the_plan.in_sync and the_plan.desired_changed and the_plan.drift == []
    assert "+++ predicted/Deployment.apps/demo/web" in the_plan.unified_diff()


def test_an_unchanged_object_costs_one_list_and_no_dry_run() -> None:
    cluster = FakeCluster("c1")
    synced(cluster, [deploy(), cm("a")])
    cluster.calls.clear()
    the_plan = plan(cluster, [deploy(), cm("a")])
    assert [p.action for p in the_plan.objects] == [Action.UNCHANGED, Action.UNCHANGED]
    assert the_plan.in_sync and not the_plan.desired_changed and the_plan.unified_diff() == ""
    assert sorted(cluster.calls) == [("list", "ConfigMap"), ("list", "Deployment")]


def test_drift_names_the_field_and_the_manager_that_changed_it() -> None:
    cluster = FakeCluster("c1")
    synced(cluster, [deploy()])
    cluster.edit(REF, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "evil:1"}]}}}},
                 "kubectl-set")
    [p] = plan(cluster, [deploy()]).objects
    assert p.action is Action.CONFIGURED and not p.desired_changed  # Git asked for nothing new
    [d] = p.drift
    assert (d.ref, d.path, d.live, d.predicted, d.manager) == (
        REF, '.spec.template.spec.containers[name="web"].image', "evil:1", "nginx:1", "kubectl-set")
    shown = diff.unified_diff(p)
    assert "-      - image: evil:1" in shown and "+      - image: nginx:1" in shown


def test_a_conflict_is_planned_with_a_forced_prediction_and_a_message() -> None:
    cluster = FakeCluster("c1")
    synced(cluster, [deploy()])
    cluster.edit(REF, {"spec": {"replicas": 5}}, "kubectl-edit")
    [p] = plan(cluster, [deploy(replicas=2)]).objects
    assert p.action is Action.CONFIGURED and "sync with force" in p.message
    assert p.predicted is not None and p.predicted["spec"]["replicas"] == 2


def test_ignore_rules_hide_pointers_and_leave_fields_to_their_managers() -> None:
    cluster = FakeCluster("c1")
    synced(cluster, [deploy()])
    cluster.edit(REF, {"spec": {"replicas": 7}}, "hpa")
    pointer = IgnoreRule("apps", "Deployment", json_pointers=("/spec/replicas",))
    [p] = plan(cluster, [deploy()], ignore=(pointer,)).objects
    assert p.drift == () and p.action is Action.UNCHANGED
    by_manager = IgnoreRule("apps", "Deployment", managers=("hpa",))
    [p] = plan(cluster, [deploy()], ignore=(by_manager,)).objects
    assert p.drift == () and "replicas" not in p.desired["spec"]  # the HPA keeps its field
    other_kind = IgnoreRule("", "ConfigMap", json_pointers=("/spec/replicas",))
    [p] = plan(cluster, [deploy()], ignore=(other_kind,)).objects
    assert [d.path for d in p.drift] == [".spec.replicas"]


def test_an_immutable_change_fails_unless_recreate_is_allowed() -> None:
    cluster = FakeCluster("c1")
    synced(cluster, [deploy()])
    changed = deploy()
    changed["spec"]["selector"] = {"matchLabels": {"app": "v2"}}
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "v2"}
    [refused] = plan(cluster, [changed]).objects
    assert refused.action is Action.FAILED and "allow_recreate" in (refused.error or "")
    [allowed] = plan(cluster, [changed], allow_recreate=True).objects
    assert allowed.action is Action.RECREATED and "spec.selector" in allowed.message
    assert cluster.writes() == 1  # only the first sync wrote


def test_an_object_of_another_target_is_never_taken_over() -> None:
    cluster = FakeCluster("c1")
    synced(cluster, [cm("shared")])
    [p] = plan(cluster, [cm("shared", "2")], target=Target("other", "c1")).objects
    assert p.action is Action.FAILED and "managed by app@c1" in (p.error or "")


def test_a_temporary_error_while_planning_is_raised() -> None:
    cluster = FakeCluster("c1")
    cluster.faults.append(ClusterUnavailable("connection refused"))
    with pytest.raises(ClusterUnavailable):
        plan(cluster, [cm("a")])
