"""What Kubernetes' controllers do with what the engine wrote: garbage collection of a pruned
Deployment's ReplicaSets and Pods, a pruned Namespace terminating and going, and the health rules
(gitops/health) read on the status real controllers and kwok's node write.

Marker: real_cluster (set on collection by tests/conftest.py): the real API server, never the sandbox.
"""

from __future__ import annotations

from typing import Any

from gitops.health import assess
from gitops.vocabulary import Action, HealthStatus, ObjectRef, SyncStatus
from tests.gitops.sync.test_e2e_sync import actions, cm, deploy
from tests.realcluster.conftest import Env, eventually, live, ref


def pods_and_replicasets(env: Env, app: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    selector = f"app={app}"
    return (env.cluster.list("v1", "Pod", namespace=env.namespace, label_selector=selector),
            env.cluster.list("apps/v1", "ReplicaSet", namespace=env.namespace, label_selector=selector))


def running(pods: list[dict[str, Any]]) -> bool:
    return all((p.get("status") or {}).get("phase") == "Running" for p in pods)


# -- 6. prune, then the garbage collector ---------------------------------------------------------------
def test_a_pruned_deployment_takes_its_replicasets_and_pods_with_it(env: Env) -> None:
    first = env.sync([cm("a"), cm("b"), deploy(replicas=2)], wait_seconds=60)
    assert first.error is None and first.health is HealthStatus.HEALTHY, first.objects
    pods, replicasets = pods_and_replicasets(env, "web")
    assert len(pods) == 2 and running(pods) and len(replicasets) == 1
    [owner] = replicasets[0]["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("Deployment", "web")

    pruned = env.sync([cm("a"), cm("b")])
    assert pruned.error is None and actions(pruned)["web"] is Action.DELETED
    assert pruned.sync is SyncStatus.SYNCED
    assert live(env, "apps/v1", "Deployment", "web") is None  # background propagation: the owner goes first
    eventually(lambda: pods_and_replicasets(env, "web") == ([], []),
               "the garbage collector deleting the ReplicaSet and its Pods")


def test_an_orphaning_prune_leaves_the_replicasets_to_run_unowned(env: Env) -> None:
    assert env.sync([cm("a"), cm("b"), deploy(replicas=1)], wait_seconds=60).health is HealthStatus.HEALTHY
    pruned = env.sync([cm("a"), cm("b")], propagation="Orphan")
    assert pruned.error is None and actions(pruned)["web"] is Action.DELETED
    eventually(lambda: live(env, "apps/v1", "Deployment", "web") is None, "the Deployment gone")

    def orphaned() -> list[dict[str, Any]]:
        _, replicasets = pods_and_replicasets(env, "web")
        return [r for r in replicasets if not r["metadata"].get("ownerReferences")]

    [replicaset] = eventually(orphaned, "the garbage collector releasing the ReplicaSet")
    pods, _ = pods_and_replicasets(env, "web")
    assert len(pods) == 1 and running(pods)
    assert pods[0]["metadata"]["ownerReferences"][0]["name"] == replicaset["metadata"]["name"]


# -- 7. a pruned namespace: Terminating, then gone ---------------------------------------------------------
def test_a_pruned_namespace_terminates_then_goes(env: Env, leftovers: list[ObjectRef]) -> None:
    owned = f"{env.namespace}-owned"
    namespace_ref = ref(env, "v1", "Namespace", owned, "")
    leftovers.append(namespace_ref)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owned}}
    inside = {**cm("inside"), "metadata": {"name": "inside", "namespace": owned}}
    keep = [cm("a"), cm("b"), cm("c")]
    assert env.sync([namespace, inside, *keep]).error is None
    # something the application does not own holds the namespace open until its finalizer goes
    env.cluster.apply({**cm("held"), "metadata": {"name": "held", "namespace": owned,
                                                  "finalizers": ["example.com/hold"]}},
                      field_manager="e2e-setup")

    pruned = env.sync(keep)
    assert pruned.error is None, pruned.error
    assert {r.ref.name: r.action for r in pruned.objects if r.ref.name in (owned, "inside")} == {
        owned: Action.DELETED, "inside": Action.DELETED}

    def finalizers_remaining() -> dict[str, Any] | None:
        found = env.cluster.get(namespace_ref)
        conditions = {c["type"]: c for c in ((found or {}).get("status") or {}).get("conditions") or []}
        remaining = conditions.get("NamespaceFinalizersRemaining", {})
        return found if remaining.get("status") == "True" else None

    terminating = eventually(finalizers_remaining, "the namespace controller emptying the namespace")
    assert terminating["status"]["phase"] == "Terminating"
    assert assess(terminating).status is HealthStatus.PROGRESSING

    # syncing it back while it terminates: the server refuses new content, and the result says so
    back = env.sync([namespace, inside, *keep])
    objects = {(r.ref.kind, r.ref.name): r for r in back.objects}
    assert objects[("ConfigMap", "inside")].action is Action.FAILED
    assert "is being terminated" in (objects[("ConfigMap", "inside")].error or "")
    assert objects[("Namespace", owned)].health is HealthStatus.PROGRESSING  # being deleted
    assert back.sync is SyncStatus.OUT_OF_SYNC and back.error and "is being terminated" in back.error

    env.kubectl_patch(f"/api/v1/namespaces/{owned}/configmaps/held", {"metadata": {"finalizers": None}})
    eventually(lambda: env.cluster.get(namespace_ref) is None, "the namespace gone")
    again = env.sync([namespace, inside, *keep])
    assert again.error is None and again.sync is SyncStatus.SYNCED
    assert actions(again)[owned] is Action.CREATED and actions(again)["inside"] is Action.CREATED


