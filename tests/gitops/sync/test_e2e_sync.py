"""End to end over HTTP: the engine against the sandbox API server (and a real cluster when configured)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops import keys, prune
from gitops.plan import managed
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus, Target, Trigger
from kubesandbox import FAIL_ROLLOUT


def cm(name: str, value: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


def deploy(
    name: str = "web", replicas: int = 1, image: str = "nginx:1.27", **annotations: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def actions(result: Any) -> dict[str, Action]:
    return {r.ref.name: r.action for r in result.objects}


def test_first_sync_then_noop_writes_nothing(env: Any) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"pw": "s3cr3t-x"},
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
    }
    first = env.sync([cm("a"), secret, svc, deploy()])
    assert first.error is None, first.error
    assert set(actions(first).values()) == {Action.CREATED}
    assert first.sync is SyncStatus.SYNCED
    env.reset_stats()
    again = env.sync()
    assert again.error is None and set(actions(again).values()) == {Action.UNCHANGED}
    assert again.sync is SyncStatus.SYNCED and again.drift == []
    if env.backend.sandbox:
        assert env.writes() == 0
        stats = env.backend.sandbox.stats
        for kind in ("ConfigMap", "Secret", "Service", "Deployment"):
            assert stats.count(kind=kind, write=False) <= 2  # one LIST (+ the inventory GET for ConfigMap)
    assert "s3cr3t" not in repr(again) + again.diff


def test_drift_by_another_manager_is_attributed_and_healed(env: Any) -> None:
    env.sync([deploy(replicas=2)])
    path = f"/apis/apps/v1/namespaces/{env.namespace}/deployments/web"
    env.kubectl_patch(path, {"spec": {"replicas": 5}})
    detected = env.sync(policy="{automated: true, detectOnly: true}")
    assert detected.sync is SyncStatus.OUT_OF_SYNC and not detected.applied
    drift = {d.path: d for d in detected.drift}
    assert drift[".spec.replicas"].live == 5 and drift[".spec.replicas"].predicted == 2
    assert drift[".spec.replicas"].manager == "kubectl-edit"
    edited = env.cluster.get(ObjectRef("apps", "Deployment", env.namespace, "web", "v1"))
    [entry] = [e for e in edited["metadata"]["managedFields"] if e["manager"] == "kubectl-edit"]
    assert drift[".spec.replicas"].changed_at == managed.parse_time(entry["time"]) is not None
    env.reset_stats()
    healed = env.sync(
        policy="{automated: true, selfHeal: true}",
        sync=None,
        trigger=Trigger.SELF_HEAL,
        previous_revision="0" * 40,
    )
    assert healed.error is None and actions(healed) == {"web": Action.CONFIGURED}
    assert not healed.drift and [d.path for d in healed.corrected] == [".spec.replicas"]
    live = env.cluster.get(ObjectRef("apps", "Deployment", env.namespace, "web", "v1"))
    assert live["spec"]["replicas"] == 2
    if env.backend.sandbox:
        assert env.writes() == 2  # the dry-run PATCH that found the drift, then the apply


def test_conflict_fails_without_force_and_applies_with_it(env: Any) -> None:
    env.sync([deploy(image="nginx:1")])
    env.kubectl_patch(f"/apis/apps/v1/namespaces/{env.namespace}/deployments/web", {"spec": {"replicas": 3}})
    refused = env.sync(policy="{automated: false}")
    [obj] = refused.objects
    assert (
        obj.action is Action.FAILED and "kubectl-edit" in (obj.error or "") and "spec.replicas" in obj.error
    )
    assert refused.error
    forced = env.sync(policy="{automated: false}", force=True)
    assert forced.error is None and actions(forced) == {"web": Action.CONFIGURED}


def test_ignore_rule_leaves_field_to_its_manager(env: Any) -> None:
    env.sync([deploy(replicas=1)])
    env.kubectl_patch(
        f"/apis/apps/v1/namespaces/{env.namespace}/deployments/web",
        {"spec": {"replicas": 4}},
        manager="hpa-controller",
    )
    ignore = "[{group: apps, kind: Deployment, managedFieldsManagers: [hpa-controller]}]"
    result = env.sync(ignore=ignore)
    assert result.error is None and result.drift == [], result.drift
    live = env.cluster.get(ObjectRef("apps", "Deployment", env.namespace, "web", "v1"))
    assert live["spec"]["replicas"] == 4


def test_prune_removed_object_and_mass_delete_guard(env: Any) -> None:
    env.sync([cm("a"), cm("b"), cm("c"), cm("d")])
    target = Target(env.app, "e2e")
    assert len(prune.read_inventory(env.cluster, target) or []) == 4
    result = env.sync([cm("a"), cm("b"), cm("c")])
    assert actions(result)["d"] is Action.DELETED and result.sync is SyncStatus.SYNCED
    assert env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "d", "v1")) is None
    assert len(prune.read_inventory(env.cluster, target) or []) == 3
    env.reset_stats()
    refused = env.sync([cm("a")])
    assert refused.error and "prune_max_share" in refused.error
    if env.backend.sandbox:
        assert env.writes() == 0  # refused before anything was applied
    assert env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "b", "v1")) is not None
    no_prune = env.sync([cm("a")], policy="{automated: true, prune: false}")
    assert no_prune.sync is SyncStatus.OUT_OF_SYNC and actions(no_prune)["b"] is Action.SKIPPED
    assert no_prune.health is HealthStatus.HEALTHY  # candidates for pruning do not count


def test_crd_and_its_custom_resources_in_one_application(env: Any) -> None:
    group = f"{env.app}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                            },
                        }
                    },
                }
            ],
        },
    }
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    result = env.sync([widget, crd])
    assert result.error is None, result.error
    assert actions(result) == {f"widgets.{group}": Action.CREATED, "w1": Action.CREATED}
    assert [r.ref.kind for r in result.objects] == ["CustomResourceDefinition", "Widget"]
    live = env.cluster.get(ObjectRef(group, "Widget", env.namespace, "w1", "v1"))
    assert live["spec"]["size"] == 3
    again = env.sync()
    assert set(actions(again).values()) == {Action.UNCHANGED}


def test_immutable_field_refused_or_recreated(env: Any) -> None:
    env.sync([deploy()])
    changed = deploy()
    changed["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "front"}}
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "front"}
    refused = env.sync([changed, cm("new")])
    assert actions(refused) == {"web": Action.FAILED, "new": Action.SKIPPED}
    assert "immutable" in (refused.objects[0].error or "") and "spec.selector" in refused.objects[0].error
    assert env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "new", "v1")) is None
    plan = env.sync(policy="{automated: true, allowRecreate: true}", dry_run=True)
    assert actions(plan)["web"] is Action.RECREATED and not plan.applied
    annotated = deploy(**{keys.RECREATE: "allow"})
    annotated["spec"] = changed["spec"]
    result = env.sync([annotated, cm("new")])
    assert result.error is None and actions(result)["web"] is Action.RECREATED
    live = env.cluster.get(ObjectRef("apps", "Deployment", env.namespace, "web", "v1"))
    assert live["spec"]["selector"]["matchLabels"]["tier"] == "front"


def test_hostile_manifests_are_rejected_before_any_write(env: Any) -> None:
    env.reset_stats()
    bad = cm("ok")
    evil = cm("../../../api/v1/namespaces/kube-system/secrets/x")
    result = env.sync([bad, evil])
    assert result.error and "manifest #2" in result.error and "metadata.name" in result.error
    if env.backend.sandbox:
        assert env.writes() == 0
    huge = cm("huge", "x" * 200_000)
    env.sync([huge])
    changed = env.sync([cm("huge", "y" * 200_000)], policy="{detectOnly: true}")
    assert changed.drift and len(changed.diff) < 20_000 and "more characters" in changed.diff


@pytest.mark.parametrize("status", [429, 500])
def test_retries_on_injected_errors(env: Any, status: int) -> None:
    if not env.backend.sandbox:
        pytest.skip("fault injection needs the sandbox")
    from kubesandbox.instruments import FaultRule

    rule = env.backend.sandbox.faults.add(FaultRule(verb="patch", status=status, times=2, retry_after=0.1))
    result = env.sync([cm("a")])
    assert result.error is None and actions(result) == {"a": Action.CREATED}
    assert rule.hits == 2


def test_retries_on_timeouts_and_gives_up_as_temporary(env: Any) -> None:
    if not env.backend.sandbox:
        pytest.skip("fault injection needs the sandbox")
    from kubesandbox.instruments import FaultRule

    env.cluster = env.backend.cluster(timeout=0.3)
    env.backend.sandbox.faults.add(FaultRule(verb="list", delay=1.0, times=1))
    result = env.sync([cm("a")])
    assert result.error is None, result.error
    env.backend.sandbox.faults.add(FaultRule(status=503, times=None))
    down = env.sync([cm("b")])
    assert down.error and down.temporary and down.sync is SyncStatus.UNKNOWN


def test_health_progressing_then_healthy(env: Any) -> None:
    quick = env.sync([deploy()], wait_seconds=0)
    assert quick.health is HealthStatus.PROGRESSING  # just created: no controller has reported yet
    waited = env.sync(wait_seconds=20)
    assert waited.health is HealthStatus.HEALTHY, [(o.ref.name, o.health, o.message) for o in waited.objects]
    assert {o.ref.name: o.health for o in waited.objects} == {"web": HealthStatus.HEALTHY}


def test_health_progressing_then_degraded(env: Any) -> None:
    if not env.backend.sandbox:
        pytest.skip("the failing rollout is simulated by the sandbox controller")
    failing = deploy(**{FAIL_ROLLOUT: "true"})
    first = env.sync([failing], wait_seconds=0)
    assert first.health is HealthStatus.PROGRESSING
    waited = env.sync(wait_seconds=20)
    assert waited.health is HealthStatus.DEGRADED
    [obj] = waited.objects
    assert obj.health is HealthStatus.DEGRADED


def test_wait_deadline_returns_progressing(env: Any) -> None:
    if not env.backend.sandbox:
        pytest.skip("needs the sandbox controller's delay")
    result = env.sync([deploy(name="slow", replicas=2)], wait_seconds=0.01)
    assert result.error is None and result.health is HealthStatus.PROGRESSING


def test_secret_values_never_logged(env: Any, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"pw": "Zebra-42-pass"},
    }
    env.sync([secret])
    changed = {**secret, "stringData": {"pw": "Yak-99-pass"}}
    result = env.sync([changed], policy="{detectOnly: true}")
    assert result.drift
    env.sync([changed])
    text = caplog.text + repr(result) + result.diff + str(result.to_dict())
    for value in ("Zebra-42-pass", "Yak-99-pass", "WmVicmEtNDItcGFzcw", "WWFrLTk5LXBhc3M"):
        assert value not in text


def test_sync_waves_gate_on_health(env: Any) -> None:
    if not env.backend.sandbox:
        pytest.skip("the failing rollout is simulated by the sandbox controller")
    db = deploy(name="db", **{keys.SYNC_WAVE: "-1"})
    result = env.sync([cm("after"), db], wave_timeout=20)
    assert result.error is None, result.error
    assert [(r.ref.name, r.action) for r in result.objects] == [
        ("db", Action.CREATED),
        ("after", Action.CREATED),
    ]
    broken = deploy(name="broken", **{keys.SYNC_WAVE: "-1", FAIL_ROLLOUT: "true"})
    stopped = env.sync([cm("after"), db, cm("later"), broken], wave_timeout=20)
    assert stopped.error and "sync wave -1 is Degraded" in stopped.error and not stopped.temporary
    assert actions(stopped)["later"] is Action.SKIPPED
    assert env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "later", "v1")) is None


def test_forbidden_style_immutability_is_recognised_and_recreated(env: Any) -> None:
    """The apiserver reports an immutable ConfigMap's data and a StatefulSet's spec as FieldValueForbidden."""
    frozen = {**cm("frozen", "1"), "immutable": True}
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
            },
        },
    }
    assert env.sync([frozen, sts]).error is None
    sts2 = {**sts, "spec": {**sts["spec"], "serviceName": "db-headless"}}
    refused = env.sync([{**frozen, "data": {"v": "2"}}, sts2])
    assert actions(refused)["frozen"] is Action.FAILED
    assert "immutable" in (refused.objects[0].error or "")
    result = env.sync([{**frozen, "data": {"v": "2"}}, sts2], policy="{automated: true, allowRecreate: true}")
    assert result.error is None, result.error
    assert actions(result) == {"frozen": Action.RECREATED, "db": Action.RECREATED}
    live = env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "frozen", "v1"))
    assert live["data"] == {"v": "2"}


def test_namespace_and_its_objects_in_one_first_sync(env: Any) -> None:
    """A dry run inside a namespace that does not exist yet is a 404; the app creates it first."""
    ns = f"{env.namespace}-fresh"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    inside = {**cm("inside"), "metadata": {"name": "inside", "namespace": ns}}
    plan = env.sync([namespace, inside], dry_run=True)
    assert plan.error is None, plan.error
    assert actions(plan) == {ns: Action.CREATED, "inside": Action.CREATED}
    assert env.cluster.get(ObjectRef("", "Namespace", "", ns, "v1")) is None
    result = env.sync([namespace, inside])
    assert result.error is None, result.error
    assert [r.ref.kind for r in result.objects] == ["Namespace", "ConfigMap"]
    assert env.cluster.get(ObjectRef("", "ConfigMap", ns, "inside", "v1"))["data"] == {"v": "1"}
    assert set(actions(env.sync()).values()) == {Action.UNCHANGED}


def _inventory_writes(env: Any, *rules: Any) -> None:
    for rule in rules:
        env.backend.sandbox.faults.add(rule)


def test_inventory_write_failing_after_apply_keeps_the_report(env: Any) -> None:
    if not env.backend.sandbox:
        pytest.skip("fault injection needs the sandbox")
    from kubesandbox.instruments import FaultRule

    env.sync([cm("a"), cm("b")])
    inventory_cm = f"namespaces/{prune.NAMESPACE}/configmaps/"
    _inventory_writes(
        env,
        FaultRule(verb="patch", path_regex=inventory_cm, status=None, times=1),  # the write-ahead passes
        FaultRule(verb="patch", path_regex=inventory_cm, status=500, times=None),  # the final one fails
    )
    result = env.sync([cm("a"), cm("c")])
    assert actions(result) == {"a": Action.UNCHANGED, "c": Action.CREATED, "b": Action.DELETED}
    assert result.error and "inventory" in result.error and result.temporary
    assert result.sync is SyncStatus.OUT_OF_SYNC
    target = Target(env.app, "e2e")
    assert sorted(r.name for r in prune.read_inventory(env.cluster, target) or []) == ["a", "b", "c"]
    env.backend.sandbox.faults.clear()
    retried = env.sync([cm("a"), cm("c")])
    assert retried.error is None and retried.sync is SyncStatus.SYNCED
    assert sorted(r.name for r in prune.read_inventory(env.cluster, target) or []) == ["a", "c"]


def test_nothing_is_applied_while_the_inventory_cannot_be_written(env: Any) -> None:
    if not env.backend.sandbox:
        pytest.skip("fault injection needs the sandbox")
    from kubesandbox.instruments import FaultRule

    inventory_cm = f"namespaces/{prune.NAMESPACE}/configmaps/"
    _inventory_writes(env, FaultRule(verb="patch", path_regex=inventory_cm, status=500, times=None))
    result = env.sync([cm("a"), cm("b")])
    assert result.error and "inventory" in result.error and result.temporary
    assert actions(result) == {"a": Action.SKIPPED, "b": Action.SKIPPED}
    assert env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "a", "v1")) is None


def test_lost_inventory_is_recovered_from_ownership_marks(env: Any) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    assert env.sync([cm("a"), cm("b"), secret]).error is None
    target = Target(env.app, "e2e")
    env.cluster.delete(ObjectRef("", "ConfigMap", prune.NAMESPACE, prune.inventory_name(target), "v1"))
    result = env.sync([cm("a"), cm("b")])  # the Secret's kind is no longer rendered at all
    assert result.error is None and actions(result)["s"] is Action.DELETED
    assert env.cluster.get(ObjectRef("", "Secret", env.namespace, "s", "v1")) is None
    assert sorted(r.name for r in prune.read_inventory(env.cluster, target) or []) == ["a", "b"]


def test_server_owned_metadata_from_git_is_stripped_or_refused(env: Any) -> None:
    exported = cm("exported")  # as `kubectl get -o yaml` prints it, committed to Git
    exported["metadata"].update(
        resourceVersion="999999",
        uid="0f2c1a7e-0000-4000-8000-000000000000",
        creationTimestamp="2020-01-01T00:00:00Z",
        generation=7,
        selfLink="/api/v1/namespaces/elsewhere/configmaps/exported",
        managedFields=[
            {
                "manager": "kubectl",
                "operation": "Update",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:v": {}}},
            }
        ],
        finalizers=["example.com/keep"],  # the user's own: passed on
    )
    result = env.sync([exported])
    assert result.error is None, result.error
    live = env.cluster.get(ObjectRef("", "ConfigMap", env.namespace, "exported", "v1"))
    assert live is not None and live["metadata"]["uid"] != exported["metadata"]["uid"]
    assert live["metadata"]["finalizers"] == ["example.com/keep"]
    assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["gitops"]
    again = env.sync([exported])  # a stale resourceVersion is no precondition either
    assert again.error is None and actions(again) == {"exported": Action.UNCHANGED}
    env.kubectl_patch(
        f"/api/v1/namespaces/{env.namespace}/configmaps/exported", {"metadata": {"finalizers": None}}
    )
    env.reset_stats()
    deleting = cm("deleting")
    deleting["metadata"]["deletionTimestamp"] = "2020-01-01T00:00:00Z"
    refused = env.sync([cm("fine"), deleting])
    assert refused.error and "<input>" not in refused.error
    assert (
        "manifest #2 (ConfigMap/deleting)" in refused.error and "metadata.deletionTimestamp" in refused.error
    )
    assert refused.error.startswith("app: ")  # the application's path in its repository
    if env.backend.sandbox:
        assert env.writes() == 0