# -- 8. health, read on real controllers' status ------------------------------------------------------
def test_workloads_that_run_are_healthy(env: Env) -> None:
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                   "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                            "template": {"metadata": {"labels": {"app": "db"}},
                                         "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "once", "image": "busybox:1.36"}]}}}}
    first = env.sync([deploy(replicas=2), statefulset, job], wait_seconds=0)
    assert first.health is HealthStatus.PROGRESSING  # just created: no controller has reported yet
    waited = env.sync(wait_seconds=60)
    assert waited.error is None
    assert {o.ref.name: o.health for o in waited.objects} == {
        "web": HealthStatus.HEALTHY, "db": HealthStatus.HEALTHY, "once": HealthStatus.HEALTHY}
    web = live(env, "apps/v1", "Deployment", "web")
    assert web is not None
    conditions = {c["type"]: c["status"] for c in web["status"]["conditions"]}
    assert conditions["Available"] == "True" and web["status"]["availableReplicas"] == 2


def test_a_deployment_that_cannot_progress_becomes_degraded(env: Env) -> None:
    stuck = deploy(name="stuck")
    stuck["spec"]["progressDeadlineSeconds"] = 5
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"gitops.dev/no-such-node": "true"}
    first = env.sync([stuck])
    assert first.error is None and first.health is HealthStatus.PROGRESSING

    def deadline_exceeded() -> dict[str, Any] | None:
        found = live(env, "apps/v1", "Deployment", "stuck") or {}
        conditions = {c["type"]: c for c in (found.get("status") or {}).get("conditions") or []}
        reason = conditions.get("Progressing", {}).get("reason")
        return found if reason == "ProgressDeadlineExceeded" else None

    found = eventually(deadline_exceeded, "the deployment controller giving up on the rollout")
    pods, _ = pods_and_replicasets(env, "stuck")
    assert pods and all(p["status"]["phase"] == "Pending" for p in pods)  # the scheduler found no node
    health = assess(found)
    assert health.status is HealthStatus.DEGRADED and "timed out progressing" in health.message
    again = env.sync(wait_seconds=30)
    assert again.health is HealthStatus.DEGRADED and actions(again) == {"stuck": Action.UNCHANGED}
